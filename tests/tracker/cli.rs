//! `mt tracker` as a user runs it: start, read the announce URLs, announce, stop with Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use mt::tracker::{AnnounceRequest, Client, TrackerEvent};
use mt::types::{InfoHash, PeerId};

const TIMEOUT: Duration = Duration::from_secs(20);

/// Kills the child when a test fails halfway, so no tracker outlives the test.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn request(port: u16, left: u64) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash([7; 20]),
        peer_id: PeerId::generate(),
        port,
        uploaded: 0,
        downloaded: 0,
        left,
        event: Some(TrackerEvent::Started),
        numwant: None,
    }
}

#[test]
fn tracker_prints_its_urls_serves_them_and_stops_on_ctrl_c() {
    let child = Command::new(env!("CARGO_BIN_EXE_mt"))
        .args(["tracker", "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mt starts");
    let mut running = Running(child);
    let stdout = running.0.stdout.take().expect("stdout");
    let (lines, first_line) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = lines.send(line);
    });
    let line = first_line.recv_timeout(TIMEOUT).expect("announce urls printed");
    let urls: serde_json::Value = serde_json::from_str(&line).expect("one json object line");
    let http = urls["http"].as_str().expect("http url");
    let udp = urls["udp"].as_str().expect("udp url");
    assert!(http.starts_with("http://127.0.0.1:") && http.ends_with("/announce"), "{http}");
    assert!(udp.starts_with("udp://127.0.0.1:"), "{udp}");

    let client = Client::new();
    let reply = client.announce(http, &request(6881, 0), TIMEOUT).expect("http announce");
    assert_eq!(reply.interval, Duration::from_secs(1800));
    let reply = client.announce(udp, &request(6882, 10), TIMEOUT).expect("udp announce");
    assert_eq!(reply.peers.len(), 1, "the http seeder is listed: {reply:?}");

    let pid = running.0.id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status().expect("kill runs");
    assert!(sent.success());
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = running.0.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "mt tracker did not stop on ctrl-c");
        thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn unreadable_allow_file_is_a_usage_error_naming_the_path() {
    let output = Command::new(env!("CARGO_BIN_EXE_mt"))
        .args(["tracker", "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
        .args(["--allow", "no/such.torrent"])
        .output()
        .expect("mt runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("mt: cannot open no/such.torrent: "), "{stderr}");
}
