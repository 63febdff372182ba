//! Super-seeding (BEP 16): a first seed that shows no pieces and offers each peer, with a
//! `have`, a piece that is not yet in the swarm, so its upload goes to pieces the swarm lacks
//! and the downloaders pass them on among themselves.
//!
//! Each peer holds at most [`OFFERS_PER_PEER`] offers it has not taken yet and
//! [`MAX_HELD`] it has taken but not passed on. An offer closes when the piece
//! has spread: another peer announces it, or the peer that was offered it has it and no
//! other connected peer lacks it (there is no one to pass it to), or it has had it for
//! [`HOLD`] without another peer taking it (its neighbours may be choked by it; a peer that
//! does not share gets a piece every [`HOLD`], not the seed's whole upload). A peer whose
//! offer closed is offered a piece it lacks that no peer was ever seen to have and that no
//! open offer holds, the least often offered first. Peers that finish leave the seed, so
//! the pieces seen are remembered, not counted among the connected peers: a piece that
//! spread is not sent again because its holders left. Once no such piece is left, a peer is
//! offered more only once it is stuck: for [`STUCK`] it announced no piece it got from
//! another peer (its holders may have left the swarm for good). A stuck peer gets the pieces
//! it lacks with the fewest copies, as a normal seed would send them, until it announces a
//! piece from another peer again. A peer may request only the pieces it was offered; every
//! request for another is refused.
//!
//! Invariant: a piece is offered twice only after it was lost (its only holder left before
//! announcing it) or to a stuck peer.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::distribution::{Connected, SwarmView};
use super::swarm::Swarm;
use crate::bitfield::Bitfield;
use crate::peer::{PeerCommand, PeerKey};
use crate::wire::Message;

/// Offers a peer has not taken yet: two keep its pipeline busy while it announces the first.
pub const OFFERS_PER_PEER: usize = 2;
/// Offers a peer may have taken and not yet passed on: a few, so that the seed goes on
/// sending while the first ones spread, but a peer that shares nothing gets no more.
pub const MAX_HELD: usize = 4;
/// Upload slots of a super seed: every interested peer is unchoked, since each may take only
/// the pieces it was offered.
pub const UPLOAD_SLOTS: usize = 64;
/// How long a peer may hold a piece it got from us before its offer closes anyway.
pub const HOLD: Duration = Duration::from_secs(5);
/// How long a peer with no open offer may go without announcing a piece before it is
/// offered one that is already in the swarm.
pub const STUCK: Duration = Duration::from_secs(5);

/// One piece offered to one peer.
#[derive(Clone, Copy, Debug)]
struct Offer {
    piece: u32,
    /// When the peer announced it has the piece.
    taken_at: Option<Instant>,
}

/// What one peer was offered.
#[derive(Debug)]
struct PeerOffers {
    /// Every piece ever offered to it: those it may request.
    granted: Bitfield,
    /// Offers that have not spread yet.
    open: Vec<Offer>,
    /// When it joined or last announced a piece it got from another peer.
    last_progress: Instant,
    /// It went [`STUCK`] without a piece from another peer, and has had none since.
    stuck: bool,
}

impl PeerOffers {
    /// Open offers it has not taken yet.
    fn untaken(&self) -> usize {
        self.open.iter().filter(|offer| offer.taken_at.is_none()).count()
    }
}

/// The super-seeding state of a complete seed.
#[derive(Debug)]
pub struct SuperSeed {
    /// Per piece, how often it was offered.
    times_offered: Vec<u32>,
    /// Per piece, its open offers.
    open_offers: Vec<u32>,
    /// Per piece, how many times a peer was seen to have it (a `have` or a bitfield), even
    /// peers that left since.
    seen: Vec<u32>,
    peers: HashMap<PeerKey, PeerOffers>,
}

impl SuperSeed {
    pub fn new(piece_count: u32) -> SuperSeed {
        let len = usize::try_from(piece_count).unwrap_or(0);
        SuperSeed {
            times_offered: vec![0; len],
            open_offers: vec![0; len],
            seen: vec![0; len],
            peers: HashMap::new(),
        }
    }

