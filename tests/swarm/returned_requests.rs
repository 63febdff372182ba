//! Requests `mt get` gets back without a block: a `reject` from a peer that keeps us
//! unchoked (BEP 6), and a `choke` from a peer without the fast extension (BEP 3), after
//! which the blocks may still arrive late; and the requests it may make while choked (BEP 6
//! allowed fast). Each test plays the only seed on a raw connection,
//! so a block that is never asked for again stalls the download.

use std::thread;
use std::time::{Duration, Instant};

use crate::common::TestEnv;
use crate::common::swarm::assert_same_file;
use crate::support::raw_peer::{RawListener, RawPeer, peer_id};
use mt::metainfo::Metainfo;
use mt::types::InfoHash;
use mt::wire::{BlockInfo, Handshake, Message};
use serde_json::Value;

/// 4 MiB and a bit in 32 KiB pieces: 129 pieces of two blocks each (the last one short).
const LEN: usize = 4 * 1024 * 1024 + 555;
/// Longest a scripted seed runs.
const SCRIPT_LIMIT: Duration = Duration::from_secs(40);

/// What the scripted seed saw.
#[derive(Debug, Default)]
struct Seen {
    /// `cancel` messages that named a block requested of it and not yet answered.
    cancels: usize,
    /// `cancel` messages for blocks it was never asked for (or already answered).
    stray_cancels: usize,
    /// Chokes it sent.
    chokes: usize,
}

fn write_torrent(env: &TestEnv, len: usize) -> (Vec<u8>, InfoHash) {
    let bytes = env.write_generated("video.bin", len, 31);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    let meta = Metainfo::load(&env.path("video.bin.torrent")).expect("the torrent loads");
    (bytes, meta.info_hash)
}

fn piece_message(data: &[u8], block: BlockInfo) -> Message {
    let start = block.piece as usize * 32 * 1024 + block.begin as usize;
    let data = data[start..start + block.length as usize].to_vec();
    Message::Piece { piece: block.piece, begin: block.begin, data }
}

/// Accepts `mt get`'s connection, answers its handshake (with the fast extension or without),
/// says it has every piece and sends `opening`; then gives each message to `script` until the
/// get hangs up or [`SCRIPT_LIMIT`] passes.
fn scripted_seed(
    listener: &RawListener,
    info_hash: InfoHash,
    fast: bool,
    opening: &[Message],
    mut script: impl FnMut(&mut RawPeer, Option<Message>) -> std::io::Result<()>,
) -> Result<(), String> {
    let mut peer = listener.accept(Duration::from_secs(30))?;
    let theirs = peer.read_handshake(Duration::from_secs(10))?;
    if theirs.info_hash != info_hash {
        return Err("mt get sent another torrent's info hash".into());
    }
    let mut ours = Handshake::new(info_hash, peer_id(5));
    if !fast {
        ours.reserved = [0; 8];
    }
    peer.send(&ours.encode()).map_err(|e| e.to_string())?;
    let mut all = vec![0xff; 17];
    all[16] = 0x80; // 129 pieces
    let have = if fast { Message::HaveAll } else { Message::Bitfield(all) };
    peer.send_message(&have).map_err(|e| e.to_string())?;
    for message in opening {
        peer.send_message(message).map_err(|e| e.to_string())?;
    }
    let deadline = Instant::now() + SCRIPT_LIMIT;
    while Instant::now() < deadline {
        match peer.next_message() {
            Ok(message) => {
                if script(&mut peer, message).is_err() {
                    return Ok(()); // the get hung up while we wrote
                }
            }
            Err(_) => return Ok(()), // the get hung up: it is done
        }
    }
    Ok(())
}

/// The `peer_closed` events of the get for the peer at `addr`.
fn closed_events(out: &crate::common::Output, addr: &str) -> Vec<Value> {
    out.events("peer_closed").into_iter().filter(|event| event["addr"] == addr).collect()
}

#[test]
fn a_block_rejected_by_an_unchoking_seed_is_requested_again() {
    let env = TestEnv::new();
    let (data, info_hash) = write_torrent(&env, LEN);
    let listener = RawListener::bind();
    let addr = listener.addr();
    let seed = thread::spawn(move || {
        let mut rejected = None;
        scripted_seed(&listener, info_hash, true, &[Message::Unchoke], |peer, message| {
            let Some(Message::Request(block)) = message else { return Ok(()) };
            if rejected.is_none() {
                // The first request only: "cannot serve it now", while we stay unchoked.
                rejected = Some(block);
                return peer.send_message(&Message::Reject(block));
            }
            peer.send_message(&piece_message(&data, block))
        })
    });
    let out = env.get("video.bin.torrent", "copy.bin", &["--peer", &addr, "--timeout", "20"]);
    seed.join().expect("the scripted seed's thread").expect("the scripted seed");
    out.expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}

