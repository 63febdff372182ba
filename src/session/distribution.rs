//! How a seed spreads its pieces: each piece should leave the seed once, and the downloaders
//! pass it on among themselves.
//!
//! A seed's upload is what limits a swarm: a piece it sends twice costs the time of a piece
//! nobody has yet. Downloaders pick rarest first, but they cannot see what others are
//! fetching from the seed right now, so at the start and near the end several ask the seed
//! for the same piece at once. So while we are complete, a request from a peer with the fast
//! extension (BEP 6) for a piece that is already out (another connected peer has it, or we
//! began sending it to another peer that is still connected) is rejected as long as some
//! piece is still held by nobody but us: the peer asks the others for the piece it was
//! refused, and us for one that only we have. Once every piece is out, every request is
//! served again, so a peer that the holders choke is never starved; peers without the fast
//! extension are always served, since a request cannot be refused to them.
//!
//! Invariant: a request is only ever refused while a piece exists that nobody but us has,
//! which the refused peer may ask for instead.

use std::time::{Duration, Instant};

use crate::peer::PeerKey;

/// How long a count of the pieces nobody else has stays fresh.
const RECOUNT_AFTER: Duration = Duration::from_millis(100);

/// Which of our pieces have left us, and to whom.
#[derive(Debug)]
pub struct Distribution {
    /// Per piece, the peer we last began sending it to.
    sent_to: Vec<Option<PeerKey>>,
    /// Pieces that no connected peer has and that we never began sending to one, as of
    /// `counted_at`.
    unsent: usize,
    counted_at: Option<Instant>,
}

impl Distribution {
    pub fn new(piece_count: u32) -> Distribution {
        let len = usize::try_from(piece_count).unwrap_or(0);
        Distribution { sent_to: vec![None; len], unsent: 0, counted_at: None }
    }

    /// Whether a complete seed should serve `requester`'s request for `piece`. `availability`
    /// tells how many connected peers have a piece; `connected` whether a peer still is.
    pub fn should_serve(
        &mut self,
        piece: u32,
        requester: PeerKey,
        availability: impl Fn(u32) -> u32,
        connected: impl Fn(PeerKey) -> bool,
        now: Instant,
    ) -> bool {
        let out = |sent_to: Option<PeerKey>, piece: u32| {
            availability(piece) > 0 || sent_to.is_some_and(|k| k != requester && connected(k))
        };
        let Some(&sent_to) = self.sent_to.get(index(piece)) else { return true };
        if !out(sent_to, piece) {
            return true;
        }
        if self.counted_at.is_none_or(|at| now.duration_since(at) >= RECOUNT_AFTER) {
            self.unsent = (0..self.sent_to.len())
                .filter(|&i| {
                    let piece = u32::try_from(i).unwrap_or(u32::MAX);
                    !(availability(piece) > 0 || self.sent_to[i].is_some_and(&connected))
                })
                .count();
            self.counted_at = Some(now);
        }
        self.unsent == 0
    }

    /// We began sending `piece` to `peer`.
    pub fn sending(&mut self, piece: u32, peer: PeerKey, connected: impl Fn(PeerKey) -> bool) {
        if let Some(slot) = self.sent_to.get_mut(index(piece))
            && !slot.is_some_and(&connected)
        {
            if slot.is_none() {
                self.unsent = self.unsent.saturating_sub(1);
            }
            *slot = Some(peer);
        }
    }
}

fn index(piece: u32) -> usize {
    usize::try_from(piece).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: PeerKey = PeerKey(1);
    const B: PeerKey = PeerKey(2);

    fn nobody_has(_: u32) -> u32 {
        0
    }

    fn everyone_connected(_: PeerKey) -> bool {
        true
    }

    #[test]
    fn a_piece_sent_to_one_peer_is_refused_to_another_while_others_are_unsent() {
        let now = Instant::now();
        let mut spread = Distribution::new(4);
        assert!(spread.should_serve(0, A, nobody_has, everyone_connected, now));
        spread.sending(0, A, everyone_connected);
        assert!(!spread.should_serve(0, B, nobody_has, everyone_connected, now));
        assert!(spread.should_serve(1, B, nobody_has, everyone_connected, now));
        // The peer it went to may ask again (a failed hash, a choke in between).
        assert!(spread.should_serve(0, A, nobody_has, everyone_connected, now));
    }

    #[test]
    fn a_piece_another_peer_has_is_refused_while_others_are_unsent() {
        let now = Instant::now();
        let mut spread = Distribution::new(3);
        let only_piece_0 = |piece: u32| u32::from(piece == 0);
        assert!(!spread.should_serve(0, B, only_piece_0, everyone_connected, now));
    }

    #[test]
    fn once_every_piece_is_out_every_request_is_served() {
        let now = Instant::now();
        let mut spread = Distribution::new(2);
        spread.sending(0, A, everyone_connected);
        spread.sending(1, A, everyone_connected);
        assert!(spread.should_serve(0, B, nobody_has, everyone_connected, now));
        let everyone_has = |_: u32| 3;
        assert!(spread.should_serve(1, B, everyone_has, everyone_connected, now));
    }

    #[test]
    fn a_piece_whose_receiver_left_counts_as_unsent_again() {
        let now = Instant::now();
        let mut spread = Distribution::new(2);
        spread.sending(0, A, everyone_connected);
        let a_left = |key: PeerKey| key != A;
        assert!(spread.should_serve(0, B, nobody_has, a_left, now));
        spread.sending(0, B, a_left);
        assert!(!spread.should_serve(0, A, nobody_has, everyone_connected, now));
    }

    #[test]
    fn a_piece_index_out_of_range_is_left_to_the_range_check() {
        let mut spread = Distribution::new(1);
        assert!(spread.should_serve(7, A, nobody_has, everyone_connected, Instant::now()));
        spread.sending(7, A, everyone_connected);
    }
}
