use std::collections::HashSet;

use super::*;

const A: PeerKey = PeerKey(1);
const B: PeerKey = PeerKey(2);
const C: PeerKey = PeerKey(3);

/// `total` bytes in pieces of `piece_length`, in blocks of `block_length`.
fn geometry(piece_length: u32, total: u64, block_length: u32) -> Geometry {
    Geometry::new(piece_length, total)
        .and_then(|g| g.with_block_length(block_length))
        .expect("valid geometry")
}

/// `piece_count` pieces of one 4-byte block each, none had.
fn one_block_pieces(piece_count: u32) -> Picker {
    let total = u64::from(piece_count) * 4;
    Picker::new(geometry(4, total, 4), &Bitfield::new(piece_count)).expect("valid geometry")
}

/// A bitfield of `len` pieces with `pieces` set.
fn bits(len: u32, pieces: &[u32]) -> Bitfield {
    let mut bits = Bitfield::new(len);
    for &piece in pieces {
        bits.set(piece);
    }
    bits
}

/// Registers `peers` as having every piece.
fn seed(picker: &mut Picker, peers: &[PeerKey]) {
    for &peer in peers {
        picker.peer_have_all(peer);
    }
}

fn accepted(piece_complete: bool) -> Received {
    Received::Accepted { piece_complete, cancel: Vec::new() }
}

#[test]
fn new_rejects_a_have_bitfield_of_another_torrent() {
    let err = Picker::new(geometry(8, 24, 4), &Bitfield::new(4)).expect_err("invalid");
    assert_eq!(err.to_string(), "have bitfield covers 4 pieces, the torrent has 3");
}

#[test]
fn short_last_piece_and_short_last_block() {
    // 21 bytes in 8-byte pieces of 3-byte blocks:
    // piece 0 |000|111|22|  piece 1 |000|111|22|  piece 2 |000|11|
    let mut picker = Picker::new(geometry(8, 21, 3), &Bitfield::new(3)).expect("valid geometry");
    seed(&mut picker, &[A, B, C]);
    picker.set_sequential(true);
    let blocks = picker.pick(A, &Bitfield::full(3), 100);
    let ranges: Vec<_> = blocks.iter().map(|b| (b.piece, b.begin, b.length)).collect();
    assert_eq!(
        ranges,
        [(0, 0, 3), (0, 3, 3), (0, 6, 2), (1, 0, 3), (1, 3, 3), (1, 6, 2), (2, 0, 3), (2, 3, 2)]
    );
    assert_eq!(picker.missing_bytes(), 21);
}

#[test]
fn a_block_of_the_wrong_size_is_unrequested() {
    let mut picker = Picker::new(geometry(8, 21, 3), &Bitfield::new(3)).expect("valid geometry");
    seed(&mut picker, &[A, B, C]);
    picker.pick(A, &Bitfield::full(3), 100);
    let cut = Block { piece: 2, begin: 3, length: 3 };
    assert_eq!(picker.block_received(A, &cut), Received::Unrequested);
    let unaligned = Block { piece: 0, begin: 1, length: 3 };
    assert_eq!(picker.block_received(A, &unaligned), Received::Unrequested);
    let past_end = Block { piece: 3, begin: 0, length: 3 };
    assert_eq!(picker.block_received(A, &past_end), Received::Unrequested);
    let last = Block { piece: 2, begin: 3, length: 2 };
    assert_eq!(picker.block_received(A, &last), accepted(false));
}

#[test]
fn rarest_piece_is_picked_first() {
    // We have pieces 0-3, so the first-pieces-at-random rule is over.
    let have = bits(8, &[0, 1, 2, 3]);
    let mut picker = Picker::new(geometry(4, 32, 4), &have).expect("valid geometry");
    picker.peer_have_all(A);
    picker.peer_bitfield(B, &bits(8, &[4, 5, 6]));
    picker.peer_bitfield(C, &bits(8, &[5]));
    // Availability: 4 → 2, 5 → 3, 6 → 2, 7 → 1.
    let order: Vec<u32> =
        (0..4).flat_map(|_| picker.pick(A, &Bitfield::full(8), 1)).map(|b| b.piece).collect();
    assert_eq!(order[0], 7);
    assert_eq!(HashSet::from([order[1], order[2]]), HashSet::from([4, 6]));
    assert_eq!(order[3], 5);
}