#[test]
fn requests_a_choke_gives_back_are_cancelled_and_late_blocks_are_no_offence() {
    const CHOKES: usize = 4;
    let env = TestEnv::new();
    let (data, info_hash) = write_torrent(&env, LEN);
    let listener = RawListener::bind();
    let addr = listener.addr();
    let seed = thread::spawn(move || -> Result<Seen, String> {
        let mut seen = Seen::default();
        // Requests not yet answered, in order of arrival.
        let mut open: Vec<BlockInfo> = Vec::new();
        let mut first_open = Instant::now();
        scripted_seed(&listener, info_hash, false, &[Message::Unchoke], |peer, message| {
            match message {
                Some(Message::Request(block)) => {
                    if open.is_empty() {
                        first_open = Instant::now();
                    }
                    open.push(block);
                }
                Some(Message::Cancel(block)) => seen.stray_cancels += 1 - take(&mut open, block),
                _ => {}
            }
            let waited = first_open.elapsed() > Duration::from_millis(200);
            if open.is_empty() || (open.len() < 16 && !waited) {
                return Ok(());
            }
            if seen.chokes < CHOKES {
                // Choke with requests open (a peer without the fast extension drops them,
                // BEP 3), give the get time to cancel them, then send every one anyway, late,
                // and unchoke again.
                seen.chokes += 1;
                peer.send_message(&Message::Choke)?;
                let mut given_back = std::mem::take(&mut open);
                let mut late = given_back.clone();
                let until = Instant::now() + Duration::from_millis(500);
                while Instant::now() < until {
                    match peer.next_message() {
                        Ok(Some(Message::Cancel(block))) => {
                            let found = take(&mut given_back, block);
                            seen.cancels += found;
                            seen.stray_cancels += 1 - found;
                        }
                        // Sent before the get saw the choke: given back as well.
                        Ok(Some(Message::Request(block))) => {
                            given_back.push(block);
                            late.push(block);
                        }
                        Ok(_) => {}
                        Err(_) => return Err(std::io::ErrorKind::BrokenPipe.into()),
                    }
                }
                for block in late {
                    peer.send_message(&piece_message(&data, block))?;
                }
                return peer.send_message(&Message::Unchoke);
            }
            for block in open.drain(..) {
                peer.send_message(&piece_message(&data, block))?;
            }
            Ok(())
        })?;
        Ok(seen)
    });
    let out = env.get("video.bin.torrent", "copy.bin", &["--peer", &addr, "--timeout", "30"]);
    let seen = seed.join().expect("the scripted seed's thread").expect("the scripted seed");
    eprintln!("scripted seed saw {seen:?}");
    let closed = closed_events(&out, &addr);
    assert!(
        closed.iter().all(|e| !e["reason"].as_str().is_some_and(|r| r.contains("never asked"))),
        "blocks that arrive after a choke gave them back are no offence: {closed:?}"
    );
    out.expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
    assert_eq!(seen.chokes, CHOKES, "the seed choked the get {CHOKES} times");
    assert!(seen.cancels > 0, "requests a choke gives back are cancelled: {seen:?}");
    assert_eq!(seen.stray_cancels, 0, "cancels name requested blocks: {seen:?}");
}

#[test]
fn a_seed_that_never_unchokes_is_asked_for_its_allowed_fast_pieces() {
    // 8 pieces, all in the set the seed names: enough to finish without an unchoke.
    let env = TestEnv::new();
    let (data, info_hash) = write_torrent(&env, 8 * 32 * 1024);
    let listener = RawListener::bind();
    let addr = listener.addr();
    let seed = thread::spawn(move || {
        let allowed: Vec<Message> = (0..8).map(|piece| Message::AllowedFast { piece }).collect();
        scripted_seed(&listener, info_hash, true, &allowed, |peer, message| match message {
            Some(Message::Request(block)) => peer.send_message(&piece_message(&data, block)),
            _ => Ok(()),
        })
    });
    let out = env.get("video.bin.torrent", "copy.bin", &["--peer", &addr, "--timeout", "20"]);
    seed.join().expect("the scripted seed's thread").expect("the scripted seed");
    out.expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}

/// Removes `block` from `list` if it is there; returns 1 if it was, else 0.
fn take(list: &mut Vec<BlockInfo>, block: BlockInfo) -> usize {
    match list.iter().position(|b| *b == block) {
        Some(at) => {
            list.remove(at);
            1
        }
        None => 0,
    }
}