    /// Whether `peer` may be served `piece`: we offered it.
    pub fn may_serve(&self, peer: PeerKey, piece: u32) -> bool {
        self.peers.get(&peer).is_some_and(|offers| offers.granted.get(piece))
    }

    /// Tops up `peer`'s open offers; returns the pieces newly offered, to announce to it.
    pub fn offer(&mut self, peer: PeerKey, swarm: &impl SwarmView, now: Instant) -> Vec<u32> {
        let pieces = self.piece_count();
        let offers = self.peers.entry(peer).or_insert_with(|| PeerOffers {
            granted: Bitfield::new(pieces),
            open: Vec::new(),
            last_progress: now,
            stuck: false,
        });
        offers.stuck |= now.duration_since(offers.last_progress) >= STUCK;
        let stuck = offers.stuck;
        let mut new = Vec::new();
        while offers.untaken() < OFFERS_PER_PEER && offers.open.len() < OFFERS_PER_PEER + MAX_HELD {
            let choice = Choice {
                times_offered: &self.times_offered,
                open_offers: &self.open_offers,
                seen: &self.seen,
                granted: &offers.granted,
            };
            let Some(piece) = choice
                .fresh(peer, swarm)
                .or_else(|| stuck.then(|| choice.fewest_copies(peer, swarm)).flatten())
            else {
                break;
            };
            offers.granted.set(piece);
            offers.open.push(Offer { piece, taken_at: None });
            self.times_offered[index(piece)] += 1;
            self.open_offers[index(piece)] += 1;
            new.push(piece);
        }
        new
    }

    /// `from` announced `piece` (the swarm view already counts it). Closes the offers this
    /// spread; returns the peers that may be offered more.
    pub fn announced(
        &mut self,
        from: PeerKey,
        piece: u32,
        swarm: &impl SwarmView,
        now: Instant,
    ) -> Vec<PeerKey> {
        let Some(seen) = self.seen.get_mut(index(piece)) else { return Vec::new() };
        *seen = seen.saturating_add(1);
        if let Some(offers) = self.peers.get_mut(&from)
            && !offers.granted.get(piece)
        {
            offers.last_progress = now;
            offers.stuck = false;
        }
        let others_lack =
            self.peers.keys().any(|&k| k != from && swarm.holds(k, piece) == Some(false));
        let holders = swarm.availability(piece);
        let mut freed = Vec::new();
        for (&key, offers) in &mut self.peers {
            let Some(at) = offers.open.iter().position(|offer| offer.piece == piece) else {
                continue;
            };
            let spread = if key == from { holders >= 2 || !others_lack } else { true };
            if spread {
                offers.open.swap_remove(at);
                self.open_offers[index(piece)] -= 1;
            } else {
                offers.open[at].taken_at = Some(now);
            }
            freed.push(key);
        }
        freed
    }

    /// `peer` announced a whole set (a bitfield): its pieces are seen, and offers of pieces
    /// it has are spent. Returns the peers that may be offered more.
    pub fn replaced(
        &mut self,
        peer: PeerKey,
        swarm: &impl SwarmView,
        now: Instant,
    ) -> Vec<PeerKey> {
        let open: Vec<u32> = match self.peers.get(&peer) {
            Some(offers) => offers.open.iter().map(|offer| offer.piece).collect(),
            None => Vec::new(),
        };
        let mut freed = Vec::new();
        for piece in 0..self.piece_count() {
            if swarm.holds(peer, piece) != Some(true) {
                continue;
            }
            if open.contains(&piece) {
                freed.extend(self.announced(peer, piece, swarm, now));
            } else {
                self.seen[index(piece)] = self.seen[index(piece)].saturating_add(1);
            }
        }
        freed.sort_unstable();
        freed.dedup();
        freed
    }

