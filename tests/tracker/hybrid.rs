//! A hybrid torrent (BEP 52) is announced to its trackers under both of its hashes: the v1
//! hash and the v2 hash truncated to 20 bytes. A peer that knows only one of them (a v1
//! magnet link, or a `btmh` link naming only the v2 hash) finds an `mt seed` through the
//! tracker alone, and the tracker counts the seed under each hash.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use mt::bencode::Value;

use crate::common::process::Running;
use crate::common::{TestEnv, require_libtorrent};
use crate::tracker_env::{
    LINE_TIMEOUT, TrackerProcess, libtorrent_peer, run_mt_get, start_mt_seed, start_tracker,
};

/// 700,001 bytes in 32 KiB pieces: a piece layer of 22 hashes, so a v2 view needs one.
const LEN: usize = 700_001;

/// The hybrid's two hashes (hex), after writing `video.bin` and its torrent.
struct Hybrid {
    v1: String,
    v2: String,
}

fn hybrid_announcing_to(env: &TestEnv, tracker: &TrackerProcess) -> Hybrid {
    env.write_generated("video.bin", LEN, 12);
    env.run(&["create", "--hybrid", "-p", "32K", "-t", &tracker.http, "video.bin"]).expect_code(0);
    let shown = env.show_json("video.bin.torrent");
    let hash = |key: &str| shown[key].as_str().expect("a hash").to_string();
    Hybrid { v1: hash("info_hash"), v2: hash("info_hash_v2") }
}

fn percent_encoded(url: &str) -> String {
    url.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `complete` count the tracker reports for the 20-byte hash `hex` (40 hex digits).
fn seeders(tracker: &TrackerProcess, hex: &str) -> Option<i64> {
    let authority = tracker.http.trim_start_matches("http://").split('/').next().expect("host");
    let escaped: String =
        (0..hex.len()).step_by(2).map(|i| format!("%{}", &hex[i..i + 2])).collect();
    let mut stream = TcpStream::connect(authority).expect("connect to the tracker");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let request =
        format!("GET /scrape?info_hash={escaped} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send the scrape");
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("read the scrape reply");
    let body_at = reply.windows(4).position(|w| w == b"\r\n\r\n").expect("an http reply") + 4;
    let body = mt::bencode::decode(&reply[body_at..]).expect("a bencoded body");
    let files = body.get("files")?.as_dict()?;
    let (_, stats) = files.iter().next()?;
    stats.get("complete").and_then(Value::as_int)
}

#[test]
fn a_hybrid_seed_is_found_through_a_tracker_by_either_hash() {
    let env = TestEnv::new();
    let tracker = start_tracker(&env);
    let hybrid = hybrid_announcing_to(&env, &tracker);
    let _seed = start_mt_seed(&env, "video.bin.torrent", "video.bin");
    let tr = percent_encoded(&tracker.http);
    let views = [
        ("v1", format!("magnet:?xt=urn:btih:{}&tr={tr}", hybrid.v1)),
        ("v2", format!("magnet:?xt=urn:btmh:1220{}&tr={tr}", hybrid.v2)),
    ];
    for (name, magnet) in views {
        let copy = format!("copy-{name}.bin");
        let out = run_mt_get(&env, &magnet, &copy);
        out.expect_code(0);
        assert!(env.read(&copy) == env.read("video.bin"), "the {name} view's copy differs");
    }
    assert_eq!(seeders(&tracker, &hybrid.v1), Some(1), "the seed announced its v1 hash");
    assert_eq!(seeders(&tracker, &hybrid.v2[..40]), Some(1), "and its truncated v2 hash");
}

#[test]
fn libtorrent_joining_by_the_v2_hash_finds_mt_seed_through_the_tracker() {
    if !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    let tracker = start_tracker(&env);
    let hybrid = hybrid_announcing_to(&env, &tracker);
    let _seed = start_mt_seed(&env, "video.bin.torrent", "video.bin");
    let magnet =
        format!("magnet:?xt=urn:btmh:1220{}&tr={}", hybrid.v2, percent_encoded(&tracker.http));
    let mut get =
        Running::spawn(libtorrent_peer("get", std::path::Path::new(&magnet), &env.path("lt")));
    get.wait_for_event("listening", LINE_TIMEOUT);
    get.wait_for_event("done", Duration::from_secs(50));
    assert!(env.read("lt/video.bin") == env.read("video.bin"), "libtorrent's copy differs");
}
