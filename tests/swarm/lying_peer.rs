//! A peer that sends corrupted data: `mt get` rejects every piece it spoils, bans it, and
//! still completes from an honest seed; with only the liar it never claims to be done.
//!
//! The liar is `support::fake_peer` serving every requested block with its bytes inverted,
//! or, to mix its data into pieces an honest seed finishes, only the first block of each.

use crate::common::TestEnv;
use crate::common::swarm::assert_same_file;
use crate::support::fake_peer::{Behaviour, FakePeer};

/// 3 MiB and a bit in 32 KiB pieces: about a hundred pieces to spread over two peers.
const LEN: usize = 3 * 1024 * 1024 + 777;

/// Writes `video.bin` and `video.bin.torrent`; returns the data.
fn torrent(env: &TestEnv) -> Vec<u8> {
    let bytes = env.write_generated("video.bin", LEN, 21);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    bytes
}

#[test]
fn a_lying_peer_is_banned_and_the_download_still_completes() {
    let env = TestEnv::new();
    let bytes = torrent(&env);
    let liar = FakePeer::start(&env.path("video.bin.torrent"), bytes, Behaviour::Corrupt);
    let seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let out =
        env.get("video.bin.torrent", "copy.bin", &["--peer", &liar.addr(), "--peer", &seed.addr]);
    out.expect_code(0);
    let banned = out.events("peer_banned");
    assert!(
        banned.iter().any(|event| event["addr"] == liar.addr().as_str()),
        "the liar at {} is banned: {out:#?}",
        liar.addr()
    );
    assert!(
        banned.iter().all(|event| event["addr"] != seed.addr.as_str()),
        "the honest seed at {} is not banned: {banned:?}",
        seed.addr
    );
    assert!(!out.events("piece_failed").is_empty(), "the bad pieces were noticed");
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}

#[test]
fn a_lying_peer_alone_never_completes_a_download() {
    let env = TestEnv::new();
    let bytes = torrent(&env);
    let liar = FakePeer::start(&env.path("video.bin.torrent"), bytes, Behaviour::Corrupt);
    let out = env.get("video.bin.torrent", "copy.bin", &["--peer", &liar.addr(), "--timeout", "5"]);
    out.expect_code(1);
    assert!(out.events("complete").is_empty(), "never complete: {out:#?}");
    assert!(!out.events("piece_failed").is_empty(), "its pieces failed: {out:#?}");
    assert_eq!(out.event("peer_banned")["addr"], liar.addr().as_str());
    let verify = env.run(&["verify", "video.bin.torrent", "copy.bin"]);
    assert_ne!(verify.code, 0, "the data on disk is not the torrent's: {verify:#?}");
}

#[test]
fn a_peer_spoiling_one_block_per_piece_does_not_get_the_honest_seed_banned() {
    let env = TestEnv::new();
    let bytes = torrent(&env);
    let liar = FakePeer::start(&env.path("video.bin.torrent"), bytes, Behaviour::SpoilsFirstBlocks);
    let seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let extra = ["--peer", &liar.addr(), "--peer", &seed.addr, "--timeout", "30"];
    let out = env.get("video.bin.torrent", "copy.bin", &extra);
    let banned = out.events("peer_banned");
    assert!(
        banned.iter().all(|event| event["addr"] != seed.addr.as_str()),
        "the honest seed at {} is not banned: {banned:?}",
        seed.addr
    );
    out.expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}