    /// Closes offers held longer than [`HOLD`]; returns the peers that may be offered more,
    /// with those that are stuck.
    pub fn expire(&mut self, now: Instant) -> Vec<PeerKey> {
        let mut freed = Vec::new();
        for (&key, offers) in &mut self.peers {
            let before = offers.open.len();
            let open_offers = &mut self.open_offers;
            offers.open.retain(|offer| {
                let keep = offer.taken_at.is_none_or(|at| now.duration_since(at) < HOLD);
                if !keep {
                    open_offers[index(offer.piece)] -= 1;
                }
                keep
            });
            let stuck = offers.untaken() == 0
                && (offers.stuck || now.duration_since(offers.last_progress) >= STUCK);
            if offers.open.len() < before || stuck {
                freed.push(key);
            }
        }
        freed
    }

    /// `peer` is gone: its open offers are free for others.
    pub fn peer_left(&mut self, peer: PeerKey) {
        if let Some(offers) = self.peers.remove(&peer) {
            for offer in offers.open {
                self.open_offers[index(offer.piece)] -= 1;
            }
        }
    }

    fn piece_count(&self) -> u32 {
        u32::try_from(self.times_offered.len()).unwrap_or(u32::MAX)
    }
}

/// What the next offer to one peer is chosen from.
struct Choice<'a> {
    times_offered: &'a [u32],
    open_offers: &'a [u32],
    seen: &'a [u32],
    granted: &'a Bitfield,
}

impl Choice<'_> {
    /// A piece `peer` lacks that no peer was seen to have and no open offer holds, the least
    /// often offered.
    fn fresh(&self, peer: PeerKey, swarm: &impl SwarmView) -> Option<u32> {
        self.best(peer, swarm, |i| {
            (self.seen[i] == 0 && self.open_offers[i] == 0).then_some((self.times_offered[i], 0))
        })
    }

    /// The piece `peer` lacks with the fewest copies (connected holders and open offers),
    /// then the least seen.
    fn fewest_copies(&self, peer: PeerKey, swarm: &impl SwarmView) -> Option<u32> {
        self.best(peer, swarm, |i| {
            let piece = u32::try_from(i).unwrap_or(u32::MAX);
            Some((swarm.availability(piece) + self.open_offers[i], self.seen[i]))
        })
    }

    /// The piece with the lowest score among those `peer` lacks and was not offered. The
    /// scan starts at a place that depends on the peer, so that peers with equal choices take
    /// different pieces.
    fn best(
        &self,
        peer: PeerKey,
        swarm: &impl SwarmView,
        score: impl Fn(usize) -> Option<(u32, u32)>,
    ) -> Option<u32> {
        let len = self.times_offered.len();
        let spread = peer.0.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let start = usize::try_from(spread % u64::try_from(len).ok()?.max(1)).unwrap_or(0);
        let mut best: Option<((u32, u32), u32)> = None;
        for step in 0..len {
            let i = (start + step) % len;
            let piece = u32::try_from(i).ok()?;
            if self.granted.get(piece) || swarm.holds(peer, piece) != Some(false) {
                continue;
            }
            if let Some(value) = score(i)
                && best.is_none_or(|(b, _)| value < b)
            {
                best = Some((value, piece));
            }
        }
        best.map(|(_, piece)| piece)
    }
}

/// The session's side: announcing offers and closing them as pieces spread.
impl Swarm {
    /// Tops up the offers of `keys` and announces each new one with a `have`.
    pub(super) fn make_offers(&mut self, keys: &[PeerKey]) {
        let Some(super_seed) = &mut self.super_seed else { return };
        let swarm = Connected { picker: &self.picker, peers: &self.peers };
        let now = Instant::now();
        for &key in keys {
            let Some(peer) = self.peers.get(key) else { continue };
            let offered = super_seed.offer(key, &swarm, now);
            if !offered.is_empty() {
                let haves = offered.into_iter().map(|piece| Message::Have { piece }).collect();
                peer.handle.send(PeerCommand::Send(haves));
            }
        }
    }

