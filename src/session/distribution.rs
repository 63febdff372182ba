//! How a seed spreads its pieces: each piece should leave the seed once, and the downloaders
//! pass it on among themselves.
//!
//! A seed's upload is what limits a swarm: a piece it sends twice costs the time of a piece
//! fewer peers have. Downloaders pick rarest first, but they cannot see what others are
//! fetching from the seed right now, so at the start and near the end several ask the seed
//! for the same piece at once. So while we are complete, we count for each piece the
//! connected peers that have it, plus one while we are sending it to a peer that does not
//! have it yet (the copies in the swarm), and the least of those counts. A request from a peer
//! with the fast extension (BEP 6) for a piece with more copies than the least is rejected
//! when that peer lacks a piece with the least copies: it asks the others for the piece it
//! was refused, and us for a rarer one. A peer that has every least-copied piece is served
//! whatever it asks, so no peer is starved when the holders choke it; peers without the fast
//! extension are always served, since a request cannot be refused to them.
//!
//! Invariant: a request is only ever refused while the requester lacks a piece that has the
//! fewest copies, which it may ask us for instead.

use std::time::{Duration, Instant};

use super::peers::Peers;
use crate::bitfield::Bitfield;
use crate::peer::PeerKey;
use crate::picker::Picker;

/// How long the count of copies stays fresh.
const RECOUNT_AFTER: Duration = Duration::from_millis(100);

/// What the distribution needs to know of the swarm.
pub trait SwarmView {
    /// How many connected peers have `piece`.
    fn availability(&self, piece: u32) -> u32;
    /// Whether `peer` has `piece`; `None` once it is gone.
    fn holds(&self, peer: PeerKey, piece: u32) -> Option<bool>;
}

/// The session's picker (which counts the pieces of connected peers) and its peers.
pub struct Connected<'a> {
    pub picker: &'a Picker,
    pub peers: &'a Peers,
}

impl SwarmView for Connected<'_> {
    fn availability(&self, piece: u32) -> u32 {
        self.picker.availability(piece)
    }

    fn holds(&self, peer: PeerKey, piece: u32) -> Option<bool> {
        self.peers.get(peer).map(|p| p.has.get(piece))
    }
}

/// Which of our pieces have left us, and to whom.
#[derive(Debug)]
pub struct Distribution {
    /// Per piece, the peer we last began sending it to.
    sent_to: Vec<Option<PeerKey>>,
    /// The pieces with the fewest copies, as of `counted_at`.
    least: Bitfield,
    /// Their number of copies.
    least_copies: u32,
    counted_at: Option<Instant>,
}

impl Distribution {
    pub fn new(piece_count: u32) -> Distribution {
        let len = usize::try_from(piece_count).unwrap_or(0);
        Distribution {
            sent_to: vec![None; len],
            least: Bitfield::new(piece_count),
            least_copies: 0,
            counted_at: None,
        }
    }

    /// Copies of `piece` in the swarm: connected peers that have it, plus one while we send
    /// it to a peer that does not have it yet, unless that peer is `asking` (which may ask
    /// again after a failed hash or a choke).
    fn copies(&self, piece: u32, swarm: &impl SwarmView, asking: Option<PeerKey>) -> u32 {
        let sending = self.sent_to.get(index(piece)).copied().flatten();
        let in_flight = sending
            .is_some_and(|peer| Some(peer) != asking && swarm.holds(peer, piece) == Some(false));
        swarm.availability(piece) + u32::from(in_flight)
    }

    /// Whether a complete seed should serve `requester` (which has `requester_has`) its
    /// request for `piece`.
    pub fn should_serve(
        &mut self,
        piece: u32,
        requester: PeerKey,
        requester_has: &Bitfield,
        swarm: &impl SwarmView,
        now: Instant,
    ) -> bool {
        if index(piece) >= self.sent_to.len() || requester_has.len() != self.least.len() {
            return true;
        }
        if self.counted_at.is_none_or(|at| now.duration_since(at) >= RECOUNT_AFTER) {
            self.recount(swarm);
            self.counted_at = Some(now);
        }
        self.copies(piece, swarm, Some(requester)) <= self.least_copies
            || !self.least.has_any_not_in(requester_has)
    }

    fn recount(&mut self, swarm: &impl SwarmView) {
        let pieces = self.least.len();
        let copies: Vec<u32> = (0..pieces).map(|piece| self.copies(piece, swarm, None)).collect();
        self.least_copies = copies.iter().copied().min().unwrap_or(0);
        self.least = Bitfield::new(pieces);
        for (piece, &count) in (0..pieces).zip(&copies) {
            if count == self.least_copies {
                self.least.set(piece);
            }
        }
    }

