//! Interop with libtorrent (metainfo and storage): libtorrent reads torrents made by
//! `mt create` to the same info hash and file list, and its own recheck of the data finds
//! every piece valid. The check runs `tests/interop/libtorrent_check.py` under
//! `/usr/bin/python3` in a session that starts nothing on the network.

use crate::common::{Output, SYSTEM_PYTHON, TestEnv, repo_path, require_libtorrent};
use serde_json::Value;

/// Nested files with an empty one and odd sizes; 16 KiB pieces cross the boundaries.
const TREE: &[(&str, usize)] = &[
    ("disc/01 intro.wav", 70_001),
    ("disc/02.wav", 16_383),
    ("disc/empty.cue", 0),
    ("readme.txt", 999),
    ("video/a.mkv", 200_000),
];

/// Runs the libtorrent check of `torrent` against data kept under the env root.
fn libtorrent_check(env: &TestEnv, torrent: &str) -> Value {
    let script = repo_path("tests/interop/libtorrent_check.py");
    let script = script.to_str().expect("UTF-8 repository path");
    let torrent = env.path(torrent);
    let root = env.root().to_str().expect("UTF-8 temp path");
    let out: Output = env.run_program(
        SYSTEM_PYTHON,
        &[script, torrent.to_str().expect("UTF-8 temp path"), root, "45"],
    );
    out.expect_code(0).json()
}

/// Asserts libtorrent saw what `mt show` sees and that its recheck found every piece.
fn assert_libtorrent_agrees(env: &TestEnv, torrent: &str) {
    let ours = env.show_json(torrent);
    let theirs = libtorrent_check(env, torrent);
    assert_eq!(theirs["info_hash"], ours["info_hash"], "libtorrent: {theirs}");
    assert_eq!(theirs["name"], ours["name"]);
    assert_eq!(theirs["total_size"], ours["total_size"]);
    assert_eq!(theirs["files"], ours["files"], "same paths and lengths in the same order");
    assert_eq!(theirs["checked"], true, "the recheck did not finish: {theirs}");
    assert_eq!(theirs["total_pieces"], ours["pieces"]);
    assert_eq!(theirs["num_pieces"], ours["pieces"], "libtorrent found bad pieces: {theirs}");
    assert_eq!(theirs["state"], "seeding", "{theirs}");
}

#[test]
fn libtorrent_reads_and_rechecks_a_single_file_torrent() {
    if !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    env.write_generated("image.iso", 300_007, 11);
    env.run(&["create", "-p", "32K", "image.iso"]).expect_code(0);
    assert_libtorrent_agrees(&env, "image.iso.torrent");
}

#[test]
fn libtorrent_reads_and_rechecks_a_multi_file_torrent() {
    if !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    env.tree("album", TREE);
    env.run(&["create", "-p", "16K", "album"]).expect_code(0);
    assert_libtorrent_agrees(&env, "album.torrent");
}

#[test]
fn libtorrent_reads_a_private_torrent_with_trackers_and_webseeds() {
    if !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    env.tree("album", TREE);
    // The tracker is never contacted: the script's session only rechecks local data.
    let args = ["create", "--private", "-t", "http://127.0.0.1:9/announce", "--webseed"];
    env.run(&[&args[..], &["http://127.0.0.1:9/", "album"]].concat()).expect_code(0);
    assert_libtorrent_agrees(&env, "album.torrent");
}

#[test]
fn flipped_byte_fails_both_libtorrent_recheck_and_mt_verify() {
    if !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    env.tree("album", TREE);
    env.run(&["create", "-p", "16K", "album"]).expect_code(0);
    env.flip_byte("album/video/a.mkv", 123_456);

    let theirs = libtorrent_check(&env, "album.torrent");
    let total = theirs["total_pieces"].as_u64().expect("piece count");
    assert_eq!(theirs["num_pieces"].as_u64(), Some(total - 1), "libtorrent: {theirs}");

    let out = env.run(&["verify", "album.torrent", "album"]);
    out.expect_code(1);
    assert!(out.stdout.contains("damaged  album/video/a.mkv"), "{out:#?}");
    assert!(out.stdout.contains(", 1 bad, 0 missing"), "{out:#?}");
}
