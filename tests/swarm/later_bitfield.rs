//! A peer may announce its pieces more than once: a later `bitfield`, `have all` or
//! `have none` replaces what it said before (libtorrent and aria2 do this; BEP 3 asks for the
//! bitfield first only). `mt seed` keeps serving such a peer, and `mt get` downloads from one.

use std::time::Duration;

use crate::common::TestEnv;
use crate::common::swarm::assert_same_file;
use crate::support::fake_peer::{Behaviour, FakePeer};
use crate::support::raw_peer::{RawPeer, peer_id};
use mt::metainfo::Metainfo;
use mt::wire::{BlockInfo, Message};

/// 1 MiB and a bit in 32 KiB pieces: 33 pieces.
const LEN: usize = 1024 * 1024 + 321;
const PIECES: usize = 33;
/// How long each step of the scripted exchange may take.
const STEP: Duration = Duration::from_secs(15);

fn write_torrent(env: &TestEnv) -> Vec<u8> {
    let bytes = env.write_generated("video.bin", LEN, 9);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    bytes
}

#[test]
fn seed_keeps_serving_a_peer_that_sends_a_second_bitfield() {
    let env = TestEnv::new();
    let bytes = write_torrent(&env);
    let meta = Metainfo::load(&env.path("video.bin.torrent")).expect("the torrent loads");
    let mut seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let mut peer = RawPeer::connect(&seed.addr).expect("connect to the seed");
    peer.handshake(meta.info_hash, peer_id(1)).expect("the seed answers");
    let nothing = vec![0u8; PIECES.div_ceil(8)];
    peer.send_message(&Message::Bitfield(nothing)).expect("send the first bitfield");
    peer.send_message(&Message::Interested).expect("send interested");
    peer.wait_for_message(STEP, |m| *m == Message::Unchoke).expect("the seed unchokes us");
    // Later announcements replace the first: one piece, then none, then one again.
    let mut one = vec![0u8; PIECES.div_ceil(8)];
    one[0] = 0x80;
    peer.send_message(&Message::Bitfield(one.clone())).expect("send a second bitfield");
    peer.send_message(&Message::HaveNone).expect("send have none");
    peer.send_message(&Message::Bitfield(one)).expect("send a third bitfield");
    let block = BlockInfo { piece: 3, begin: 16 * 1024, length: 16 * 1024 };
    peer.send_message(&Message::Request(block)).expect("send a request");
    let got = peer
        .wait_for_message(STEP, |m| matches!(m, Message::Piece { .. }))
        .unwrap_or_else(|why| panic!("the seed stopped serving after a second bitfield: {why}"));
    let start = 3 * 32 * 1024 + 16 * 1024;
    let want = Message::Piece {
        piece: 3,
        begin: 16 * 1024,
        data: bytes[start..start + 16 * 1024].to_vec(),
    };
    assert!(got == want, "the seed sent the wrong block");
    assert!(seed.process.is_running(), "the seed is still running");
}

#[test]
fn get_downloads_from_a_seed_that_announces_its_pieces_three_times() {
    let env = TestEnv::new();
    let bytes = write_torrent(&env);
    let seed = FakePeer::start(&env.path("video.bin.torrent"), bytes, Behaviour::AnnouncesThrice);
    let out =
        env.get("video.bin.torrent", "copy.bin", &["--peer", &seed.addr(), "--timeout", "20"]);
    out.expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}
