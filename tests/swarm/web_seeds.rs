//! Downloads from BEP 19 web seeds served by a small HTTP server in the test
//! (`support::http_seed`): alone, for a single file (by the file's URL and by its folder's)
//! and for a multi-file torrent whose pieces cross files and whose paths need escaping;
//! beside an `mt seed`; a server that sends a wrong byte is dropped and the peer finishes
//! the download; a server that never answers is timed out.

use crate::common::TestEnv;
use crate::common::swarm::{assert_same_file, assert_same_tree};
use crate::support::http_seed::{Behaviour, HttpSeed};

/// Nested folders, a name with a space, an empty file; 32 KiB pieces cross the boundaries.
const TREE: &[(&str, usize)] = &[
    ("disc/01 intro.wav", 300_001),
    ("disc/empty.cue", 0),
    ("readme & notes.txt", 999),
    ("video/a.mkv", 400_003),
];

/// `www/video.bin` (about 1 MiB), served by a web seed that behaves as asked, and a torrent
/// that names the seed by the file's URL (or its folder's, with `folder_url`).
fn single_file(behaviour: Behaviour, folder_url: bool) -> (TestEnv, HttpSeed) {
    let env = TestEnv::new();
    env.write_generated("www/video.bin", 1024 * 1024 + 77, 19);
    let server = HttpSeed::start(&env.path("www"), behaviour);
    let url = match folder_url {
        true => server.base.clone(),
        false => format!("{}video.bin", server.base),
    };
    let args = ["create", "-p", "32K", "--webseed", &url, "www/video.bin", "video.torrent"];
    env.run(&args).expect_code(0);
    (env, server)
}

#[test]
fn a_single_file_downloads_from_a_web_seed_alone() {
    let (env, server) = single_file(Behaviour::Honest, false);
    let out = env.get("video.torrent", "copy.bin", &[]);
    out.expect_code(0);
    assert_same_file(&env.path("www/video.bin"), &env.path("copy.bin"));
    assert!(out.events("peer_connected").is_empty(), "no peer took part: {out:#?}");
    assert!(server.requests.load(std::sync::atomic::Ordering::Relaxed) > 0);
}

#[test]
fn a_single_file_web_seed_named_by_its_folder_adds_the_name() {
    let (env, _server) = single_file(Behaviour::Honest, true);
    env.get("video.torrent", "copy.bin", &[]).expect_code(0);
    assert_same_file(&env.path("www/video.bin"), &env.path("copy.bin"));
}

#[test]
fn a_multi_file_torrent_downloads_from_a_web_seed_alone() {
    let env = TestEnv::new();
    env.tree("www/tree", TREE);
    let server = HttpSeed::start(&env.path("www"), Behaviour::Honest);
    let args = ["create", "-p", "32K", "--webseed", &server.base, "www/tree", "tree.torrent"];
    env.run(&args).expect_code(0);
    env.get("tree.torrent", "copy", &[]).expect_code(0);
    assert_same_tree(&env.path("www/tree"), &env.path("copy"));
}

#[test]
fn a_web_seed_and_a_peer_download_side_by_side() {
    let (env, server) = single_file(Behaviour::Honest, false);
    let seed = env.seed("video.torrent", "www/video.bin", &[]);
    // A download of about 4 s: the web seed alone cannot finish it before the peer connects.
    let out = env.get("video.torrent", "copy.bin", &["--peer", &seed.addr, "--max-down", "256K"]);
    out.expect_code(0);
    assert_same_file(&env.path("www/video.bin"), &env.path("copy.bin"));
    assert!(!out.events("peer_connected").is_empty(), "the peer took part: {out:#?}");
    // The web seed is asked at once, before any peer connection can finish.
    assert!(server.requests.load(std::sync::atomic::Ordering::Relaxed) > 0);
}

#[test]
fn a_web_seed_that_sends_a_wrong_byte_is_dropped_and_the_peer_finishes() {
    let (env, _server) = single_file(Behaviour::Lying, false);
    // A slow peer (about 4 s for the file), so it cannot deliver every piece, the lied-about
    // first one included, before the web seed's reply is checked.
    let seed = env.seed("video.torrent", "www/video.bin", &["--max-up", "256K"]);
    let out = env.get("video.torrent", "copy.bin", &["--peer", &seed.addr]);
    out.expect_code(0);
    assert_same_file(&env.path("www/video.bin"), &env.path("copy.bin"));
    let dropped = out.event("webseed_dropped");
    assert!(dropped["reason"].as_str().is_some_and(|r| r.contains("hash")), "{dropped}");
}

