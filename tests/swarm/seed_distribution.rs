//! A seed sends each piece once while it can: a piece it already sent to one peer is refused
//! (BEP 6 `reject`) to a second fast-extension peer as long as another piece has not left the
//! seed yet, and that other piece is served; once every piece is out, every request is served.

use std::time::Duration;

use crate::common::TestEnv;
use crate::common::swarm::Seed;
use crate::support::raw_peer::{RawPeer, peer_id};
use mt::metainfo::Metainfo;
use mt::types::InfoHash;
use mt::wire::{BlockInfo, Message};

/// Two 32 KiB pieces.
const LEN: usize = 64 * 1024;
const ANSWER_LIMIT: Duration = Duration::from_secs(10);

/// A raw fast-extension peer, unchoked by the seed.
fn unchoked_peer(seed: &Seed, info_hash: InfoHash, n: u32) -> RawPeer {
    let mut peer = RawPeer::connect(&seed.addr).expect("connect to the seed");
    let theirs = peer.handshake(info_hash, peer_id(n)).expect("the seed answers");
    assert!(theirs.supports_fast(), "mt offers the fast extension");
    peer.send_message(&Message::HaveNone).expect("send have none");
    peer.send_message(&Message::Interested).expect("send interested");
    peer.wait_for_message(ANSWER_LIMIT, |m| *m == Message::Unchoke).expect("an unchoke");
    peer
}

/// Requests the first block of `piece`; true if a block came back, false for a reject.
fn ask(peer: &mut RawPeer, piece: u32) -> bool {
    let block = BlockInfo { piece, begin: 0, length: 16 * 1024 };
    peer.send_message(&Message::Request(block)).expect("send a request");
    let answer = peer
        .wait_for_message(ANSWER_LIMIT, |m| {
            matches!(m, Message::Piece { piece: p, .. } | Message::Reject(BlockInfo { piece: p, .. }) if *p == piece)
        })
        .expect("an answer to the request");
    matches!(answer, Message::Piece { .. })
}

#[test]
fn a_seed_refuses_a_second_copy_of_a_piece_while_another_has_not_left_it() {
    let env = TestEnv::new();
    env.write_generated("video.bin", LEN, 5);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    let info_hash = Metainfo::load(&env.path("video.bin.torrent")).expect("torrent").info_hash;
    let seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let mut first = unchoked_peer(&seed, info_hash, 1);
    let mut second = unchoked_peer(&seed, info_hash, 2);
    assert!(ask(&mut first, 0), "the first request of piece 0 is served");
    assert!(!ask(&mut second, 0), "piece 0 is refused to a second peer while piece 1 is unsent");
    assert!(ask(&mut second, 1), "piece 1, which only the seed has, is served");
    // Both pieces are out now: the seed serves anything again.
    assert!(ask(&mut second, 0), "once every piece is out, piece 0 is served");
    assert!(ask(&mut first, 0), "and the peer it first went to may ask for it again");
}
