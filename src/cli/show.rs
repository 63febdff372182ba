//! `mt show`.

use argh::FromArgs;
use mt::Error;

/// show
#[derive(FromArgs)]
#[argh(subcommand, name = "show")]
pub struct ShowArgs {}

/// Runs the command.
pub fn run(_args: ShowArgs) -> Result<i32, Error> {
    Err(Error::Usage("not available yet".into()))
}
