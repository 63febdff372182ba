//! Swarm scaffolding: `mt seed`, `mt get`, libtorrent peers and a tracker, all on loopback
//! with port 0, and byte-for-byte comparison of what was downloaded.
//!
//! Every `mt` started here gets `MT_RUNTIME_DIR` pointing into its own [`TestEnv`], so
//! same-host discovery only ever finds seeds of the same test. Seeds share the env's
//! [`TestEnv::runtime_dir`]; a download started with [`TestEnv::get`] gets a folder of its own,
//! so it meets only the peers named by `--peer` and no seed learns of it to dial it back
//! (mutual dialling is tested on its own, in `swarm_simultaneous_connect.rs`), while
//! [`TestEnv::get_discovering`] shares the seeds' folder.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mt::tracker::server::{Server, ServerConfig, ServerHandle};

use super::process::Running;
use super::{MT, Output, SYSTEM_PYTHON, TestEnv, repo_path, run_bounded};

/// How long a peer may take to start serving.
pub const STARTUP: Duration = Duration::from_secs(30);
/// `--timeout` given to downloads that are expected to complete.
pub const GET_TIMEOUT: &str = "45";
/// Where seeds and downloads listen unless a test says otherwise.
const LOOPBACK: Option<&str> = Some("127.0.0.1");

/// How long a download started with [`TestEnv::start_get`] may run.
pub const GET_LIMIT: Duration = Duration::from_secs(55);

/// A running `mt seed`, killed when dropped.
pub struct Seed {
    /// The process.
    pub process: Running,
    /// Where it listens, `127.0.0.1:PORT` (or the address it was given).
    pub addr: String,
}

/// A running libtorrent peer (`tests/interop/lt_swarm.py`), killed when dropped.
pub struct LtPeer {
    /// The process.
    pub process: Running,
    /// Where it listens, `127.0.0.1:PORT`.
    pub addr: String,
}

impl TestEnv {
    /// The same-host discovery folder shared by the `mt` processes of this env only.
    pub fn runtime_dir(&self) -> PathBuf {
        self.path(".mt-runtime")
    }

    /// An `mt` command run in this folder with this env's discovery folder.
    pub fn mt(&self, args: &[&str]) -> Command {
        let mut command = Command::new(MT);
        command.args(args).current_dir(self.root()).env("MT_RUNTIME_DIR", self.runtime_dir());
        // Resume records and metadata fetched for magnet links are kept here, not in the
        // user's state folder.
        command.env("MT_STATE_DIR", self.path(".mt-state"));
        super::keep_off_public_networks(&mut command, args);
        command
    }

    /// Runs `mt` like [`TestEnv::run`], with this env's discovery folder.
    pub fn run_mt(&self, args: &[&str]) -> Output {
        run_bounded(self.mt(args))
    }

    /// An `mt` command like [`TestEnv::mt`] with a discovery folder no other process uses.
    fn mt_alone(&self, args: &[&str]) -> Command {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let folder = self.path(&format!(".mt-runtime-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
        let mut command = self.mt(args);
        command.env("MT_RUNTIME_DIR", folder);
        command
    }

    /// Starts `mt seed TORRENT DATA` on 127.0.0.1, port 0, and waits until it serves.
    pub fn seed(&self, torrent: &str, data: &str, extra: &[&str]) -> Seed {
        self.start_seed(self.mt(&Self::seed_args(torrent, data, LOOPBACK, extra)))
    }

    /// Starts a seed like [`TestEnv::seed`] listening on `bind` (`::1`, or `None` for the
    /// default address).
    pub fn seed_on(&self, bind: Option<&str>, torrent: &str, data: &str, extra: &[&str]) -> Seed {
        self.start_seed(self.mt(&Self::seed_args(torrent, data, bind, extra)))
    }

    /// Starts a seed like [`TestEnv::seed`] with a discovery folder of its own: it meets only
    /// the peers named by `--peer` and those that dial it.
    pub fn seed_alone(&self, torrent: &str, data: &str, extra: &[&str]) -> Seed {
        self.start_seed(self.mt_alone(&Self::seed_args(torrent, data, LOOPBACK, extra)))
    }

    /// Starts a seed like [`TestEnv::seed_alone`] listening on `bind`.
    pub fn seed_alone_on(&self, bind: &str, torrent: &str, data: &str, extra: &[&str]) -> Seed {
        self.start_seed(self.mt_alone(&Self::seed_args(torrent, data, Some(bind), extra)))
    }

    fn seed_args<'a>(
        torrent: &'a str,
        data: &'a str,
        bind: Option<&'a str>,
        extra: &[&'a str],
    ) -> Vec<&'a str> {
        let mut args = vec!["seed", torrent, data];
        if let Some(bind) = bind {
            args.extend_from_slice(&["--bind", bind]);
        }
        args.extend_from_slice(&["-p", "0", "--json"]);
        args.extend_from_slice(extra);
        args
    }

    fn start_seed(&self, command: Command) -> Seed {
        let mut process = Running::spawn(command);
        let seeding = process.wait_for_event("seeding", STARTUP);
        assert_eq!(seeding["missing_pieces"], 0, "the seed should have every piece: {seeding}");
        let addr = seeding["addr"].as_str().expect("seeding line has an addr").to_string();
        Seed { process, addr }
    }

    /// The arguments of `mt get TORRENT OUT` on loopback with JSON output, then `extra`.
    fn get_args<'a>(torrent: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["get", torrent, out, "-p", "0", "--json"];
        // On loopback, unless `extra` names the address.
        if !extra.contains(&"--bind") {
            args.extend_from_slice(&["--bind", "127.0.0.1"]);
        }
        if !extra.contains(&"--timeout") {
            args.extend_from_slice(&["--timeout", GET_TIMEOUT]);
        }
        args.extend_from_slice(extra);
        args
    }

