//! Super-seeding (BEP 16): `mt seed --super-seed` shows its peers no pieces, then offers
//! each a piece no other peer was offered with a `have`, serves only what it offered, and
//! offers a peer a fresh piece in place of each it takes, so a first seed sends each piece
//! about once and the downloaders pass them on. When an offer closes (held until another
//! peer has the piece) is tested in the unit tests of `session::super_seed`.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::swarm::{GET_LIMIT, Seed, announce_url, assert_same_file, tracker};
use crate::common::{TestEnv, require_libtorrent};
use crate::support::raw_peer::{RawPeer, peer_id};
use mt::metainfo::Metainfo;
use mt::types::InfoHash;
use mt::wire::{BlockInfo, Message};

/// 2 MiB and a bit in 32 KiB pieces: 65 pieces.
const LEN: usize = 2 * 1024 * 1024 + 777;
const PIECES: u32 = 65;
const BLOCK: u32 = 16 * 1024;
/// How long the seed may take to make its first offers.
const OFFER_LIMIT: Duration = Duration::from_secs(10);
/// How long a peer listens for messages once the seed has gone quiet.
const QUIET: Duration = Duration::from_millis(1500);

/// Writes `video.bin` and its torrent (with `extra` flags for `mt create`); returns the info hash.
fn write_torrent(env: &TestEnv, extra: &[&str]) -> InfoHash {
    env.write_generated("video.bin", LEN, 16);
    let mut args = vec!["create", "-p", "32K", "video.bin"];
    args.extend_from_slice(extra);
    env.run(&args).expect_code(0);
    let meta = Metainfo::load(&env.path("video.bin.torrent")).expect("the torrent loads");
    assert_eq!(meta.layout().piece_count(), PIECES);
    meta.info_hash
}

fn super_seed(env: &TestEnv) -> Seed {
    env.seed("video.bin.torrent", "video.bin", &["--super-seed"])
}

/// A raw fast-extension peer `n` that has exchanged handshakes with the seed.
fn handshaken(seed: &Seed, info_hash: InfoHash, n: u32) -> RawPeer {
    let mut peer = RawPeer::connect(&seed.addr).expect("connect to the seed");
    let theirs = peer.handshake(info_hash, peer_id(n)).expect("the seed answers");
    assert!(theirs.supports_fast(), "mt offers the fast extension");
    peer
}

/// The pieces the seed announces to `peer` until it goes quiet; panics if it claims more than
/// single pieces (a bitfield or `have all`).
fn offers(peer: &mut RawPeer) -> BTreeSet<u32> {
    let messages = peer.read_until_quiet(QUIET, OFFER_LIMIT).expect("read the seed's messages");
    let mut offered = BTreeSet::new();
    for message in messages {
        match message {
            Message::Have { piece } => {
                offered.insert(piece);
            }
            Message::HaveAll | Message::Bitfield(_) => {
                panic!("a super seed shows its pieces: {message:?}")
            }
            Message::AllowedFast { piece } => panic!("a super seed names allowed-fast {piece}"),
            _ => {}
        }
    }
    offered
}

#[test]
fn a_super_seed_shows_no_pieces_and_offers_each_peer_pieces_no_other_was_offered() {
    let env = TestEnv::new();
    let info_hash = write_torrent(&env, &[]);
    let seed = super_seed(&env);
    let mut first = handshaken(&seed, info_hash, 1);
    let mut opening = first.read_until_quiet(QUIET, OFFER_LIMIT).expect("read the opening");
    let shown = opening.iter().position(|m| *m == Message::HaveNone);
    let offered = opening.iter().position(|m| matches!(m, Message::Have { .. }));
    assert!(
        matches!((shown, offered), (Some(none), Some(have)) if none < have),
        "`have none`, then offers: {opening:?}"
    );
    let first_offers: BTreeSet<u32> = opening
        .drain(..)
        .filter_map(|m| match m {
            Message::Have { piece } => Some(piece),
            _ => None,
        })
        .collect();
    let mut second = handshaken(&seed, info_hash, 2);
    let second_offers = offers(&mut second);
    assert!(!second_offers.is_empty(), "the second peer is offered a piece");
    assert!(first_offers.len() <= 2 && second_offers.len() <= 2, "a piece or two at a time");
    assert!(
        first_offers.is_disjoint(&second_offers),
        "each piece offered to one peer: {first_offers:?} and {second_offers:?}"
    );

    // It serves what it offered and rejects the rest.
    first.send_message(&Message::Interested).expect("send interested");
    first
        .wait_for_message(OFFER_LIMIT, |m| *m == Message::Unchoke)
        .expect("the seed unchokes an interested peer");
    let offered = *first_offers.first().expect("an offer");
    let hidden = (0..PIECES).find(|p| !first_offers.contains(p)).expect("a piece not offered");
    let asked = [offered, hidden].map(|piece| BlockInfo { piece, begin: 0, length: BLOCK });
    for block in asked {
        first.send_message(&Message::Request(block)).expect("send a request");
    }
    let answers = first.read_until_quiet(QUIET, OFFER_LIMIT).expect("read the answers");
    let served =
        answers.iter().any(|m| matches!(m, Message::Piece { piece, .. } if *piece == offered));
    let rejected = answers.iter().any(|m| *m == Message::Reject(asked[1]));
    assert!(served, "the offered piece {offered} is served: {answers:?}");
    assert!(rejected, "the piece {hidden} it did not offer is rejected: {answers:?}");
}

#[test]
fn a_peer_that_announces_an_offered_piece_is_offered_one_no_one_was_offered() {
    let env = TestEnv::new();
    let info_hash = write_torrent(&env, &[]);
    let seed = super_seed(&env);
    let mut first = handshaken(&seed, info_hash, 1);
    let first_offers = offers(&mut first);
    let mut second = handshaken(&seed, info_hash, 2);
    let second_offers = offers(&mut second);
    let piece = *first_offers.first().expect("the first peer has an offer");
    first.send_message(&Message::Have { piece }).expect("send have");
    let next = offers(&mut first);
    assert_eq!(next.len(), 1, "one new offer in place of the piece taken: {next:?}");
    let before: BTreeSet<u32> = first_offers.union(&second_offers).copied().collect();
    assert!(next.is_disjoint(&before), "a fresh piece: {next:?} after {before:?}");
}

#[test]
fn libtorrent_downloaders_finish_from_a_super_seed() {
    if !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    let tracker = tracker();
    write_torrent(&env, &["-t", &announce_url(&tracker)]);
    let seed = super_seed(&env);
    let gets: Vec<_> = (0..3)
        .map(|n| {
            let save = format!("lt{n}");
            env.libtorrent("get", "video.bin.torrent", &save, &["--peer", &seed.addr])
        })
        .collect();
    for (n, get) in gets.into_iter().enumerate() {
        get.process.wait(GET_LIMIT).expect_code(0);
        assert_same_file(&env.path("video.bin"), &env.path(&format!("lt{n}/video.bin")));
    }
}