#[test]
fn rarest_ties_are_broken_at_random() {
    let mut first_picks = HashSet::new();
    for _ in 0..200 {
        let have = bits(8, &[0, 1, 2, 3]);
        let mut picker = Picker::new(geometry(4, 32, 4), &have).expect("valid geometry");
        picker.peer_have_all(A);
        if let Some(block) = picker.pick(A, &Bitfield::full(8), 1).first() {
            first_picks.insert(block.piece);
        }
    }
    assert_eq!(first_picks, HashSet::from([4, 5, 6, 7]));
}

#[test]
fn first_pieces_are_random_but_only_ones_the_peer_has() {
    let mut first_picks = HashSet::new();
    for _ in 0..200 {
        let mut picker = one_block_pieces(16);
        let peer_has = bits(16, &[2, 3, 11, 15]);
        picker.peer_bitfield(A, &peer_has);
        for block in picker.pick(A, &peer_has, 2) {
            assert!(peer_has.get(block.piece));
            first_picks.insert(block.piece);
        }
    }
    assert_eq!(first_picks, HashSet::from([2, 3, 11, 15]));
}

#[test]
fn sequential_mode_takes_the_lowest_index_first() {
    let mut picker = one_block_pieces(6);
    picker.set_sequential(true);
    let peer_has = bits(6, &[1, 2, 4, 5]);
    picker.peer_bitfield(A, &peer_has);
    picker.peer_bitfield(B, &bits(6, &[2, 4, 5]));
    let pieces: Vec<u32> = picker.pick(A, &peer_has, 3).iter().map(|b| b.piece).collect();
    assert_eq!(pieces, [1, 2, 4]);
}

#[test]
fn pieces_in_progress_are_finished_before_new_ones() {
    let mut picker = Picker::new(geometry(8, 64, 4), &Bitfield::new(8)).expect("valid geometry");
    seed(&mut picker, &[A, B, C]);
    let first = picker.pick(A, &Bitfield::full(8), 1);
    let second = picker.pick(B, &Bitfield::full(8), 1);
    assert_eq!(second[0].piece, first[0].piece);
    assert_eq!(second[0].begin, 4);
}

#[test]
fn no_block_is_requested_twice_in_normal_mode() {
    let mut picker = Picker::new(geometry(8, 64, 4), &Bitfield::new(8)).expect("valid geometry");
    seed(&mut picker, &[A, B, C]);
    let all = Bitfield::full(8);
    let mut seen = HashSet::new();
    for round in 0..5 {
        for peer in [A, B, C] {
            for block in picker.pick(peer, &all, 1) {
                assert!(seen.insert(block), "round {round}: {block:?} handed out twice");
            }
        }
    }
    assert_eq!(seen.len(), 15);
    assert!(!picker.is_endgame());
}

#[test]
fn a_peer_never_gets_its_own_outstanding_block_again() {
    let mut picker = one_block_pieces(3);
    seed(&mut picker, &[A, B, C]);
    assert_eq!(picker.pick(A, &Bitfield::full(3), 10).len(), 3);
    assert!(picker.is_endgame());
    assert_eq!(picker.pick(A, &Bitfield::full(3), 10), []);
    assert_eq!(picker.outstanding(A), 3);
}

#[test]
fn pieces_we_have_are_never_picked() {
    let have = bits(4, &[0, 2]);
    let mut picker = Picker::new(geometry(4, 16, 4), &have).expect("valid geometry");
    seed(&mut picker, &[A, B, C]);
    let pieces: HashSet<u32> =
        picker.pick(A, &Bitfield::full(4), 10).iter().map(|b| b.piece).collect();
    assert_eq!(pieces, HashSet::from([1, 3]));
}

