//! `mt tracker`: run the built-in HTTP and UDP tracker until Ctrl-C.
//!
//! Turns the arguments into a [`ServerConfig`] in one step (reading `--allow` torrents and
//! `--allow-dir` folders into a set of info hashes), binds both endpoints, prints the announce
//! URLs it serves and runs until the Ctrl-C handler sets the shutdown flag.

use std::collections::HashSet;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use argh::FromArgs;
use mt::Error;
use mt::metainfo::Metainfo;
use mt::tracker::server::{Server, ServerConfig};

/// Run a BitTorrent tracker (HTTP and UDP).
#[derive(FromArgs)]
#[argh(subcommand, name = "tracker")]
pub struct TrackerArgs {
    /// HTTP address to listen on (default 127.0.0.1:6969; use 0.0.0.0:6969 to serve a network,
    /// [::]:6969 for IPv6 and IPv4)
    #[argh(option, default = "default_addr()")]
    http: SocketAddr,
    /// UDP address to listen on (default 127.0.0.1:6969)
    #[argh(option, default = "default_addr()")]
    udp: SocketAddr,
    /// seconds between announces that clients are told to wait (default 1800)
    #[argh(option, default = "1800")]
    interval: u64,
    /// serve only this torrent; repeat for more
    #[argh(option)]
    allow: Vec<PathBuf>,
    /// serve only the .torrent files in this folder
    #[argh(option)]
    allow_dir: Option<PathBuf>,
    /// print the announce URLs as one JSON object line
    #[argh(switch)]
    json: bool,
}

fn default_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 6969))
}

/// Runs the tracker until interrupted.
pub fn run(args: TrackerArgs) -> Result<i32, Error> {
    let config = config(&args)?;
    let allowed = config.allow.as_ref().map(HashSet::len);
    let server = Server::bind(config).map_err(|err| Error::Network(err.to_string()))?;
    let http = server.http_addr().map(|addr| format!("http://{addr}/announce"));
    let udp = server.udp_addr().map(|addr| format!("udp://{addr}"));

    let shutdown = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&shutdown);
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .map_err(|err| Error::Network(format!("cannot install the ctrl-c handler: {err}")))?;

    if args.json {
        let line = serde_json::json!({ "http": http, "udp": udp, "allowed_torrents": allowed });
        println!("{line}");
    } else {
        println!("tracker announce urls:");
        http.iter().chain(udp.iter()).for_each(|url| println!("  {url}"));
        if let Some(count) = allowed {
            println!("serving {count} allowed torrent(s)");
        }
        println!("press ctrl-c to stop");
    }
    server.run(shutdown).map_err(|err| Error::Network(format!("tracker stopped: {err}")))?;
    Ok(0)
}

/// The server configuration the arguments describe.
fn config(args: &TrackerArgs) -> Result<ServerConfig, Error> {
    if args.interval == 0 {
        return Err(Error::Usage("--interval must be at least 1 second".into()));
    }
    let mut torrents = args.allow.clone();
    if let Some(dir) = &args.allow_dir {
        torrents.extend(torrents_in(dir)?);
    }
    let allow = if args.allow.is_empty() && args.allow_dir.is_none() {
        None
    } else {
        Some(
            torrents
                .iter()
                .map(|path| Ok(Metainfo::load(path)?.info_hash))
                .collect::<Result<_, Error>>()?,
        )
    };
    Ok(ServerConfig {
        http: Some(args.http),
        udp: Some(args.udp),
        interval: Duration::from_secs(args.interval),
        allow,
        ..ServerConfig::default()
    })
}

/// The `.torrent` files directly inside `dir`, sorted.
fn torrents_in(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let entries = fs::read_dir(dir).map_err(|err| Error::io("cannot read folder", dir, err))?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry.map_err(|err| Error::io("cannot read folder", dir, err))?.path();
        let is_torrent = path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("torrent"))
            && path.is_file();
        if is_torrent {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_torrent_files_are_listed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.torrent");
        fs::write(&path, b"x").expect("write");
        fs::write(dir.path().join("notes.txt"), b"x").expect("write");
        assert_eq!(torrents_in(dir.path()).expect("list"), vec![path]);
    }
}
