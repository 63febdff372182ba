//! BEP 6, the fast extension, between `mt` and scripted peers: every request gets exactly one
//! answer, a block or `reject`, even when it is cancelled, overflows the upload queue or is
//! still queued when the peer is choked; a choked peer may request its allowed-fast pieces.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::common::TestEnv;
use crate::common::swarm::Seed;
use crate::support::raw_peer::{RawPeer, peer_id};
use mt::metainfo::Metainfo;
use mt::types::InfoHash;
use mt::wire::allowed_fast::{ALLOWED_FAST_COUNT, allowed_fast_set};
use mt::wire::{BlockInfo, Message};

/// 2 MiB and a bit in 32 KiB pieces: 65 pieces.
const LEN: usize = 2 * 1024 * 1024 + 777;
const PIECE: u32 = 32 * 1024;
const PIECES: u32 = 65;
const BLOCK: u32 = 16 * 1024;

/// Writes `video.bin` and its torrent; returns the info hash.
fn write_torrent(env: &TestEnv) -> InfoHash {
    env.write_generated("video.bin", LEN, 66);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    let meta = Metainfo::load(&env.path("video.bin.torrent")).expect("the torrent loads");
    assert_eq!(meta.layout().piece_count(), PIECES);
    meta.info_hash
}

fn handshaken(seed: &Seed, info_hash: InfoHash, n: u32) -> RawPeer {
    let mut peer = RawPeer::connect(&seed.addr).expect("connect to the seed");
    let theirs = peer.handshake(info_hash, peer_id(n)).expect("the seed answers");
    assert!(theirs.supports_fast(), "mt offers the fast extension");
    peer
}

fn send_all(peer: &mut RawPeer, messages: impl Iterator<Item = Message>) {
    let mut bytes = Vec::new();
    for message in messages {
        message.encode_into(&mut bytes);
    }
    peer.send(&bytes).expect("send the messages");
}

#[test]
fn every_request_gets_exactly_one_answer_even_when_cancelled_or_past_the_queue() {
    // More than the 2048 uploads the seed queues per peer, most cancelled before they leave.
    const REQUESTS: u32 = 2300;
    let env = TestEnv::new();
    let info_hash = write_torrent(&env);
    let seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let mut peer = handshaken(&seed, info_hash, 1);
    peer.send_message(&Message::Interested).expect("send interested");
    peer.wait_for_message(Duration::from_secs(15), |m| *m == Message::Unchoke)
        .expect("the seed unchokes an interested peer");
    let per_piece = PIECE / BLOCK;
    let blocks: Vec<BlockInfo> = (0..REQUESTS)
        .map(|i| {
            let n = i % ((PIECES - 1) * per_piece);
            BlockInfo { piece: n / per_piece, begin: n % per_piece * BLOCK, length: BLOCK }
        })
        .collect();
    send_all(&mut peer, blocks.iter().map(|b| Message::Request(*b)));
    std::thread::sleep(Duration::from_millis(1500));
    send_all(&mut peer, blocks.iter().map(|b| Message::Cancel(*b)));
    let answers = peer
        .read_until_quiet(Duration::from_secs(2), Duration::from_secs(60))
        .expect("read the answers");
    let mut open: HashMap<BlockInfo, i64> = HashMap::new();
    for block in &blocks {
        *open.entry(*block).or_default() += 1;
    }
    let (mut pieces, mut rejects) = (0, 0);
    for answer in &answers {
        let block = match answer {
            Message::Piece { piece, begin, data } => {
                pieces += 1;
                let length = u32::try_from(data.len()).expect("fits");
                BlockInfo { piece: *piece, begin: *begin, length }
            }
            Message::Reject(block) => {
                rejects += 1;
                *block
            }
            _ => continue,
        };
        *open.entry(block).or_default() -= 1;
    }
    eprintln!("{REQUESTS} requests: {pieces} blocks, {rejects} rejects");
    assert!(rejects > 0, "cancelled and overflowing requests are rejected");
    let wrong: Vec<_> = open.iter().filter(|(_, n)| **n != 0).collect();
    assert!(wrong.is_empty(), "requests with no or several answers (open count): {wrong:?}");
}

