//! `mt get <magnet>`: the torrent's `info` dictionary comes from peers (BEP 9), then the
//! download runs as for a `.torrent`, from `mt seed` and from libtorrent; a link no peer
//! answers for is one clear error.

use crate::common::swarm::{assert_same_file, assert_same_tree};
use crate::common::{TestEnv, require_libtorrent};

/// Writes `video.bin` (several metadata pieces' worth of hashes) and its torrent; returns the
/// torrent's magnet link.
pub fn video(env: &TestEnv) -> String {
    env.write_generated("video.bin", 16 * 1024 * 1024 + 999, 13);
    env.run(&["create", "-p", "16K", "video.bin"]).expect_code(0);
    env.show_json("video.bin.torrent")["magnet"].as_str().expect("magnet link").to_string()
}

#[test]
fn mt_get_fetches_a_magnet_links_torrent_from_mt_seed() {
    let env = TestEnv::new();
    let magnet = video(&env);
    let seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let link = format!("{magnet}&x.pe={}", seed.addr);
    let out = env.get(&link, "copy.bin", &[]);
    out.expect_code(0);
    assert_eq!(out.event("metadata")["name"], "video.bin", "{out:#?}");
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}

#[test]
fn a_second_run_of_the_same_magnet_link_fetches_no_metadata_and_saves_the_torrent() {
    let env = TestEnv::new();
    let magnet = video(&env);
    let seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let link = format!("{magnet}&tr=http%3A%2F%2F127.0.0.1%3A9%2Fannounce&x.pe={}", seed.addr);
    env.get(&link, "copy.bin", &[]).expect_code(0);
    drop(seed);
    // No peer is left: the metadata must come from the first run, the data is all there.
    let out = env.get(&link, "copy.bin", &["--save-torrent", "saved.torrent", "--timeout", "20"]);
    out.expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
    assert_eq!(env.info_hash("saved.torrent"), env.info_hash("video.bin.torrent"));
    let saved = env.show_json("saved.torrent");
    assert_eq!(saved["trackers"][0][0], "http://127.0.0.1:9/announce", "{saved}");
}

#[test]
fn mt_get_fetches_a_magnet_links_torrent_from_libtorrent() {
    if !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    let magnet = video(&env);
    let root = env.root().to_str().expect("UTF-8 temp path");
    let seed = env.libtorrent("seed", "video.bin.torrent", root, &[]);
    let link = format!("{magnet}&x.pe={}", seed.addr);
    env.get(&link, "copy.bin", &[]).expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}

#[test]
fn a_magnet_link_no_peer_answers_for_is_one_clear_error() {
    let env = TestEnv::new();
    let magnet = video(&env);
    // Nobody listens on port 9 of loopback (discard).
    let out = env.get(&format!("{magnet}&x.pe=127.0.0.1:9"), "copy.bin", &["--timeout", "10"]);
    assert_ne!(out.code, 0, "{out:#?}");
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{out:#?}");
    assert!(lines[0].contains("metadata") && lines[0].contains("127.0.0.1:9"), "{out:#?}");
    let out = env.get(&magnet, "copy.bin", &["--timeout", "10"]);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(out.stderr.contains("no peers to ask"), "{out:#?}");
    assert!(!env.path("copy.bin").exists(), "nothing is written without the metadata");
}

#[test]
fn a_multi_file_torrent_comes_through_mt_tracker_by_magnet_link() {
    let env = TestEnv::new();
    let tracker = env.mt_tracker();
    env.tree("album", &[("cd1/01.flac", 300_001), ("cd1/02.flac", 16_383), ("cover.jpg", 70_000)]);
    env.run(&["create", "-p", "16K", "-t", &tracker.http, "album"]).expect_code(0);
    let magnet = env.show_json("album.torrent")["magnet"].as_str().expect("magnet").to_string();
    assert!(magnet.contains("tr="), "the link names the tracker: {magnet}");
    let _seed = env.seed("album.torrent", "album", &[]);
    let out = env.get(&magnet, "copy", &[]);
    out.expect_code(0);
    assert_same_tree(&env.path("album"), &env.path("copy"));
}
