//! A child process that runs alongside the test (a seed, a libtorrent peer, a download being
//! watched), its stdout read line by line as it arrives.
//!
//! [`Running`] kills its child by pid when dropped, so a test that fails half-way leaves no
//! process behind, and every wait on it has a limit: a child that outlives one is killed and
//! the test fails with everything the child printed.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Output;

/// A started child process, killed when dropped.
pub struct Running {
    description: String,
    child: Child,
    reaped: bool,
    lines: Receiver<String>,
    /// Every stdout line received so far.
    seen: Vec<String>,
    stderr: Option<JoinHandle<String>>,
}

impl Running {
    /// Starts `command` with stdout and stderr captured.
    pub fn spawn(mut command: Command) -> Running {
        let description = format!("{command:?}");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {description}: {e}"));
        let (sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr_pipe = child.stderr.take().expect("stderr is piped");
        let stderr = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stderr_pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        });
        Running { description, child, reaped: false, lines, seen: Vec::new(), stderr: Some(stderr) }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `limit` for a stdout line that is JSON and satisfies `want`, and returns it.
    /// Panics, after killing the child, if it exits or the time runs out first.
    pub fn wait_for(&mut self, limit: Duration, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let parsed = serde_json::from_str::<Value>(&line).ok();
                    self.seen.push(line);
                    if let Some(value) = parsed.filter(|v| want(v)) {
                        return value;
                    }
                }
                Err(RecvTimeoutError::Timeout) => self.fail("the awaited line never came"),
                Err(RecvTimeoutError::Disconnected) => self.fail("it exited first"),
            }
        }
    }

    /// Waits up to `limit` for the JSON line `{"event": event, ...}`.
    pub fn wait_for_event(&mut self, event: &str, limit: Duration) -> Value {
        self.wait_for(limit, |v| v["event"] == event)
    }

    /// The JSON stdout lines that arrive within `limit` (and any already waiting), without
    /// failing when none come; they are kept with the rest of what the child printed.
    pub fn json_lines_for(&mut self, limit: Duration) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        let mut found = Vec::new();
        while let Ok(line) =
            self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if let Ok(value) = serde_json::from_str::<Value>(&line) {
                found.push(value);
            }
            self.seen.push(line);
        }
        found
    }

    /// Whether the child is still running (it has not exited and was not killed).
    pub fn is_running(&mut self) -> bool {
        !self.reaped && matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `limit` for the child to exit; returns everything it printed.
    pub fn wait(mut self, limit: Duration) -> Output {
        let deadline = Instant::now() + limit;
        let status = loop {
            match self.child.try_wait().expect("poll child") {
                Some(status) => break status,
                None if Instant::now() >= deadline => self.fail("it did not exit in time"),
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        self.reaped = true;
        self.drain(Duration::from_secs(5));
        Output {
            code: status.code().unwrap_or(-1),
            stdout: self.seen.join("\n"),
            stderr: self.stderr.take().map(|t| t.join().unwrap_or_default()).unwrap_or_default(),
        }
    }

    /// Kills the child with SIGKILL (`kill -9`) and reaps it.
    pub fn kill(&mut self) {
        if !self.reaped {
            // Child::kill sends SIGKILL to exactly this child's pid.
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.reaped = true;
        }
    }

    /// Collects stdout lines until the pipe closes or `limit` passes.
    fn drain(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while let Ok(line) =
            self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line);
        }
    }

    /// Kills the child and panics with what it printed.
    fn fail(&mut self, why: &str) -> ! {
        self.kill();
        self.drain(Duration::from_secs(2));
        let stderr = self.stderr.take().map(|t| t.join().unwrap_or_default()).unwrap_or_default();
        panic!(
            "{} (pid {}): {why}\n--- stdout ---\n{}\n--- stderr ---\n{stderr}",
            self.description,
            self.child.id(),
            self.seen.join("\n")
        );
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}
