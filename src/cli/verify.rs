//! `mt verify`.

use argh::FromArgs;
use mt::Error;

/// verify
#[derive(FromArgs)]
#[argh(subcommand, name = "verify")]
pub struct VerifyArgs {}

/// Runs the command.
pub fn run(_args: VerifyArgs) -> Result<i32, Error> {
    Err(Error::Usage("not available yet".into()))
}