#[test]
fn endgame_duplicates_requests_and_cancels_them_on_arrival() {
    let mut picker = one_block_pieces(2);
    seed(&mut picker, &[A, B, C]);
    let all = Bitfield::full(2);
    let slow = picker.pick(A, &all, 10);
    assert_eq!(slow.len(), 2);
    let duplicates = picker.pick(B, &all, 10);
    assert_eq!(HashSet::<Block>::from_iter(duplicates.clone()), HashSet::from_iter(slow));

    let block = duplicates[0];
    let expected = Received::Accepted { piece_complete: true, cancel: vec![(A, block)] };
    assert_eq!(picker.block_received(B, &block), expected);
    assert_eq!((picker.outstanding(A), picker.outstanding(B)), (1, 1));
    assert_eq!(picker.block_received(A, &block), Received::Duplicate);
}

#[test]
fn endgame_shares_a_block_with_at_most_a_few_peers() {
    let mut picker = one_block_pieces(1);
    let all = Bitfield::full(1);
    let peers: Vec<PeerKey> = (0..10).map(PeerKey).collect();
    seed(&mut picker, &peers);
    let handed_out: usize = peers.iter().map(|&peer| picker.pick(peer, &all, 10).len()).sum();
    assert_eq!(handed_out, MAX_REQUESTERS);
}

#[test]
fn in_endgame_a_block_is_accepted_from_any_peer() {
    let mut picker = one_block_pieces(1);
    seed(&mut picker, &[A, B, C]);
    let block = picker.pick(A, &Bitfield::full(1), 1)[0];
    assert!(picker.is_endgame());
    let expected = Received::Accepted { piece_complete: true, cancel: vec![(A, block)] };
    assert_eq!(picker.block_received(B, &block), expected);
    assert_eq!(picker.outstanding(A), 0);
}

#[test]
fn a_block_never_requested_from_the_sender_is_unrequested() {
    let mut picker = one_block_pieces(4);
    seed(&mut picker, &[A, B, C]);
    let all = Bitfield::full(4);
    let block = picker.pick(A, &all, 1)[0];
    assert!(!picker.is_endgame());
    assert_eq!(picker.block_received(B, &block), Received::Unrequested);
    let other = Block { piece: (block.piece + 1) % 4, begin: 0, length: 4 };
    assert_eq!(picker.block_received(A, &other), Received::Unrequested);
    assert_eq!(picker.block_received(A, &block), accepted(true));
}

#[test]
fn a_block_received_twice_is_a_duplicate() {
    let mut picker = Picker::new(geometry(8, 8, 4), &Bitfield::new(1)).expect("valid geometry");
    seed(&mut picker, &[A, B, C]);
    let blocks = picker.pick(A, &Bitfield::full(1), 2);
    assert_eq!(picker.block_received(A, &blocks[0]), accepted(false));
    assert_eq!(picker.block_received(A, &blocks[0]), Received::Duplicate);
    assert_eq!(picker.block_received(A, &blocks[1]), accepted(true));
    picker.piece_verified(0);
    assert_eq!(picker.block_received(A, &blocks[1]), Received::Duplicate);
}

#[test]
fn choke_returns_all_outstanding_blocks_to_the_pool() {
    let mut picker = Picker::new(geometry(8, 32, 4), &Bitfield::new(4)).expect("valid geometry");
    seed(&mut picker, &[A, B, C]);
    let all = Bitfield::full(4);
    let taken = picker.pick(A, &all, 3);
    assert_eq!(picker.peer_choked(A).len(), 3);
    assert_eq!(picker.outstanding(A), 0);
    assert_eq!(picker.block_received(A, &taken[0]), Received::Unrequested);
    let retaken = picker.pick(B, &all, 3);
    assert_eq!(HashSet::<Block>::from_iter(retaken), HashSet::from_iter(taken));
}

