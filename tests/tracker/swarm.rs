//! Swarms that meet only through `mt tracker`: libtorrent seeds and downloads through it over
//! HTTP and UDP, and so do `mt seed` and `mt get`. Every peer runs on 127.0.0.1 with its own
//! empty same-host registry and no `--peer`, so the tracker is the only way the two sides can
//! learn of each other; each download must end byte-identical to the seeded data.

use crate::common::process::Running;
use crate::common::{TestEnv, require_libtorrent};
use crate::tracker_env::{
    LINE_TIMEOUT, TrackerProcess, libtorrent_peer, run_mt_get, start_mt_seed, start_tracker,
};

/// A small album whose 16 KiB pieces cross file boundaries, with an empty file.
const ALBUM: &[(&str, usize)] = &[
    ("01 opening.flac", 300_001),
    ("02 middle.flac", 16_383),
    ("cover/empty.txt", 0),
    ("cover/front.jpg", 70_000),
    ("03 closing.flac", 250_000),
];

/// Which of the tracker's endpoints the torrent names.
#[derive(Clone, Copy)]
enum Endpoint {
    Http,
    Udp,
}

impl Endpoint {
    fn url(self, tracker: &TrackerProcess) -> &str {
        match self {
            Endpoint::Http => &tracker.http,
            Endpoint::Udp => &tracker.udp,
        }
    }
}

/// Writes the album and `album.torrent` announcing to the tracker's `endpoint`.
fn album_announcing_to(env: &TestEnv, tracker: &TrackerProcess, endpoint: Endpoint) {
    env.tree("album", ALBUM);
    let url = endpoint.url(tracker);
    env.run(&["create", "-p", "16K", "-t", url, "album"]).expect_code(0);
}

/// Asserts every album file under `copy` equals the original under `album`.
fn assert_same_album(env: &TestEnv, copy: &str) {
    for (relative, len) in ALBUM {
        let theirs = env.read(&format!("{copy}/{relative}"));
        assert_eq!(theirs.len(), *len, "{copy}/{relative} has the wrong length");
        assert!(theirs == env.read(&format!("album/{relative}")), "{copy}/{relative} differs");
    }
}

/// libtorrent seeds the album and a second libtorrent session downloads it, each knowing
/// only the torrent (and so only the tracker).
fn libtorrent_swarm_through(endpoint: Endpoint) {
    let env = TestEnv::new();
    let tracker = start_tracker(&env);
    album_announcing_to(&env, &tracker, endpoint);
    let torrent = env.path("album.torrent");
    let mut seed = Running::spawn(libtorrent_peer("seed", &torrent, env.root()));
    seed.wait_for_event("listening", LINE_TIMEOUT);
    let get = libtorrent_peer("get", &torrent, &env.path("lt-copy"));
    let out = crate::common::run_bounded(get);
    out.expect_code(0);
    assert!(out.stdout.contains(r#""event": "done""#), "{out:#?}");
    assert_same_album(&env, "lt-copy/album");
}

/// `mt seed` serves the album and `mt get` fetches it, both announcing to `endpoint`.
fn mt_swarm_through(endpoint: Endpoint) {
    let env = TestEnv::new();
    let tracker = start_tracker(&env);
    album_announcing_to(&env, &tracker, endpoint);
    let _seed = start_mt_seed(&env, "album.torrent", "album");
    let out = run_mt_get(&env, "album.torrent", "copy");
    out.expect_code(0);
    let url = endpoint.url(&tracker);
    let found_seed = out.json_lines().iter().any(|event| {
        event["event"] == "tracker" && event["url"] == url && event["peers"].as_u64() >= Some(1)
    });
    assert!(found_seed, "the tracker never named the seed: {out:#?}");
    assert_same_album(&env, "copy");
}

#[test]
fn libtorrent_peers_find_each_other_through_the_http_tracker() {
    if require_libtorrent() {
        libtorrent_swarm_through(Endpoint::Http);
    }
}

#[test]
fn libtorrent_peers_find_each_other_through_the_udp_tracker() {
    if require_libtorrent() {
        libtorrent_swarm_through(Endpoint::Udp);
    }
}

#[test]
fn mt_get_downloads_from_mt_seed_found_through_the_udp_tracker() {
    mt_swarm_through(Endpoint::Udp);
}

#[test]
fn mt_get_downloads_from_mt_seed_found_through_the_http_tracker() {
    mt_swarm_through(Endpoint::Http);
}
