//! The command line: argh structures for each subcommand and the dispatch to their `run`.
//!
//! This module and its children are the only users of argh and indicatif. Each subcommand
//! lives in its own file under `cli/`, turns its arguments into validated engine values in
//! one step, and returns the process exit code.

use argh::FromArgs;
use mt::Error;

mod create;
mod date;
mod dht;
mod fetch;
mod get;
mod net;
pub mod output;
mod progress;
mod seed;
mod show;
mod swarm_view;
mod tracker;
mod verify;

/// MiniTorrent: create, inspect, verify, seed and download torrents, and run a tracker.
#[derive(FromArgs)]
#[argh(note = "download: another name for get")]
pub struct Cli {
    /// print the version and exit
    #[argh(switch)]
    version: bool,
    #[argh(subcommand)]
    command: Option<Command>,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Create(create::CreateArgs),
    Show(show::ShowArgs),
    Verify(verify::VerifyArgs),
    Seed(seed::SeedArgs),
    Get(get::GetArgs),
    Tracker(tracker::TrackerArgs),
    Dht(dht::DhtArgs),
}

/// Parses the process arguments; `download` is accepted as another name for `get`.
pub fn parse_env() -> Cli {
    let mut args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("download") {
        args[1] = "get".into();
    }
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match Cli::from_args(&["mt"], &rest) {
        Ok(cli) => cli,
        Err(early) => {
            let code = match early.status {
                Ok(()) => {
                    print!("{}", early.output);
                    0
                }
                Err(()) => {
                    eprint!("{}", early.output);
                    2
                }
            };
            std::process::exit(code);
        }
    }
}

/// Runs the parsed command line; the result is the process exit code.
pub fn run(cli: Cli) -> Result<i32, Error> {
    if cli.version {
        println!("mt {}", env!("CARGO_PKG_VERSION"));
        return Ok(0);
    }
    match cli.command {
        None => Err(Error::Usage("no command given; run `mt --help` for the list".into())),
        Some(Command::Create(args)) => create::run(args),
        Some(Command::Show(args)) => show::run(args),
        Some(Command::Verify(args)) => verify::run(args),
        Some(Command::Seed(args)) => seed::run(args),
        Some(Command::Get(args)) => get::run(args),
        Some(Command::Tracker(args)) => tracker::run(args),
        Some(Command::Dht(args)) => dht::run(args),
    }
}