#[test]
fn a_block_that_arrives_after_its_request_was_given_back_is_taken_if_still_needed() {
    let mut picker = Picker::new(geometry(8, 32, 4), &Bitfield::new(4)).expect("valid geometry");
    seed(&mut picker, &[A, B]);
    let all = Bitfield::full(4);
    let taken = picker.pick(A, &all, 2);
    let given_back = picker.peer_choked(A);
    assert_eq!(HashSet::<Block>::from_iter(given_back), HashSet::from_iter(taken.clone()));
    // Block 0 is missing again, block 1 now requested from B: both are still wanted.
    let retaken = picker.pick(B, &all, 1);
    assert_eq!(retaken.len(), 1);
    let (missing, with_b) = match retaken[0] == taken[0] {
        true => (taken[1], taken[0]),
        false => (taken[0], taken[1]),
    };
    assert_eq!(picker.block_received_late(A, &missing), accepted(false));
    let cancel = vec![(B, with_b)];
    assert_eq!(
        picker.block_received_late(A, &with_b),
        Received::Accepted { piece_complete: true, cancel }
    );
    assert_eq!(picker.outstanding(B), 0);
    assert_eq!(picker.block_received_late(A, &with_b), Received::Duplicate);
    assert!(picker.pick(B, &all, 8).iter().all(|b| b.piece != with_b.piece));
}

#[test]
fn timed_out_peer_returns_its_blocks_to_the_pool() {
    let mut picker = one_block_pieces(2);
    seed(&mut picker, &[A, B, C]);
    let all = Bitfield::full(2);
    picker.pick(A, &all, 2);
    assert!(picker.is_endgame());
    assert_eq!(picker.peer_timed_out(A).len(), 2);
    assert!(!picker.is_endgame());
    assert_eq!(picker.pick(B, &all, 2).len(), 2);
}

#[test]
fn reject_returns_one_block_to_the_pool() {
    let mut picker = Picker::new(geometry(8, 16, 4), &Bitfield::new(2)).expect("valid geometry");
    seed(&mut picker, &[A, B, C]);
    let all = Bitfield::full(2);
    let taken = picker.pick(A, &all, 2);
    picker.request_rejected(A, &taken[1]);
    picker.request_rejected(B, &taken[0]);
    assert_eq!(picker.outstanding(A), 1);
    assert_eq!(picker.pick(B, &all, 1), [taken[1]]);
}

#[test]
fn failed_piece_names_its_contributors_and_is_picked_again() {
    let mut picker = Picker::new(geometry(8, 8, 4), &Bitfield::new(1)).expect("valid geometry");
    seed(&mut picker, &[A, B, C]);
    let all = Bitfield::full(1);
    let from_a = picker.pick(A, &all, 1);
    let from_b = picker.pick(B, &all, 1);
    assert_eq!(picker.block_received(A, &from_a[0]), accepted(false));
    assert_eq!(picker.block_received(B, &from_b[0]), accepted(true));

    assert_eq!(picker.piece_failed(0), [A, B]);
    assert!(!picker.have().get(0));
    assert_eq!(picker.missing_bytes(), 8);
    let again: HashSet<Block> = picker.pick(C, &all, 10).into_iter().collect();
    assert_eq!(again, HashSet::from([from_a[0], from_b[0]]));
    assert_eq!(picker.block_received(C, &from_a[0]), accepted(false));
}

#[test]
fn verified_piece_is_had_and_no_longer_missing() {
    let mut picker = Picker::new(geometry(8, 21, 4), &Bitfield::new(3)).expect("valid geometry");
    assert!(picker.interesting(&bits(3, &[2])));
    picker.piece_verified(2);
    picker.piece_verified(2);
    assert!(picker.have().get(2));
    assert_eq!(picker.missing_bytes(), 16);
    assert!(!picker.interesting(&bits(3, &[2])));
    assert!(!picker.is_complete());
}

#[test]
fn peer_left_lowers_availability_and_returns_its_blocks() {
    let mut picker = one_block_pieces(4);
    picker.peer_bitfield(A, &bits(4, &[0, 1]));
    picker.peer_have(A, 2);
    picker.peer_have_all(B);
    assert_eq!((0..4).map(|p| picker.availability(p)).collect::<Vec<_>>(), [2, 2, 2, 1]);
    let taken = picker.pick(A, &bits(4, &[0, 1, 2]), 3);
    picker.peer_left(A);
    assert_eq!((0..4).map(|p| picker.availability(p)).collect::<Vec<_>>(), [1, 1, 1, 1]);
    assert_eq!(picker.outstanding(A), 0);
    picker.peer_left(B);
    assert_eq!((0..4).map(|p| picker.availability(p)).collect::<Vec<_>>(), [0, 0, 0, 0]);
    picker.peer_have_all(C);
    let retaken: HashSet<Block> = picker.pick(C, &Bitfield::full(4), 3).into_iter().collect();
    assert_eq!(retaken, HashSet::from_iter(taken));
}

