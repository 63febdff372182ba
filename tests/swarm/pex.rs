//! Peer exchange (BEP 11) between `mt` processes: a downloader told of one seed learns of
//! another from it, connects to it and finishes from it once the first is stopped halfway
//! through. Each process has a discovery folder of its own, so PEX is the only way the
//! downloader can hear of the second seed. A peer that sends broken or oversized PEX messages
//! costs the seed nothing but the dials it names (at most 200). A private torrent's peers come
//! from its trackers alone (BEP 27): its seeds neither offer nor send PEX. libtorrent too dials
//! the seed an mt seed names.

use std::time::Duration;

use crate::common::swarm::{GET_LIMIT, STARTUP, Seed, assert_same_file};
use crate::common::{TestEnv, require_libtorrent};
use crate::support::raw_peer::{RawPeer, peer_id};
use mt::bencode::{self, Value};
use mt::metainfo::Metainfo;
use mt::wire::pex::PexMessage;
use mt::wire::{ExtendedHandshake, Message};

/// 1 MiB in 32 KiB pieces.
const LEN: usize = 1024 * 1024;
/// How long the downloader may take to connect to the seed it was not told of.
const LEARN_LIMIT: Duration = Duration::from_secs(20);

/// Waits until `seed` parted from the other seed, so that it has met it.
fn wait_until_parted(seed: &mut Seed) {
    seed.process.wait_for(STARTUP, |e| {
        e["event"] == "peer_closed" && e["reason"] == "both sides are seeds"
    });
}

/// Seeds A and B meet (`a_dials` says who dials); C, told only of A, must connect to B and,
/// once A is stopped halfway through, finish from B. Both seeds upload at a quarter of the
/// file a second, so C is still downloading when it hears of B.
fn downloader_learns_the_other_seed(a_dials: bool) {
    let env = TestEnv::new();
    env.write_generated("video.bin", 2 * LEN, 8);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    let limit = ["--max-up", "512K"];
    let (mut a, b) = if a_dials {
        let b = env.seed_alone("video.bin.torrent", "video.bin", &limit);
        let a = env.seed_alone(
            "video.bin.torrent",
            "video.bin",
            &[&limit[..], &["--peer", &b.addr]].concat(),
        );
        (a, b)
    } else {
        let a = env.seed_alone("video.bin.torrent", "video.bin", &limit);
        let b = env.seed_alone(
            "video.bin.torrent",
            "video.bin",
            &[&limit[..], &["--peer", &a.addr]].concat(),
        );
        (a, b)
    };
    wait_until_parted(&mut a);
    let mut c = env.start_get("video.bin.torrent", "copy.bin", &["--peer", &a.addr]);
    let b_addr = b.addr.clone();
    let connected =
        c.wait_for(LEARN_LIMIT, |e| e["event"] == "peer_connected" && e["addr"] == b_addr.as_str());
    assert_eq!(connected["outgoing"], true, "C dials B: {connected}");
    // C has not completed yet (its `complete` line is still to come), and A goes away.
    a.process.kill();
    c.wait_for_event("complete", LEARN_LIMIT);
    c.wait(GET_LIMIT).expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}

#[test]
fn a_downloader_learns_of_a_seed_through_pex_when_the_first_seed_dialled_it() {
    downloader_learns_the_other_seed(true);
}

#[test]
fn a_downloader_learns_of_a_seed_through_pex_when_it_dialled_the_first_seed() {
    downloader_learns_the_other_seed(false);
}

/// A compact IPv4 list of `count` loopback peers on ports 1, 2, ... (nothing listens there).
fn loopback_peers(count: u16) -> Vec<u8> {
    let peer = |port: u16| {
        let [high, low] = port.to_be_bytes();
        [127, 0, 0, 1, high, low]
    };
    (1..=count).flat_map(peer).collect()
}

#[test]
fn garbage_and_floods_of_pex_cost_their_sender_at_most() {
    let env = TestEnv::new();
    env.write_generated("video.bin", LEN, 8);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    let meta = Metainfo::load(&env.path("video.bin.torrent")).expect("the torrent loads");
    let mut seed = env.seed_alone("video.bin.torrent", "video.bin", &[]);
    let mut peer = RawPeer::connect(&seed.addr).expect("connect to the seed");
    peer.handshake(meta.info_hash, peer_id(1)).expect("the seed answers");
    let mut ours = ExtendedHandshake::default();
    ours.extensions.insert("ut_pex".into(), 1);
    peer.send_message(&ours.to_message()).expect("send our extended handshake");
    let theirs = peer
        .wait_for_message(Duration::from_secs(10), |m| matches!(m, Message::Extended { id: 0, .. }))
        .expect("the seed's extended handshake");
    let Message::Extended { payload, .. } = theirs else { unreachable!() };
    let theirs = ExtendedHandshake::decode(&payload).expect("a valid extended handshake");
    let id = *theirs.extensions.get("ut_pex").expect("the seed offers ut_pex");
    let garbage = [
        b"d5:added5:abcdee".to_vec(),
        b"not bencode".to_vec(),
        bencode::dict([("added", Value::Bytes(loopback_peers(5000)))]).encode(),
        bencode::dict([("added", Value::Bytes(loopback_peers(2000)))]).encode(),
    ];
    for payload in garbage {
        peer.send_message(&Message::Extended { id, payload }).expect("send a pex message");
    }
    assert!(
        peer.wait_closed(Duration::from_secs(3)).is_err(),
        "a few bad pex messages are not worth dropping a peer for"
    );
    assert!(seed.process.is_running(), "the seed is still running");
    let out = env.get("video.bin.torrent", "copy.bin", &["--peer", &seed.addr]);
    out.expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}