    /// Runs `mt get TORRENT OUT` on loopback with JSON output to the end, with a discovery
    /// folder of its own.
    pub fn get(&self, torrent: &str, out: &str, extra: &[&str]) -> Output {
        run_bounded(self.mt_alone(&Self::get_args(torrent, out, extra)))
    }

    /// Starts `mt get TORRENT OUT` like [`TestEnv::get`] without waiting for it.
    pub fn start_get(&self, torrent: &str, out: &str, extra: &[&str]) -> Running {
        Running::spawn(self.mt_alone(&Self::get_args(torrent, out, extra)))
    }

    /// Runs `mt get TORRENT OUT` like [`TestEnv::get`], sharing the seeds' discovery folder.
    pub fn get_discovering(&self, torrent: &str, out: &str, extra: &[&str]) -> Output {
        self.run_mt(&Self::get_args(torrent, out, extra))
    }

    /// Starts a libtorrent peer: `lt_swarm.py MODE TORRENT SAVE_PATH EXTRA...`; waits until
    /// it listens. Callers check [`super::require_libtorrent`] first.
    pub fn libtorrent(&self, mode: &str, torrent: &str, save_path: &str, extra: &[&str]) -> LtPeer {
        let script = repo_path("tests/interop/lt_swarm.py");
        let mut command = Command::new(SYSTEM_PYTHON);
        command.arg(script).args([mode, torrent, save_path, "--timeout", "50"]).args(extra);
        command.current_dir(self.root());
        let mut process = Running::spawn(command);
        let listening = process.wait_for_event("listening", STARTUP);
        let port = listening["port"].as_u64().expect("listening line has a port");
        assert_ne!(port, 0, "libtorrent did not get a port");
        LtPeer { process, addr: format!("127.0.0.1:{port}") }
    }
}

/// An HTTP tracker on 127.0.0.1 (port 0) with a two-second announce interval.
pub fn tracker() -> ServerHandle {
    Server::spawn(ServerConfig {
        http: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        udp: None,
        interval: Duration::from_secs(2),
        ..ServerConfig::default()
    })
    .expect("the test tracker starts")
}

/// The announce URL of a tracker started by [`tracker`].
pub fn announce_url(tracker: &ServerHandle) -> String {
    format!("http://{}/announce", tracker.http_addr().expect("http endpoint"))
}

/// Asserts two files hold the same bytes, naming the first difference (not the bytes).
pub fn assert_same_file(want: &Path, got: &Path) {
    let a = std::fs::read(want).unwrap_or_else(|e| panic!("read {}: {e}", want.display()));
    let b = std::fs::read(got).unwrap_or_else(|e| panic!("read {}: {e}", got.display()));
    assert_eq!(a.len(), b.len(), "{} and {} differ in length", want.display(), got.display());
    if let Some(at) = a.iter().zip(&b).position(|(x, y)| x != y) {
        panic!("{} and {} first differ at byte {at}", want.display(), got.display());
    }
}

/// Asserts two folders hold the same files (paths, including empty files) with the same bytes.
pub fn assert_same_tree(want: &Path, got: &Path) {
    let (a, b) = (files_under(want), files_under(got));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "same file names");
    for (relative, path) in &a {
        assert_same_file(path, &b[relative]);
    }
}

/// Every file under `root`, by path relative to it.
fn files_under(root: &Path) -> BTreeMap<PathBuf, PathBuf> {
    let mut found = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("folder entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(root).expect("under root").to_path_buf();
                found.insert(relative, path);
            }
        }
    }
    found
}

/// A running `mt tracker` process on loopback, killed when dropped.
pub struct TrackerProcess {
    /// The process.
    pub process: Running,
    /// Its HTTP announce URL, `http://127.0.0.1:PORT/announce`.
    pub http: String,
}

impl TestEnv {
    /// Starts `mt tracker` on a free loopback port, telling clients to announce every second.
    pub fn mt_tracker(&self) -> TrackerProcess {
        let args = ["tracker", "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--interval", "1"];
        let mut process = Running::spawn(self.mt(&[&args[..], &["--json"]].concat()));
        let urls = process.wait_for(STARTUP, |value| value["http"].is_string());
        let http = urls["http"].as_str().expect("url text").to_string();
        TrackerProcess { process, http }
    }
}

/// A loopback TCP port that was free a moment ago, for clients that cannot take port 0.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("a bound address").port()
}