    /// We began sending `piece` to `peer`: it has one more copy, so it leaves the least
    /// copied at once (all of them gone, they are counted again at the next request).
    pub fn sending(&mut self, piece: u32, peer: PeerKey) {
        if let Some(slot) = self.sent_to.get_mut(index(piece)) {
            *slot = Some(peer);
            if self.least.get(piece) {
                self.least.clear(piece);
                if self.least.is_empty() {
                    self.counted_at = None;
                }
            }
        }
    }
}

fn index(piece: u32) -> usize {
    usize::try_from(piece).unwrap_or(usize::MAX)
}

/// A swarm made up for tests: the connected peers and what each has.
#[cfg(test)]
pub(super) struct TestSwarm(std::collections::HashMap<PeerKey, Bitfield>);

#[cfg(test)]
impl TestSwarm {
    pub fn new(pieces: u32, peers: &[PeerKey]) -> TestSwarm {
        TestSwarm(peers.iter().map(|&k| (k, Bitfield::new(pieces))).collect())
    }

    pub fn give(&mut self, peer: PeerKey, piece: u32) {
        self.0.get_mut(&peer).expect("a connected peer").set(piece);
    }

    pub fn has(&self, peer: PeerKey) -> Bitfield {
        self.0[&peer].clone()
    }
}

#[cfg(test)]
impl SwarmView for TestSwarm {
    fn availability(&self, piece: u32) -> u32 {
        let holders = self.0.values().filter(|has| has.get(piece)).count();
        u32::try_from(holders).expect("few peers")
    }

    fn holds(&self, peer: PeerKey, piece: u32) -> Option<bool> {
        self.0.get(&peer).map(|has| has.get(piece))
    }
}

#[cfg(test)]
mod tests {
    use super::TestSwarm as Swarm;
    use super::*;

    const A: PeerKey = PeerKey(1);
    const B: PeerKey = PeerKey(2);
    const C: PeerKey = PeerKey(3);

    fn serve(spread: &mut Distribution, swarm: &Swarm, peer: PeerKey, piece: u32) -> bool {
        // Every call is a fresh count, as if 100 ms had passed.
        spread.counted_at = None;
        spread.should_serve(piece, peer, &swarm.has(peer), swarm, Instant::now())
    }

    #[test]
    fn a_piece_being_sent_to_one_peer_is_refused_to_another_while_others_are_unsent() {
        let swarm = Swarm::new(4, &[A, B]);
        let mut spread = Distribution::new(4);
        assert!(serve(&mut spread, &swarm, A, 0));
        spread.sending(0, A);
        assert!(!serve(&mut spread, &swarm, B, 0));
        assert!(serve(&mut spread, &swarm, B, 1));
        // The peer it goes to may ask again (a failed hash, a choke in between).
        assert!(serve(&mut spread, &swarm, A, 0));
    }

    #[test]
    fn a_piece_another_peer_has_is_refused_while_others_are_unsent() {
        let mut swarm = Swarm::new(3, &[A, B]);
        swarm.give(A, 0);
        let mut spread = Distribution::new(3);
        assert!(!serve(&mut spread, &swarm, B, 0));
        assert!(serve(&mut spread, &swarm, B, 2));
    }

    #[test]
    fn once_every_piece_is_out_the_least_copied_go_first() {
        let mut swarm = Swarm::new(2, &[A, B, C]);
        swarm.give(A, 0);
        swarm.give(B, 0);
        swarm.give(A, 1);
        let mut spread = Distribution::new(2);
        // Piece 0 has two copies, piece 1 one: C, lacking both, is sent piece 1 first.
        assert!(!serve(&mut spread, &swarm, C, 0));
        assert!(serve(&mut spread, &swarm, C, 1));
        // B lacks piece 1, which has the fewest copies: served.
        assert!(serve(&mut spread, &swarm, B, 1));
    }

    #[test]
    fn a_peer_that_has_every_least_copied_piece_is_served_anything() {
        let mut swarm = Swarm::new(2, &[A, B, C]);
        swarm.give(A, 0);
        swarm.give(B, 0);
        swarm.give(C, 1);
        let mut spread = Distribution::new(2);
        // Piece 1 has the fewest copies and C has it: C may have piece 0 from us.
        assert!(serve(&mut spread, &swarm, C, 0));
    }

    #[test]
    fn a_piece_whose_receiver_left_counts_as_unsent_again() {
        let mut swarm = Swarm::new(2, &[A, B]);
        let mut spread = Distribution::new(2);
        spread.sending(0, C);
        assert!(serve(&mut spread, &swarm, B, 0), "C is gone: piece 0 has no copy");
        spread.sending(0, B);
        swarm.give(B, 0);
        assert!(!serve(&mut spread, &swarm, A, 0));
    }

    #[test]
    fn a_piece_index_out_of_range_is_left_to_the_range_check() {
        let swarm = Swarm::new(1, &[A]);
        let mut spread = Distribution::new(1);
        assert!(serve(&mut spread, &swarm, A, 7));
        spread.sending(7, A);
    }
}
