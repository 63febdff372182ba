//! Long-running processes for swarm-through-a-tracker tests: `mt tracker`, `mt seed` and the
//! libtorrent peer script, each started in the background and read line by line.
//!
//! Every background process is a [`Running`], killed by its pid when dropped (also when a
//! test panics), and every wait for a line is bounded. Each `mt` process gets its own fresh, empty
//! `MT_RUNTIME_DIR`, so same-host discovery finds nothing and peers can only come from the
//! tracker.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::process::Running;
use crate::common::{MT, Output, SYSTEM_PYTHON, TestEnv, repo_path, run_bounded};

/// Longest wait for a line a background process is expected to print.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `mt tracker` on loopback with the announce URLs it printed.
pub struct TrackerProcess {
    /// `http://127.0.0.1:P/announce`.
    pub http: String,
    /// `udp://127.0.0.1:P`.
    pub udp: String,
    _process: Running,
}

/// An `mt` command run in `env` with a fresh runtime folder of its own.
pub fn mt_command(env: &TestEnv, args: &[&str]) -> Command {
    let mut command = Command::new(MT);
    command.args(args).current_dir(env.root()).env("MT_RUNTIME_DIR", fresh_runtime_dir(env));
    // Resume records and fetched metadata stay inside the test's folder.
    command.env("MT_STATE_DIR", env.path(".mt-state"));
    crate::common::keep_off_public_networks(&mut command, args);
    command
}

/// A new folder (not yet created) inside `env` for one process's same-host registry.
fn fresh_runtime_dir(env: &TestEnv) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = env.path(&format!("runtime-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
    // `mt` creates it with mode 0700; a folder others may enter would be refused.
    dir
}

/// Starts `mt tracker` on free loopback ports, telling clients to announce every second.
pub fn start_tracker(env: &TestEnv) -> TrackerProcess {
    start_tracker_on(env, "127.0.0.1")
}

/// Starts `mt tracker` on free ports of `host` (`127.0.0.1` or `[::1]`), telling clients to
/// announce every second.
pub fn start_tracker_on(env: &TestEnv, host: &str) -> TrackerProcess {
    let addr = format!("{host}:0");
    let args = ["tracker", "--http", &addr, "--udp", &addr, "--interval", "1"];
    let mut process = Running::spawn(mt_command(env, &[&args[..], &["--json"]].concat()));
    let urls = process.wait_for(LINE_TIMEOUT, |value| value["http"].is_string());
    let url = |key: &str| urls[key].as_str().expect("url text").to_string();
    TrackerProcess { http: url("http"), udp: url("udp"), _process: process }
}

/// Starts `mt seed TORRENT DATA` on loopback and waits until it is serving and the tracker
/// has heard of it.
pub fn start_mt_seed(env: &TestEnv, torrent: &str, data: &str) -> Running {
    start_mt_seed_with(env, torrent, data, &["--bind", "127.0.0.1"])
}

/// Starts `mt seed TORRENT DATA` on port 0 with `extra` (such as `--bind ADDR`) and waits
/// until it is serving and the tracker has heard of it.
pub fn start_mt_seed_with(env: &TestEnv, torrent: &str, data: &str, extra: &[&str]) -> Running {
    let args = [&["seed", torrent, data, "-p", "0", "--json"], extra].concat();
    let mut seed = Running::spawn(mt_command(env, &args));
    seed.wait_for_event("seeding", LINE_TIMEOUT);
    // The tracker must know the seed before a downloader asks it for peers.
    seed.wait_for_event("tracker", LINE_TIMEOUT);
    seed
}

/// Runs `mt get TORRENT OUT` on loopback to completion (or its 45 s timeout).
pub fn run_mt_get(env: &TestEnv, torrent: &str, out: &str) -> Output {
    run_mt_get_on(env, torrent, out, "127.0.0.1")
}

/// Runs `mt get TORRENT OUT` listening on `bind` to completion (or its 45 s timeout).
pub fn run_mt_get_on(env: &TestEnv, torrent: &str, out: &str, bind: &str) -> Output {
    let args = ["get", torrent, out, "--bind", bind, "-p", "0", "--timeout", "45"];
    run_bounded(mt_command(env, &[&args[..], &["--json"]].concat()))
}

/// A `tests/interop/lt_swarm.py` command: `mode` is `seed` or `get`.
pub fn libtorrent_peer(mode: &str, torrent: &Path, save_path: &Path) -> Command {
    let script = repo_path("tests/interop/lt_swarm.py");
    let mut command = Command::new(SYSTEM_PYTHON);
    command.arg(script).arg(mode).arg(torrent).arg(save_path).args(["--timeout", "45"]);
    command
}
