//! What a seed reports as uploaded is what it wrote to its sockets: blocks a peer cancelled
//! before they were sent, and blocks that never left because the peer hung up, do not count.
//! Trackers, rates and the choker all see this one figure.
//!
//! A scripted peer asks for far more than the socket buffers can hold without reading, so
//! most of its requests are still queued at the seed when it cancels them or hangs up.

use std::time::Duration;

use crate::common::TestEnv;
use crate::common::swarm::{Seed, assert_same_file};
use crate::support::raw_peer::{RawPeer, peer_id};
use mt::metainfo::Metainfo;
use mt::types::InfoHash;
use mt::wire::{BlockInfo, Message};

/// 2 MiB and a bit in 32 KiB pieces.
const LEN: usize = 2 * 1024 * 1024 + 777;
const PIECE: u32 = 32 * 1024;
const BLOCK: u32 = 16 * 1024;
/// Requests sent without reading: 32 MiB, far more than loopback socket buffers hold.
const REQUESTS: u32 = 2000;

fn setup() -> (TestEnv, Seed, InfoHash, u32) {
    let env = TestEnv::new();
    env.write_generated("video.bin", LEN, 31);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    let meta = Metainfo::load(&env.path("video.bin.torrent")).expect("the torrent loads");
    let seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let full_pieces = meta.layout().piece_count() - 1;
    (env, seed, meta.info_hash, full_pieces)
}

/// A peer that is interested and unchoked by the seed.
fn unchoked_peer(seed: &Seed, info_hash: InfoHash, n: u32) -> RawPeer {
    let mut peer = RawPeer::connect(&seed.addr).expect("connect to the seed");
    peer.handshake(info_hash, peer_id(n)).expect("the seed answers the handshake");
    peer.send_message(&Message::Interested).expect("send interested");
    peer.wait_for_message(Duration::from_secs(15), |m| *m == Message::Unchoke)
        .expect("the seed unchokes an interested peer");
    peer
}

/// `REQUESTS` valid 16 KiB blocks over the full pieces, repeating.
fn blocks(full_pieces: u32) -> Vec<BlockInfo> {
    let per_piece = PIECE / BLOCK;
    (0..REQUESTS)
        .map(|i| {
            let n = i % (full_pieces * per_piece);
            BlockInfo { piece: n / per_piece, begin: n % per_piece * BLOCK, length: BLOCK }
        })
        .collect()
}

fn send_all(peer: &mut RawPeer, messages: impl Iterator<Item = Message>) {
    let mut bytes = Vec::new();
    for message in messages {
        message.encode_into(&mut bytes);
    }
    peer.send(&bytes).expect("send the messages");
}

/// The `uploaded` figure of the seed's latest `stats` line, after `settle`.
fn reported_uploaded(seed: &mut Seed, settle: Duration) -> u64 {
    seed.process
        .json_lines_for(settle)
        .iter()
        .filter(|v| v["event"] == "stats")
        .filter_map(|v| v["uploaded"].as_u64())
        .next_back()
        .expect("the seed printed stats lines")
}

#[test]
fn cancelled_blocks_do_not_count_as_uploaded() {
    let (env, mut seed, info_hash, full_pieces) = setup();
    let mut peer = unchoked_peer(&seed, info_hash, 1);
    let wanted = blocks(full_pieces);
    send_all(&mut peer, wanted.iter().map(|b| Message::Request(*b)));
    // Let the seed fill the socket buffers, then cancel everything and read what came.
    std::thread::sleep(Duration::from_millis(1500));
    send_all(&mut peer, wanted.iter().map(|b| Message::Cancel(*b)));
    let messages = peer
        .read_until_quiet(Duration::from_secs(2), Duration::from_secs(60))
        .expect("read what the seed sent");
    let received: u64 = messages
        .iter()
        .filter_map(|m| match m {
            Message::Piece { data, .. } => Some(data.len() as u64),
            _ => None,
        })
        .sum();
    eprintln!("received {received} of {} requested bytes", u64::from(REQUESTS * BLOCK));
    assert!(received < u64::from(REQUESTS * BLOCK), "some requests were cancelled in time");
    assert_eq!(
        reported_uploaded(&mut seed, Duration::from_millis(2500)),
        received,
        "the seed reports as uploaded exactly the block bytes the peer received"
    );
    drop(peer);
    // An honest download takes each block once; the figure grows by exactly the torrent.
    let out = env.get("video.bin.torrent", "copy.bin", &["--peer", &seed.addr]);
    out.expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
    assert_eq!(
        reported_uploaded(&mut seed, Duration::from_millis(2500)),
        received + LEN as u64,
        "after a full download the seed reports what it sent to both peers"
    );
}

#[test]
fn blocks_queued_for_a_peer_that_hung_up_do_not_count_as_uploaded() {
    let (_env, mut seed, info_hash, full_pieces) = setup();
    let mut peer = unchoked_peer(&seed, info_hash, 1);
    send_all(&mut peer, blocks(full_pieces).into_iter().map(Message::Request));
    // Read nothing; hang up once the seed is blocked on full socket buffers.
    std::thread::sleep(Duration::from_millis(1500));
    peer.close();
    drop(peer);
    let uploaded = reported_uploaded(&mut seed, Duration::from_millis(3000));
    eprintln!("the seed reports {uploaded} bytes uploaded to a peer that read none");
    // What the kernel took before the hang-up is all that can have left: a few MiB of
    // socket buffer, never the 32 MiB requested.
    assert!(
        uploaded <= u64::from(REQUESTS * BLOCK) / 4,
        "the seed reports {uploaded} bytes uploaded to a peer that read nothing and hung up"
    );
}