#[test]
fn choking_a_fast_peer_rejects_its_queued_requests_and_sends_no_more_blocks() {
    // More requests than the socket holds, so most still wait in the seed's queue when the
    // next rechoke chokes the peer (it is no longer interested).
    const REQUESTS: u32 = 2000;
    let env = TestEnv::new();
    let info_hash = write_torrent(&env);
    let seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let mut peer = handshaken(&seed, info_hash, 2);
    peer.send_message(&Message::Interested).expect("send interested");
    let mut allowed_fast = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        match peer.next_message().expect("the seed keeps the connection") {
            Some(Message::Unchoke) => break,
            Some(Message::AllowedFast { piece }) => allowed_fast.push(piece),
            _ => {}
        }
        assert!(std::time::Instant::now() < deadline, "the seed unchokes an interested peer");
    }
    let blocks = blocks(REQUESTS);
    send_all(&mut peer, blocks.iter().map(|b| Message::Request(*b)));
    peer.send_message(&Message::NotInterested).expect("send not interested");
    // Read nothing until a rechoke (every 10 s) has chosen to choke us.
    std::thread::sleep(Duration::from_secs(11));
    let answers = peer
        .read_until_quiet(Duration::from_secs(2), Duration::from_secs(60))
        .expect("read the answers");
    let choke = answers.iter().position(|m| *m == Message::Choke);
    let choke = choke.expect("the seed chokes a peer that is no longer interested");
    let after: Vec<&Message> = answers[choke..]
        .iter()
        .filter(|m| matches!(m, Message::Piece { piece, .. } if !allowed_fast.contains(piece)))
        .collect();
    let (pieces, rejects) = count_answers(&blocks, &answers);
    eprintln!(
        "{REQUESTS} requests: {pieces} blocks, {rejects} rejects, {} after the choke",
        after.len()
    );
    assert!(after.is_empty(), "a choked peer gets no more blocks: {} after the choke", after.len());
    assert!(rejects > 0, "queued requests of a choked fast peer are rejected");
}

#[test]
fn a_choked_peer_hears_its_allowed_fast_set_and_may_request_those_pieces() {
    let env = TestEnv::new();
    let info_hash = write_torrent(&env);
    let seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let mut peer = handshaken(&seed, info_hash, 3);
    let want = allowed_fast_set(Ipv4Addr::LOCALHOST, &info_hash, PIECES, ALLOWED_FAST_COUNT);
    let mut named = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while named.len() < want.len() && std::time::Instant::now() < deadline {
        match peer.next_message().expect("the seed keeps the connection") {
            Some(Message::AllowedFast { piece }) => named.push(piece),
            Some(Message::Unchoke) => panic!("the seed unchokes a peer that is not interested"),
            _ => {}
        }
    }
    assert_eq!(named, want, "the seed names the BEP 6 set for 127.0.0.0/24 and the info hash");
    // Still choked: its allowed-fast pieces are served, any other is rejected.
    let other = (0..PIECES - 1).find(|p| !want.contains(p)).expect("a piece outside the set");
    let asked: Vec<BlockInfo> = want
        .iter()
        .filter(|&&p| p < PIECES - 1)
        .chain([&other])
        .map(|&piece| BlockInfo { piece, begin: 0, length: BLOCK })
        .collect();
    send_all(&mut peer, asked.iter().map(|b| Message::Request(*b)));
    let answers = peer
        .read_until_quiet(Duration::from_secs(2), Duration::from_secs(20))
        .expect("read the answers");
    count_answers(&asked, &answers);
    for answer in &answers {
        match answer {
            Message::Piece { piece, .. } => assert!(want.contains(piece), "served {piece}"),
            Message::Reject(block) => assert_eq!(block.piece, other, "rejected {block:?}"),
            _ => {}
        }
    }
}

/// `n` requests over every full piece, in order, wrapping around.
fn blocks(n: u32) -> Vec<BlockInfo> {
    let per_piece = PIECE / BLOCK;
    (0..n)
        .map(|i| {
            let n = i % ((PIECES - 1) * per_piece);
            BlockInfo { piece: n / per_piece, begin: n % per_piece * BLOCK, length: BLOCK }
        })
        .collect()
}

/// Checks every request in `blocks` got exactly one answer in `answers` (a block or
/// `reject`); returns how many of each.
fn count_answers(blocks: &[BlockInfo], answers: &[Message]) -> (usize, usize) {
    let mut open: HashMap<BlockInfo, i64> = HashMap::new();
    for block in blocks {
        *open.entry(*block).or_default() += 1;
    }
    let (mut pieces, mut rejects) = (0, 0);
    for answer in answers {
        let block = match answer {
            Message::Piece { piece, begin, data } => {
                pieces += 1;
                let length = u32::try_from(data.len()).expect("fits");
                BlockInfo { piece: *piece, begin: *begin, length }
            }
            Message::Reject(block) => {
                rejects += 1;
                *block
            }
            _ => continue,
        };
        *open.entry(block).or_default() -= 1;
    }
    let wrong: Vec<_> = open.iter().filter(|(_, n)| **n != 0).collect();
    assert!(wrong.is_empty(), "requests with no or several answers (open count): {wrong:?}");
    (pieces, rejects)
}
