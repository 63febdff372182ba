//! Long-running processes for swarm-through-a-tracker tests: `mt tracker`, `mt seed` and the
//! libtorrent peer script, each started in the background and read line by line.
//!
//! Every [`Background`] process is killed by its pid when dropped (also when a test panics),
//! and every wait for a line is bounded. Each `mt` process gets its own fresh, empty
//! `MT_RUNTIME_DIR`, so same-host discovery finds nothing and peers can only come from the
//! tracker.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{MT, Output, SYSTEM_PYTHON, TestEnv, repo_path, run_bounded};

/// Longest wait for a line a background process is expected to print.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// A child process running in the background; killed by its pid when dropped.
pub struct Background {
    name: String,
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Option<JoinHandle<String>>,
}

impl Background {
    /// Starts `command` with stdout read line by line and stderr kept for failure reports.
    pub fn spawn(mut command: Command) -> Background {
        let name = format!("{command:?}");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let (send, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr_pipe = child.stderr.take().expect("piped stderr");
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr_pipe.read_to_string(&mut text);
            text
        });
        Background { name, child, lines, seen: Vec::new(), stderr: Some(stderr) }
    }

    /// Waits for the first JSON line that satisfies `wanted`; panics with everything the
    /// process printed when none comes within [`LINE_TIMEOUT`] or the process ends first.
    pub fn wait_for(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + LINE_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    let parsed = serde_json::from_str::<Value>(&line);
                    if let Some(value) = parsed.ok().filter(|value| wanted(value)) {
                        return value;
                    }
                }
                Err(RecvTimeoutError::Timeout) => self.fail(&format!("no {what} line in time")),
                Err(RecvTimeoutError::Disconnected) => self.fail(&format!("ended before {what}")),
            }
        }
    }

    /// Waits for a line `{"event": event, ...}`.
    pub fn wait_for_event(&mut self, event: &str) -> Value {
        self.wait_for(event, |value| value["event"] == event)
    }

    fn fail(&mut self, why: &str) -> ! {
        self.kill();
        let stderr = self.stderr.take().and_then(|reader| reader.join().ok()).unwrap_or_default();
        panic!("{}: {why}\nstdout:\n{}\nstderr:\n{stderr}", self.name, self.seen.join("\n"));
    }

    fn kill(&mut self) {
        // Child::kill signals exactly this pid; wait reaps it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `mt tracker` on loopback with the announce URLs it printed.
pub struct TrackerProcess {
    /// `http://127.0.0.1:P/announce`.
    pub http: String,
    /// `udp://127.0.0.1:P`.
    pub udp: String,
    _process: Background,
}

/// An `mt` command run in `env` with a fresh runtime folder of its own.
pub fn mt_command(env: &TestEnv, args: &[&str]) -> Command {
    let mut command = Command::new(MT);
    command.args(args).current_dir(env.root()).env("MT_RUNTIME_DIR", fresh_runtime_dir(env));
    command
}

/// A new, empty folder inside `env` for one process's same-host registry.
fn fresh_runtime_dir(env: &TestEnv) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = env.path(&format!("runtime-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&dir).expect("create a runtime folder");
    dir
}

/// Starts `mt tracker` on free loopback ports, telling clients to announce every second.
pub fn start_tracker(env: &TestEnv) -> TrackerProcess {
    let args = ["tracker", "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--interval", "1"];
    let mut process = Background::spawn(mt_command(env, &[&args[..], &["--json"]].concat()));
    let urls = process.wait_for("announce urls", |value| value["http"].is_string());
    let url = |key: &str| urls[key].as_str().expect("url text").to_string();
    TrackerProcess { http: url("http"), udp: url("udp"), _process: process }
}

/// Starts `mt seed TORRENT DATA` on loopback and waits until it is serving.
pub fn start_mt_seed(env: &TestEnv, torrent: &str, data: &str) -> Background {
    let args = ["seed", torrent, data, "--bind", "127.0.0.1", "-p", "0", "--json"];
    let mut seed = Background::spawn(mt_command(env, &args));
    seed.wait_for_event("seeding");
    seed
}

/// Runs `mt get TORRENT OUT` on loopback to completion (or its 45 s timeout).
pub fn run_mt_get(env: &TestEnv, torrent: &str, out: &str) -> Output {
    let args = ["get", torrent, out, "--bind", "127.0.0.1", "-p", "0", "--timeout", "45"];
    run_bounded(mt_command(env, &[&args[..], &["--json"]].concat()))
}

/// The JSON event lines of an `mt ... --json` run.
pub fn events(out: &Output) -> Vec<Value> {
    out.stdout.lines().filter_map(|line| serde_json::from_str(line).ok()).collect()
}

/// A `tests/interop/lt_swarm.py` command: `mode` is `seed` or `get`.
pub fn libtorrent_peer(mode: &str, torrent: &Path, save_path: &Path) -> Command {
    let script = repo_path("tests/interop/lt_swarm.py");
    let mut command = Command::new(SYSTEM_PYTHON);
    command.arg(script).arg(mode).arg(torrent).arg(save_path).args(["--timeout", "45"]);
    command
}