#[test]
fn a_new_bitfield_replaces_what_the_peer_had() {
    let mut picker = one_block_pieces(3);
    picker.peer_bitfield(A, &bits(3, &[0, 1]));
    picker.peer_bitfield(A, &bits(3, &[1, 2]));
    assert_eq!((0..3).map(|p| picker.availability(p)).collect::<Vec<_>>(), [0, 1, 1]);
    picker.peer_bitfield(A, &Bitfield::full(3));
    picker.peer_have(A, 0);
    assert_eq!((0..3).map(|p| picker.availability(p)).collect::<Vec<_>>(), [1, 1, 1]);
}

/// A peer in the simulated swarm: what it has and the requests it has not answered.
struct SimPeer {
    key: PeerKey,
    has: Bitfield,
    queue: Vec<Block>,
}

#[test]
fn full_download_from_two_peers_ends_complete() {
    // 10 pieces of 20 bytes in 8-byte blocks, 190 bytes: short last piece and short blocks.
    let mut picker = Picker::new(geometry(20, 190, 8), &Bitfield::new(10)).expect("valid geometry");
    let mut peers = [
        SimPeer { key: A, has: Bitfield::full(10), queue: Vec::new() },
        SimPeer { key: B, has: bits(10, &[0, 2, 4, 6, 8, 9]), queue: Vec::new() },
    ];
    picker.peer_have_all(A);
    picker.peer_bitfield(B, &peers[1].has);
    let mut corrupted_once = false;

    for _round in 0..1000 {
        if picker.is_complete() {
            break;
        }
        for peer in &mut peers {
            let room = 4 - peer.queue.len();
            peer.queue.extend(picker.pick(peer.key, &peer.has, room));
        }
        for turn in 0..peers.len() {
            // A answers its oldest request each round, B its newest.
            let peer = &mut peers[turn];
            let answer = match peer.key {
                B => peer.queue.pop(),
                _ if peer.queue.is_empty() => None,
                _ => Some(peer.queue.remove(0)),
            };
            let Some(block) = answer else { continue };
            let Received::Accepted { piece_complete, cancel } =
                picker.block_received(peer.key, &block)
            else {
                panic!("{block:?} from {:?} was requested but not accepted", peer.key);
            };
            for (other, cancelled) in cancel {
                for sim in peers.iter_mut().filter(|sim| sim.key == other) {
                    sim.queue.retain(|&b| b != cancelled);
                }
            }
            if piece_complete {
                if !corrupted_once && block.piece == 9 {
                    corrupted_once = true;
                    assert!(!picker.piece_failed(9).is_empty());
                } else {
                    picker.piece_verified(block.piece);
                }
            }
        }
    }
    assert!(picker.is_complete());
    assert!(corrupted_once);
    assert_eq!(picker.missing_bytes(), 0);
    assert!(picker.have().is_complete());
    assert_eq!(picker.pick(A, &Bitfield::full(10), 4), []);
}

#[test]
fn unwanted_pieces_are_never_picked_and_completion_needs_only_the_wanted() {
    let mut picker = one_block_pieces(6);
    picker.set_wanted(&bits(6, &[1, 4]));
    seed(&mut picker, &[A]);
    assert!(!picker.interesting(&bits(6, &[0, 2, 3, 5])), "only unwanted pieces");
    assert!(picker.interesting(&bits(6, &[4])));
    let picked: HashSet<u32> =
        picker.pick(A, &Bitfield::full(6), 10).iter().map(|b| b.piece).collect();
    assert_eq!(picked, HashSet::from([1, 4]));
    picker.piece_verified(1);
    assert!(!picker.is_complete());
    picker.piece_verified(4);
    assert!(picker.is_complete());
    assert_eq!(picker.missing_bytes(), 0);
    assert_eq!(picker.have().count(), 2);
}
