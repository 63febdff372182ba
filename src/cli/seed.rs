//! `mt seed`.

use argh::FromArgs;
use mt::Error;

/// seed
#[derive(FromArgs)]
#[argh(subcommand, name = "seed")]
pub struct SeedArgs {}

/// Runs the command.
pub fn run(_args: SeedArgs) -> Result<i32, Error> {
    Err(Error::Usage("not available yet".into()))
}