    /// `key` announced `piece` (or, with `None`, a whole bitfield): offers it spread close,
    /// and their peers are offered more.
    pub(super) fn offers_spread(&mut self, key: PeerKey, piece: Option<u32>) {
        let Some(super_seed) = &mut self.super_seed else { return };
        let swarm = Connected { picker: &self.picker, peers: &self.peers };
        let now = Instant::now();
        let freed = match piece {
            Some(piece) => super_seed.announced(key, piece, &swarm, now),
            None => super_seed.replaced(key, &swarm, now),
        };
        self.make_offers(&freed);
    }

    /// Closes offers held past [`HOLD`] and offers their peers more.
    pub(super) fn expire_offers(&mut self, now: Instant) {
        let Some(super_seed) = &mut self.super_seed else { return };
        let freed = super_seed.expire(now);
        self.make_offers(&freed);
    }
}

fn index(piece: u32) -> usize {
    usize::try_from(piece).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::super::distribution::TestSwarm as Swarm;
    use super::*;

    const A: PeerKey = PeerKey(1);
    const B: PeerKey = PeerKey(2);
    const C: PeerKey = PeerKey(3);

    #[test]
    fn every_piece_is_offered_once_before_any_twice() {
        let peers = [A, B, C];
        let mut swarm = Swarm::new(8, &peers);
        let mut seed = SuperSeed::new(8);
        let now = Instant::now();
        let mut offered = Vec::new();
        for &peer in &peers {
            offered.extend(seed.offer(peer, &swarm, now));
        }
        assert_eq!(offered.len(), 6, "two offers each");
        let mut sorted = offered.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 6, "six different pieces: {offered:?}");
        for &peer in &peers {
            assert!(seed.offer(peer, &swarm, now).is_empty(), "no more than two open offers");
        }
        // A has its first piece, B and C lack it: held, and A may take another.
        let piece = offered[0];
        swarm.give(A, piece);
        assert_eq!(seed.announced(A, piece, &swarm, now), vec![A]);
        let next = seed.offer(A, &swarm, now);
        assert_eq!(next.len(), 1);
        assert!(!offered.contains(&next[0]), "a piece no one was offered");
        assert!(seed.may_serve(A, next[0]) && !seed.may_serve(B, next[0]));
    }

    #[test]
    fn a_peer_that_passes_nothing_on_gets_no_more_than_its_held_offers() {
        let mut swarm = Swarm::new(16, &[A, B]);
        let mut seed = SuperSeed::new(16);
        let now = Instant::now();
        seed.offer(B, &swarm, now);
        let mut granted = seed.offer(A, &swarm, now);
        for round in 0..10 {
            let Some(&piece) = granted.get(round) else { break };
            swarm.give(A, piece);
            seed.announced(A, piece, &swarm, now);
            granted.extend(seed.offer(A, &swarm, now));
        }
        assert_eq!(granted.len(), OFFERS_PER_PEER + MAX_HELD, "{granted:?}");
        // B takes one from A: A may have one more.
        swarm.give(B, granted[0]);
        seed.announced(B, granted[0], &swarm, now);
        assert_eq!(seed.offer(A, &swarm, now).len(), 1);
    }

    #[test]
    fn a_lone_peer_is_offered_on_as_soon_as_it_has_a_piece() {
        let mut swarm = Swarm::new(4, &[A]);
        let mut seed = SuperSeed::new(4);
        let now = Instant::now();
        let first = seed.offer(A, &swarm, now);
        assert_eq!(first.len(), 2);
        swarm.give(A, first[0]);
        assert_eq!(seed.announced(A, first[0], &swarm, now), vec![A]);
        let next = seed.offer(A, &swarm, now);
        assert_eq!(next.len(), 1);
        assert!(!first.contains(&next[0]));
    }

    #[test]
    fn a_held_piece_is_released_after_the_hold() {
        let mut swarm = Swarm::new(4, &[A, B]);
        let mut seed = SuperSeed::new(4);
        let then = Instant::now();
        let first = seed.offer(A, &swarm, then);
        seed.offer(B, &swarm, then);
        swarm.give(A, first[0]);
        seed.announced(A, first[0], &swarm, then);
        seed.offer(A, &swarm, then);
        assert!(seed.expire(then + HOLD / 2).is_empty());
        assert_eq!(seed.expire(then + HOLD), vec![A]);
    }

    #[test]
    fn only_offered_pieces_are_served_and_a_peer_that_left_frees_its_offers() {
        let swarm = Swarm::new(2, &[A, B]);
        let mut seed = SuperSeed::new(2);
        let now = Instant::now();
        let a = seed.offer(A, &swarm, now);
        assert_eq!(a.len(), 2);
        assert!(!seed.may_serve(B, a[0]), "B was offered nothing");
        assert!(seed.offer(B, &swarm, now).is_empty(), "both pieces are on offer to A");
        seed.peer_left(A);
        assert!(!seed.may_serve(A, a[0]));
        assert_eq!(seed.offer(B, &swarm, now).len(), 2, "A's pieces were lost with it");
    }

    #[test]
    fn offers_of_pieces_a_bitfield_shows_are_replaced() {
        let mut swarm = Swarm::new(4, &[A]);
        let mut seed = SuperSeed::new(4);
        let now = Instant::now();
        let first = seed.offer(A, &swarm, now);
        swarm.give(A, first[0]);
        swarm.give(A, first[1]);
        assert_eq!(seed.replaced(A, &swarm, now), vec![A]);
        let next = seed.offer(A, &swarm, now);
        assert_eq!(next.len(), 2);
        assert!(next.iter().all(|p| !first.contains(p)));
    }

    #[test]
    fn a_piece_that_spread_is_not_sent_again_when_its_holders_leave_until_a_peer_is_stuck() {
        let mut swarm = Swarm::new(2, &[A, B]);
        let mut seed = SuperSeed::new(2);
        let now = Instant::now();
        let offered = seed.offer(A, &swarm, now);
        for &piece in &offered {
            swarm.give(A, piece);
            seed.announced(A, piece, &swarm, now);
            swarm.give(B, piece);
            seed.announced(B, piece, &swarm, now);
        }
        seed.peer_left(A);
        seed.peer_left(B);
        let swarm = Swarm::new(2, &[C]);
        assert!(seed.offer(C, &swarm, now).is_empty(), "both pieces are in the swarm");
        assert!(seed.expire(now + STUCK / 2).is_empty());
        assert_eq!(seed.expire(now + STUCK), vec![C]);
        assert_eq!(seed.offer(C, &swarm, now + STUCK).len(), 2, "a stuck peer gets them");
    }

    #[test]
    fn a_stuck_peer_is_served_until_it_gets_a_piece_from_another_peer() {
        let mut swarm = Swarm::new(8, &[A, B]);
        let mut seed = SuperSeed::new(8);
        let start = Instant::now();
        // A has every piece and announced them all; it leaves; B lacks them all.
        seed.offer(A, &swarm, start);
        for piece in 0..8 {
            swarm.give(A, piece);
            seed.announced(A, piece, &swarm, start);
        }
        seed.peer_left(A);
        let swarm_b = Swarm::new(8, &[B]);
        let mut swarm = swarm_b;
        assert!(seed.offer(B, &swarm, start).is_empty(), "every piece was seen");
        let now = start + STUCK;
        let first = seed.offer(B, &swarm, now);
        assert_eq!(first.len(), 2, "stuck");
        for &piece in &first {
            swarm.give(B, piece);
            seed.announced(B, piece, &swarm, now);
        }
        let second = seed.offer(B, &swarm, now);
        assert_eq!(second.len(), 2, "still stuck: its pieces came from us");
        // A piece from elsewhere: B is not stuck any more.
        let elsewhere =
            (0..8).find(|p| !first.contains(p) && !second.contains(p)).expect("a piece");
        swarm.give(B, elsewhere);
        seed.announced(B, elsewhere, &swarm, now);
        for &piece in &second {
            swarm.give(B, piece);
            seed.announced(B, piece, &swarm, now);
        }
        assert!(seed.offer(B, &swarm, now).is_empty(), "B gets pieces from others again");
    }
}
