//! `mt seed` answers BEP 52 hash requests from its piece layers: the hashes of a layer with
//! the uncle hashes that prove them against the file's `pieces root`, a `hash reject` for
//! what it will not answer, and a malformed hash message ends that peer only. Below the piece
//! layer, down to the 16 KiB leaves, it answers from the data of pieces it has verified.

use std::time::Duration;

use mt::merkle::{PieceTree, Span, check_answer};
use mt::metainfo::Metainfo;
use mt::wire::{HashRequest, Message};

use crate::common::TestEnv;
use crate::common::process::Running;
use crate::common::swarm::STARTUP;
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
        HashRequest { base_layer: 0, length: 128, ..good },
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

/// The SHA-256 of each 16 KiB block of `bytes`: the leaf layer.
fn leaves(bytes: &[u8]) -> Vec<mt::merkle::Node> {
    bytes.chunks(mt::merkle::LEAF_LEN).map(mt::merkle::leaf).collect()
}

#[test]
fn leaf_hashes_are_hashed_from_the_data_and_prove_out_to_the_pieces_root() {
    let env = TestEnv::new();
    let (meta, _seed, mut peer) = seed_and_peer(&env);
    let file = big_file(&meta);
    let root = meta.info.files[file].pieces_root.expect("a pieces root");
    let data = env.read(&format!("tree/{}", meta.info.files[file].path.join("/")));
    let leaves = leaves(&data);
    assert_eq!(leaves.len(), 43);
    // 32 KiB pieces of 2 leaves; the file's tree is 64 leaves wide, 6 levels above them.
    let height = 6;
    let one_piece =
        HashRequest { pieces_root: root, base_layer: 0, index: 6, length: 2, proof_layers: 5 };
    for request in [
        one_piece,
        HashRequest { index: 42, length: 1, ..one_piece },
        HashRequest { index: 32, length: 32, ..one_piece },
        HashRequest { index: 0, length: 64, proof_layers: 0, ..one_piece },
    ] {
        let Message::Hashes { request: answered, hashes } = ask(&mut peer, request) else {
            panic!("{request:?} is answered")
        };
        assert_eq!(answered, request);
        let (first, length) = (request.index as usize, request.length as usize);
        let real = leaves.len().min(first + length).saturating_sub(first);
        assert_eq!(hashes[..real], leaves[first..first + real], "{request:?}");
        if request.length.is_power_of_two() && request.proof_layers == 5 {
            let span = Span::new(0, request.index, request.length, 5, height).expect("fits");
            assert!(check_answer(&root, span, height, &hashes), "{request:?}");
        }
    }
}

#[test]
fn leaf_hashes_of_a_piece_the_seed_does_not_have_are_rejected() {
    let env = TestEnv::new();
    env.tree("tree", TREE);
    env.run(&["create", "--v2", "-p", "32K", "tree"]).expect_code(0);
    let meta = Metainfo::load(&env.path("tree.torrent")).expect("the torrent loads");
    let file = big_file(&meta);
    let path = format!("tree/{}", meta.info.files[file].path.join("/"));
    // Damage the file's fourth piece (leaves 6 and 7).
    env.flip_byte(&path, 3 * 32 * 1024 + 5);
    let args = ["seed", "tree.torrent", "tree", "--bind", "127.0.0.1", "-p", "0", "--json"];
    let mut seed = Running::spawn(env.mt(&args));
    let seeding = seed.wait_for_event("seeding", STARTUP);
    assert_eq!(seeding["missing_pieces"], 1, "{seeding}");
    let addr = seeding["addr"].as_str().expect("an addr");
    let mut peer = RawPeer::connect(addr).expect("connect to the seed");
    peer.handshake(meta.info_hash, peer_id(1)).expect("handshake");
    let root = meta.info.files[file].pieces_root.expect("a pieces root");
    let damaged =
        HashRequest { pieces_root: root, base_layer: 0, index: 6, length: 2, proof_layers: 5 };
    for request in [damaged, HashRequest { index: 0, length: 16, ..damaged }] {
        assert_eq!(ask(&mut peer, request), Message::HashReject(request), "{request:?}");
    }
    let good = HashRequest { index: 8, ..damaged };
    assert!(matches!(ask(&mut peer, good), Message::Hashes { .. }), "a verified piece is");
}
