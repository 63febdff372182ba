//! `mt create`.

use argh::FromArgs;
use mt::Error;

/// create
#[derive(FromArgs)]
#[argh(subcommand, name = "create")]
pub struct CreateArgs {}

/// Runs the command.
pub fn run(_args: CreateArgs) -> Result<i32, Error> {
    Err(Error::Usage("not available yet".into()))
}
