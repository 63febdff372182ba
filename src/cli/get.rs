//! `mt get`.

use argh::FromArgs;
use mt::Error;

/// get
#[derive(FromArgs)]
#[argh(subcommand, name = "get")]
pub struct GetArgs {}

/// Runs the command.
pub fn run(_args: GetArgs) -> Result<i32, Error> {
    Err(Error::Usage("not available yet".into()))
}
