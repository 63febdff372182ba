//! Text from torrents and trackers reaches the terminal with its control characters escaped,
//! so a hostile name cannot clear the screen, retitle the terminal or hide what follows;
//! `--json` keeps the text exact.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::common::{Output, TestEnv};
use crate::corpus::{dict, file, list, multi_info, set, text};
use mt::bencode::Value;

const NAME: &str = "top\u{1b}[2J\u{1b}]0;owned\u{7}";
const FOLDER: &str = "dir\u{202e}gpj.exe";
const COMMENT: &str = "see\rhidden";

/// Asserts nothing `mt` printed holds a control character other than a line end.
fn assert_printable(out: &Output) {
    for (stream, textual) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let bad = textual.chars().find(|&c| (c.is_control() && c != '\n') || c == '\u{202e}');
        assert!(bad.is_none(), "{stream} holds {bad:?}: {out:#?}");
    }
}

/// Writes a torrent whose name, a folder and the comment hold control characters, and whose
/// tracker is `announce`.
fn hostile_torrent(env: &TestEnv, announce: &str) {
    let mut info = multi_info();
    set(&mut info, "name", text(NAME));
    set(&mut info, "files", list([file(30_000, &[FOLDER, "a"]), file(10_000, &["b"])]));
    let root = dict([
        ("announce", text(announce)),
        ("comment", text(COMMENT)),
        ("info", Value::Dict(info)),
    ]);
    env.write("hostile.torrent", &Value::Dict(root).encode());
}

#[test]
fn show_escapes_control_characters_and_json_keeps_them() {
    let env = TestEnv::new();
    hostile_torrent(&env, "http://127.0.0.1:9/announce");
    let out = env.run(&["show", "hostile.torrent"]);
    out.expect_code(0);
    assert_printable(&out);
    assert!(out.stdout.contains("top\\u{1b}[2J"), "{out:#?}");
    assert!(out.stdout.contains("dir\\u{202e}gpj.exe"), "{out:#?}");
    assert!(out.stdout.contains("see\\rhidden"), "{out:#?}");
    let shown = env.show_json("hostile.torrent");
    assert_eq!(shown["name"], NAME);
    assert_eq!(shown["comment"], COMMENT);
    assert_eq!(shown["files"][0]["path"], format!("{NAME}/{FOLDER}/a"));
}

#[test]
fn verify_and_its_errors_escape_control_characters() {
    let env = TestEnv::new();
    hostile_torrent(&env, "http://127.0.0.1:9/announce");
    let out = env.run(&["verify", "hostile.torrent", "missing"]);
    assert_ne!(out.code, 0, "{out:#?}");
    assert_printable(&out);
    env.write("bad\u{1b}[31m.torrent", b"not a torrent");
    let out = env.run(&["show", "bad\u{1b}[31m.torrent"]);
    out.expect_code(2);
    assert_printable(&out);
    assert!(out.stderr.contains("bad\\u{1b}[31m.torrent"), "{out:#?}");
}

/// Answers every announce for `lasting` with a failure reason holding control characters.
fn failing_tracker(lasting: Duration) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the tracker");
    listener.set_nonblocking(true).expect("nonblocking tracker");
    let url = format!("http://{}/announce", listener.local_addr().expect("tracker address"));
    let body = Value::Dict(dict([("failure reason", text("go away\u{1b}[8m"))])).encode();
    let thread = std::thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < lasting {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            let _ = stream.write_all(&[head.as_bytes(), &body].concat());
        }
    });
    (url, thread)
}

#[test]
fn get_escapes_the_torrent_name_and_tracker_texts() {
    let env = TestEnv::new();
    let (url, tracker) = failing_tracker(Duration::from_secs(6));
    hostile_torrent(&env, &url);
    let args =
        ["get", "hostile.torrent", "out", "--bind", "127.0.0.1", "-p", "0", "--timeout", "3"];
    let out = env.run(&args);
    tracker.join().expect("tracker thread");
    assert_eq!(out.code, 1, "{out:#?}");
    assert_printable(&out);
    assert!(out.stdout.contains("top\\u{1b}[2J"), "{out:#?}");
    assert!(out.stdout.contains("go away\\u{1b}[8m"), "the tracker's reason is shown: {out:#?}");
}