/// The extended id our raw peer takes `ut_pex` messages on.
const RAW_UT_PEX: u8 = 1;

/// Seeds A and B of a torrent (private or not) meet; then a raw peer that offers `ut_pex`
/// connects to A. Returns A's extended handshake, the PEX messages A sent it within a few
/// seconds, and B's address.
fn what_a_seed_tells_a_newcomer(private: bool) -> (ExtendedHandshake, Vec<PexMessage>, String) {
    let env = TestEnv::new();
    env.write_generated("video.bin", LEN, 8);
    let mut create = vec!["create", "-p", "32K", "video.bin"];
    if private {
        create.push("--private");
    }
    env.run(&create).expect_code(0);
    let meta = Metainfo::load(&env.path("video.bin.torrent")).expect("the torrent loads");
    let b = env.seed_alone("video.bin.torrent", "video.bin", &[]);
    let mut a = env.seed_alone("video.bin.torrent", "video.bin", &["--peer", &b.addr]);
    wait_until_parted(&mut a);
    let mut peer = RawPeer::connect(&a.addr).expect("connect to seed A");
    peer.handshake(meta.info_hash, peer_id(2)).expect("seed A answers");
    let mut ours = ExtendedHandshake::default();
    ours.extensions.insert("ut_pex".into(), RAW_UT_PEX);
    peer.send_message(&ours.to_message()).expect("send our extended handshake");
    let messages = peer
        .read_until_quiet(Duration::from_secs(3), Duration::from_secs(6))
        .expect("seed A keeps the connection");
    let mut handshake = None;
    let mut pex = Vec::new();
    for message in messages {
        match message {
            Message::Extended { id: 0, payload } => {
                handshake = ExtendedHandshake::decode(&payload).ok();
            }
            Message::Extended { id: RAW_UT_PEX, payload } => {
                pex.push(PexMessage::decode(&payload).expect("a valid pex message"));
            }
            _ => {}
        }
    }
    (handshake.expect("seed A's extended handshake"), pex, b.addr.clone())
}

#[test]
fn a_public_torrents_seed_names_the_seeds_it_met_to_a_newcomer() {
    let (handshake, pex, b_addr) = what_a_seed_tells_a_newcomer(false);
    assert!(handshake.extensions.contains_key("ut_pex"), "ut_pex is offered: {handshake:?}");
    let named = pex.iter().flat_map(|m| &m.added).any(|(addr, _)| addr.to_string() == b_addr);
    assert!(named, "seed A names seed B at {b_addr}: {pex:?}");
}

#[test]
fn a_private_torrents_seed_neither_offers_nor_sends_pex() {
    let (handshake, pex, _) = what_a_seed_tells_a_newcomer(true);
    assert!(!handshake.extensions.contains_key("ut_pex"), "ut_pex is offered: {handshake:?}");
    assert!(pex.is_empty(), "a private torrent's seed sent pex: {pex:?}");
}

#[test]
fn libtorrent_learns_of_an_mt_seed_from_another_mt_seeds_pex() {
    if !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    let len = 4 * LEN;
    env.write_generated("video.bin", len, 9);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    let mut b = env.seed_alone("video.bin.torrent", "video.bin", &[]);
    let mut a = env.seed_alone("video.bin.torrent", "video.bin", &["--peer", &b.addr]);
    wait_until_parted(&mut a);
    // Capped at a quarter of the file a second, libtorrent is still downloading when A's
    // first PEX message names B, so it has a reason to dial B.
    let limit = (len / 4).to_string();
    let lt_args = ["--peer", a.addr.as_str(), "--max-down", limit.as_str()];
    let lt = env.libtorrent("get", "video.bin.torrent", "lt", &lt_args);
    // B met A first; the peer that comes after must be libtorrent.
    b.process.wait_for(LEARN_LIMIT, |e| {
        let client = e["client"].as_str().unwrap_or_default().to_lowercase();
        e["event"] == "peer_client" && client.contains("libtorrent")
    });
    lt.process.wait(GET_LIMIT).expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("lt/video.bin"));
}
