//! Peer exchange (BEP 11) between `mt` processes: a downloader told of one seed learns of
//! another from it and connects to it. Each process has a discovery folder of its own, so
//! PEX is the only way the downloader can hear of the second seed. A peer that sends broken
//! or oversized PEX messages costs the seed nothing but the dials it names (at most 200).

use std::time::Duration;

use crate::common::TestEnv;
use crate::common::swarm::{STARTUP, Seed, assert_same_file};
use crate::support::raw_peer::{RawPeer, peer_id};
use mt::bencode::{self, Value};
use mt::metainfo::Metainfo;
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

/// Seeds A and B meet (`a_dials` says who dials); C, told only of A, must connect to B.
fn downloader_learns_the_other_seed(a_dials: bool) {
    let env = TestEnv::new();
    env.write_generated("video.bin", LEN, 8);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    let (mut a, b) = if a_dials {
        let b = env.seed_alone("video.bin.torrent", "video.bin", &[]);
        let a = env.seed_alone("video.bin.torrent", "video.bin", &["--peer", &b.addr]);
        (a, b)
    } else {
        let a = env.seed_alone("video.bin.torrent", "video.bin", &[]);
        let b = env.seed_alone("video.bin.torrent", "video.bin", &["--peer", &a.addr]);
        (a, b)
    };
    wait_until_parted(&mut a);
    // Kept running after it completes, so it still hears A's first PEX message.
    let mut c = env.start_get("video.bin.torrent", "copy.bin", &["--peer", &a.addr, "--seed"]);
    let b_addr = b.addr.clone();
    let connected =
        c.wait_for(LEARN_LIMIT, |e| e["event"] == "peer_connected" && e["addr"] == b_addr.as_str());
    assert_eq!(connected["outgoing"], true, "C dials B: {connected}");
    c.kill();
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
