//! `mt tracker`: run the built-in HTTP and UDP tracker.

use argh::FromArgs;
use mt::Error;

/// Run a BitTorrent tracker (HTTP and UDP).
#[derive(FromArgs)]
#[argh(subcommand, name = "tracker")]
pub struct TrackerArgs {}

/// Runs the tracker until interrupted.
pub fn run(_args: TrackerArgs) -> Result<i32, Error> {
    Err(Error::Usage("mt tracker is not available yet".into()))
}
