//! Upload slots are refilled the moment one frees: when an unchoked peer leaves or loses
//! interest, a peer that waits for a slot is unchoked at once, not at the next rechoke.
//!
//! The seed runs with one regular slot (plus the optimistic one), so two scripted peers fill
//! it and a third waits. Nothing here measures time: the waiting peer proves it is choked by a
//! request that comes back rejected (BEP 6; for a piece outside its allowed-fast set); then, once the seed's `--json` stream shows it
//! has handled the freeing peer, the waiting peer asks again, and the seed must unchoke it
//! before it answers that request, since the seed handles both in order on one thread.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::common::TestEnv;
use crate::common::swarm::Seed;
use crate::support::raw_peer::{RawPeer, peer_id};
use mt::metainfo::Metainfo;
use mt::types::InfoHash;
use mt::wire::allowed_fast::{ALLOWED_FAST_COUNT, allowed_fast_set};
use mt::wire::{BlockInfo, ExtendedHandshake, Message};

/// 1 MiB in 32 KiB pieces.
const LEN: usize = 1024 * 1024;
/// How long one scripted peer waits for the seed's answer.
const ANSWER: Duration = Duration::from_secs(20);

/// The first block of the first piece outside the allowed-fast set of 127.0.0.1 (a choked
/// peer may request those, BEP 6).
fn block(info_hash: InfoHash) -> BlockInfo {
    let pieces = u32::try_from(LEN / (32 * 1024)).expect("fits");
    let allowed = allowed_fast_set(Ipv4Addr::LOCALHOST, &info_hash, pieces, ALLOWED_FAST_COUNT);
    let piece = (0..pieces).find(|p| !allowed.contains(p)).expect("a piece outside the set");
    BlockInfo { piece, begin: 0, length: 16 * 1024 }
}

/// Starts a seed with one regular upload slot; returns it with the torrent's info hash.
fn seed_with_one_slot(env: &TestEnv) -> (Seed, InfoHash) {
    env.write_generated("video.bin", LEN, 91);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    let info_hash = Metainfo::load(&env.path("video.bin.torrent")).expect("loads").info_hash;
    let seed = env.seed("video.bin.torrent", "video.bin", &["--upload-slots", "1"]);
    (seed, info_hash)
}

/// A scripted peer that connects to the seed and says it is interested.
fn interested_peer(seed: &Seed, info_hash: InfoHash, n: u32) -> RawPeer {
    let mut peer = RawPeer::connect(&seed.addr).expect("connects to the seed");
    peer.handshake(info_hash, peer_id(n)).expect("handshake");
    peer.send_message(&Message::Interested).expect("send interested");
    peer
}

/// Waits for the seed to unchoke `peer`.
fn expect_unchoked(peer: &mut RawPeer) {
    peer.wait_for_message(ANSWER, |m| matches!(m, Message::Unchoke)).expect("unchoked");
}

/// Sends a request and returns the first of unchoke, reject or the block that answers it.
fn ask(peer: &mut RawPeer, info_hash: InfoHash) -> Message {
    peer.send_message(&Message::Request(block(info_hash))).expect("send request");
    peer.wait_for_message(ANSWER, |m| {
        matches!(m, Message::Unchoke | Message::Reject(_) | Message::Piece { .. })
    })
    .expect("the seed answers the request")
}

/// Two peers hold the seed's slots; a third waits, choked. Returns them in that order.
fn full_slots(seed: &Seed, info_hash: InfoHash) -> (RawPeer, RawPeer, RawPeer) {
    let mut first = interested_peer(seed, info_hash, 1);
    expect_unchoked(&mut first);
    let mut second = interested_peer(seed, info_hash, 2);
    expect_unchoked(&mut second);
    let mut waiting = interested_peer(seed, info_hash, 3);
    let answer = ask(&mut waiting, info_hash);
    assert!(
        matches!(answer, Message::Reject(_)),
        "with one regular and one optimistic slot taken, a third peer stays choked: {answer:?}"
    );
    (first, second, waiting)
}

#[test]
fn a_slot_freed_by_a_peer_that_leaves_goes_to_a_waiting_peer_at_once() {
    let env = TestEnv::new();
    let (mut seed, info_hash) = seed_with_one_slot(&env);
    let (first, _second, mut waiting) = full_slots(&seed, info_hash);

    let gone = first.local_addr().to_string();
    first.close();
    seed.process.wait_for(ANSWER, |e| e["event"] == "peer_closed" && e["addr"] == gone.as_str());
    let answer = ask(&mut waiting, info_hash);
    assert!(
        matches!(answer, Message::Unchoke),
        "the slot the leaving peer held goes to the waiting peer before the seed answers its \
         next request: {answer:?}"
    );
}

#[test]
fn a_slot_held_by_a_peer_that_lost_interest_goes_to_a_waiting_peer_at_once() {
    let env = TestEnv::new();
    let (mut seed, info_hash) = seed_with_one_slot(&env);
    let (mut first, _second, mut waiting) = full_slots(&seed, info_hash);

    first.send_message(&Message::NotInterested).expect("send not interested");
    // A marker the seed reports once it has read everything the peer sent before it.
    let marker =
        ExtendedHandshake { client: Some("finished-peer".into()), ..ExtendedHandshake::default() };
    first.send_message(&marker.to_message()).expect("send extension handshake");
    seed.process
        .wait_for(ANSWER, |e| e["event"] == "peer_client" && e["client"] == "finished-peer");
    let answer = ask(&mut waiting, info_hash);
    assert!(
        matches!(answer, Message::Unchoke),
        "an unchoked peer that is no longer interested holds no slot, so the waiting peer is \
         unchoked before the seed answers its next request: {answer:?}"
    );
}