#[test]
fn a_web_seed_that_never_answers_is_timed_out() {
    let (env, _server) = single_file(Behaviour::Hanging, false);
    let out = env.get("video.torrent", "copy.bin", &["--timeout", "14"]);
    out.expect_code(1);
    let failed = out.event("webseed_failed");
    assert!(failed["reason"].as_str().is_some_and(|r| r.contains("timed out")), "{failed}");
}

#[test]
fn a_hanging_web_seed_does_not_hold_up_a_peer() {
    let (env, _server) = single_file(Behaviour::Hanging, false);
    let seed = env.seed("video.torrent", "www/video.bin", &[]);
    let out = env.get("video.torrent", "copy.bin", &["--peer", &seed.addr]);
    out.expect_code(0);
    assert_same_file(&env.path("www/video.bin"), &env.path("copy.bin"));
}

#[test]
fn no_webseed_turns_web_seeds_off() {
    let (env, server) = single_file(Behaviour::Honest, false);
    let out = env.get("video.torrent", "copy.bin", &["--no-webseed", "--timeout", "2"]);
    out.expect_code(1);
    assert_eq!(server.requests.load(std::sync::atomic::Ordering::Relaxed), 0);
}

#[test]
fn a_magnet_links_ws_is_used_as_a_web_seed() {
    let env = TestEnv::new();
    env.write_generated("www/video.bin", 1024 * 1024 + 77, 19);
    let server = HttpSeed::start(&env.path("www"), Behaviour::Honest);
    env.run(&["create", "-p", "32K", "www/video.bin", "video.torrent"]).expect_code(0);
    let magnet = env.show_json("video.torrent")["magnet"].as_str().expect("a magnet").to_string();
    // A slow peer for the metadata and some pieces, so the web seed has time to take part.
    let seed = env.seed("video.torrent", "www/video.bin", &["--max-up", "256K"]);
    let ws = format!("{}video.bin", server.base).replace(':', "%3A").replace('/', "%2F");
    let link = format!("{magnet}&x.pe={}&ws={ws}", seed.addr);
    env.get(&link, "copy.bin", &[]).expect_code(0);
    assert_same_file(&env.path("www/video.bin"), &env.path("copy.bin"));
    assert!(server.requests.load(std::sync::atomic::Ordering::Relaxed) > 0);
}

#[test]
fn pad_files_are_never_asked_of_a_web_seed() {
    use mt::metainfo::{FileAttr, FileEntry, TorrentBuilder};
    use sha1::{Digest, Sha1};
    let env = TestEnv::new();
    let a = env.write_generated("www/top/a.bin", 5_000, 1);
    let b = env.write_generated("www/top/b.bin", 40_000, 2);
    let server = HttpSeed::start(&env.path("www"), Behaviour::Honest);
    // a.bin is padded to the end of its 16 KiB piece, as BEP 47 pads files.
    let pad_len = 16_384 - 5_000;
    let stream = [a, vec![0; pad_len], b].concat();
    let pieces = stream.chunks(16_384).map(|c| Sha1::digest(c).into()).collect();
    let pad = FileAttr { padding: true, ..FileAttr::default() };
    let builder = TorrentBuilder {
        name: "top".into(),
        piece_length: 16_384,
        pieces,
        files: vec![
            FileEntry::new(vec!["a.bin".into()], 5_000),
            FileEntry {
                attr: pad,
                ..FileEntry::new(vec![".pad".into(), pad_len.to_string()], pad_len as u64)
            },
            FileEntry::new(vec!["b.bin".into()], 40_000),
        ],
        web_seeds: vec![server.base.clone()],
        ..TorrentBuilder::default()
    };
    let (bytes, _) = builder.build().expect("a valid torrent");
    std::fs::write(env.path("top.torrent"), bytes).expect("write torrent");
    env.get("top.torrent", "copy", &[]).expect_code(0);
    assert_same_tree(&env.path("www/top"), &env.path("copy"));
    let paths = server.paths.lock().expect("paths lock").clone();
    assert!(!paths.is_empty() && paths.iter().all(|p| !p.contains(".pad")), "{paths:?}");
}
