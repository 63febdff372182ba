//! `mt seed` answers BEP 52 hash requests from its piece layers: the hashes of a layer with
//! the uncle hashes that prove them against the file's `pieces root`, a `hash reject` for
//! what it will not answer, and a malformed hash message ends that peer only.

use std::time::Duration;

use mt::merkle::{PieceTree, Span, check_answer};
use mt::metainfo::Metainfo;
use mt::wire::{HashRequest, Message};

use crate::common::TestEnv;
use crate::libtorrent::TREE;
use crate::support::raw_peer::{RawPeer, peer_id};

const LIMIT: Duration = Duration::from_secs(10);

/// A v2 seed of the libtorrent tests' tree (32 KiB pieces: the piece layer is 1 above the
/// leaves) and a raw peer handshaken with it.
fn seed_and_peer(env: &TestEnv) -> (Metainfo, crate::common::swarm::Seed, RawPeer) {
    env.tree("tree", TREE);
    env.run(&["create", "--v2", "-p", "32K", "tree"]).expect_code(0);
    let meta = Metainfo::load(&env.path("tree.torrent")).expect("the torrent loads");
    let seed = env.seed("tree.torrent", "tree", &[]);
    let mut peer = RawPeer::connect(&seed.addr).expect("connect to the seed");
    let theirs = peer.handshake(meta.info_hash, peer_id(1)).expect("handshake");
    assert!(theirs.supports_v2(), "the v2 bit is set for a v2 torrent");
    (meta, seed, peer)
}

/// The file of 700,001 bytes: 22 pieces, a tree 32 pieces wide.
fn big_file(meta: &Metainfo) -> usize {
    meta.info.files.iter().position(|f| f.length == 700_001).expect("the big file")
}

fn ask(peer: &mut RawPeer, request: HashRequest) -> Message {
    peer.send_message(&Message::HashRequest(request)).expect("send");
    peer.wait_for_message(LIMIT, |m| matches!(m, Message::Hashes { .. } | Message::HashReject(_)))
        .expect("an answer")
}

#[test]
fn hash_requests_get_the_piece_layer_and_proofs_that_reach_the_root() {
    let env = TestEnv::new();
    let (meta, _seed, mut peer) = seed_and_peer(&env);
    let file = big_file(&meta);
    let root = meta.info.files[file].pieces_root.expect("a pieces root");
    let layer = &meta.piece_layers[file];
    let height = PieceTree::new(layer, meta.info.piece_length).height();
    // What libtorrent asks for such a file: the whole layer, proof layers up to the root.
    let whole =
        HashRequest { pieces_root: root, base_layer: 1, index: 0, length: 32, proof_layers: 4 };
    let Message::Hashes { request, hashes } = ask(&mut peer, whole) else {
        panic!("the whole layer is answered")
    };
    assert_eq!(request, whole);
    assert_eq!(hashes[..22], layer[..], "the piece layer, then pad hashes");
    assert!(check_answer(&root, Span::new(0, 0, 32, 4, height).expect("fits"), height, &hashes));
    // Eight hashes from the middle come with the two uncles that lead to the root.
    let part = HashRequest { index: 8, length: 8, ..whole };
    let Message::Hashes { hashes, .. } = ask(&mut peer, part) else { panic!("answered") };
    assert_eq!(hashes.len(), 10);
    assert_eq!(hashes[..8], layer[8..16]);
    assert!(check_answer(&root, Span::new(0, 8, 8, 4, height).expect("fits"), height, &hashes));
}

#[test]
fn hash_requests_it_cannot_answer_are_rejected() {
    let env = TestEnv::new();
    let (meta, _seed, mut peer) = seed_and_peer(&env);
    let root = meta.info.files[big_file(&meta)].pieces_root.expect("a pieces root");
    let good =
        HashRequest { pieces_root: root, base_layer: 1, index: 0, length: 32, proof_layers: 4 };
    for bad in [
        HashRequest { pieces_root: [7; 32], ..good },
        HashRequest { index: 32, length: 2, ..good },
        HashRequest { index: 4, length: 8, ..good },
        HashRequest { proof_layers: 5, ..good },
        HashRequest { length: 0, ..good },
        HashRequest { length: 1 << 20, ..good },
        HashRequest { base_layer: 0, ..good },
        HashRequest { base_layer: u32::MAX, ..good },
    ] {
        assert_eq!(ask(&mut peer, bad), Message::HashReject(bad), "{bad:?}");
    }
    assert!(matches!(ask(&mut peer, good), Message::Hashes { .. }), "still served");
}

#[test]
fn a_malformed_hash_message_ends_that_peer_only() {
    let env = TestEnv::new();
    let (meta, seed, mut peer) = seed_and_peer(&env);
    // A hash request one byte short, and hashes that are not whole.
    peer.send(&[0, 0, 0, 48, 21]).expect("send");
    peer.send(&[0; 47]).expect("send");
    peer.wait_closed(LIMIT).expect("the seed hangs up");
    let mut other = RawPeer::connect(&seed.addr).expect("connect again");
    other.handshake(meta.info_hash, peer_id(2)).expect("handshake");
    let mut ragged = vec![0, 0, 0, 82, 22];
    ragged.extend_from_slice(&[0; 81]);
    other.send(&ragged).expect("send");
    other.wait_closed(LIMIT).expect("the seed hangs up");
    let mut third = RawPeer::connect(&seed.addr).expect("the seed still serves");
    third.handshake(meta.info_hash, peer_id(3)).expect("handshake");
}
