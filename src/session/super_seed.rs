//! Super-seeding (BEP 16): a first seed that shows no pieces and offers each peer, with a
//! `have`, a piece that no other peer was offered, so its upload goes to pieces the swarm
//! lacks and the downloaders pass them on among themselves.
//!
//! Each peer holds at most [`OFFERS_PER_PEER`] open offers. An offer closes when the piece
//! has spread: another peer announces it, or the peer that was offered it has it and no
//! other connected peer lacks it (there is no one to pass it to), or it has had it for
//! [`HOLD`] without another peer taking it (its neighbours may be choked by it; a peer that
//! does not share gets a piece every [`HOLD`], not the seed's whole upload). A peer whose offer
//! closed is offered its next piece: the piece it lacks with the fewest copies (peers that have
//! it plus open offers), of those the one offered least often. A peer may request only the
//! pieces it was offered; every request for another is refused.
//!
//! Invariant: while some piece has never been offered, no piece is offered twice.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::distribution::{Connected, SwarmView};
use super::swarm::Swarm;
use crate::bitfield::Bitfield;
use crate::peer::{PeerCommand, PeerKey};
use crate::wire::Message;

/// Open offers per peer: two keep its pipeline busy while it announces the first.
pub const OFFERS_PER_PEER: usize = 2;
/// How long a peer may hold a piece it got from us before its offer closes anyway.
pub const HOLD: Duration = Duration::from_secs(5);

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
}

/// The super-seeding state of a complete seed.
#[derive(Debug)]
pub struct SuperSeed {
    /// Per piece, how often it was offered.
    times_offered: Vec<u32>,
    /// Per piece, its open offers.
    open_offers: Vec<u32>,
    peers: HashMap<PeerKey, PeerOffers>,
}

impl SuperSeed {
    pub fn new(piece_count: u32) -> SuperSeed {
        let len = usize::try_from(piece_count).unwrap_or(0);
        SuperSeed { times_offered: vec![0; len], open_offers: vec![0; len], peers: HashMap::new() }
    }

    /// Whether `peer` may be served `piece`: we offered it.
    pub fn may_serve(&self, peer: PeerKey, piece: u32) -> bool {
        self.peers.get(&peer).is_some_and(|offers| offers.granted.get(piece))
    }

    /// Tops up `peer`'s open offers; returns the pieces newly offered, to announce to it.
    pub fn offer(&mut self, peer: PeerKey, swarm: &impl SwarmView) -> Vec<u32> {
        let pieces = self.piece_count();
        let offers = self
            .peers
            .entry(peer)
            .or_insert_with(|| PeerOffers { granted: Bitfield::new(pieces), open: Vec::new() });
        let mut new = Vec::new();
        while offers.open.len() < OFFERS_PER_PEER {
            let Some(piece) =
                best_offer(&self.times_offered, &self.open_offers, &offers.granted, peer, swarm)
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
                freed.push(key);
            } else {
                offers.open[at].taken_at = Some(now);
            }
        }
        freed
    }

    /// `peer` announced a whole set (a bitfield): offers of pieces it has are spent.
    pub fn replaced(
        &mut self,
        peer: PeerKey,
        swarm: &impl SwarmView,
        now: Instant,
    ) -> Vec<PeerKey> {
        let held: Vec<u32> = match self.peers.get(&peer) {
            Some(offers) => offers
                .open
                .iter()
                .filter(|offer| swarm.holds(peer, offer.piece) == Some(true))
                .map(|offer| offer.piece)
                .collect(),
            None => return Vec::new(),
        };
        let mut freed = Vec::new();
        for piece in held {
            freed.extend(self.announced(peer, piece, swarm, now));
        }
        freed.sort_unstable();
        freed.dedup();
        freed
    }

    /// Closes offers held longer than [`HOLD`]; returns the peers that may be offered more.
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
            if offers.open.len() < before {
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

/// The piece to offer `peer` next: one it lacks and was not offered, with the fewest copies
/// (holders plus open offers), then offered least often. The scan starts at a place that
/// depends on the peer, so that peers with equal choices take different pieces.
fn best_offer(
    times_offered: &[u32],
    open_offers: &[u32],
    granted: &Bitfield,
    peer: PeerKey,
    swarm: &impl SwarmView,
) -> Option<u32> {
    let len = times_offered.len();
    if len == 0 {
        return None;
    }
    let start =
        usize::try_from(peer.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) % len as u64).unwrap_or(0);
    let mut best: Option<(u32, u32, u32)> = None;
    for step in 0..len {
        let i = (start + step) % len;
        let piece = u32::try_from(i).ok()?;
        if granted.get(piece) || swarm.holds(peer, piece) != Some(false) {
            continue;
        }
        let copies = swarm.availability(piece) + open_offers[i];
        let score = (copies, times_offered[i], piece);
        if best.is_none_or(|b| (score.0, score.1) < (b.0, b.1)) {
            best = Some(score);
        }
    }
    best.map(|(_, _, piece)| piece)
}

/// The session's side: announcing offers and closing them as pieces spread.
impl Swarm {
    /// Tops up the offers of `keys` and announces each new one with a `have`.
    pub(super) fn make_offers(&mut self, keys: &[PeerKey]) {
        let Some(super_seed) = &mut self.super_seed else { return };
        let swarm = Connected { picker: &self.picker, peers: &self.peers };
        for &key in keys {
            let Some(peer) = self.peers.get(key) else { continue };
            let offered = super_seed.offer(key, &swarm);
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
    use std::collections::HashMap;

    use super::*;

    const A: PeerKey = PeerKey(1);
    const B: PeerKey = PeerKey(2);
    const C: PeerKey = PeerKey(3);

    /// Connected peers and what each has.
    struct Swarm(HashMap<PeerKey, Bitfield>);

    impl Swarm {
        fn new(pieces: u32, peers: &[PeerKey]) -> Swarm {
            Swarm(peers.iter().map(|&k| (k, Bitfield::new(pieces))).collect())
        }

        fn give(&mut self, peer: PeerKey, piece: u32) {
            self.0.get_mut(&peer).expect("a connected peer").set(piece);
        }
    }

    impl SwarmView for Swarm {
        fn availability(&self, piece: u32) -> u32 {
            let holders = self.0.values().filter(|has| has.get(piece)).count();
            u32::try_from(holders).expect("few peers")
        }

        fn holds(&self, peer: PeerKey, piece: u32) -> Option<bool> {
            self.0.get(&peer).map(|has| has.get(piece))
        }
    }

    #[test]
    fn every_piece_is_offered_once_before_any_twice() {
        let peers = [A, B, C];
        let mut swarm = Swarm::new(6, &peers);
        let mut seed = SuperSeed::new(6);
        let mut offered = Vec::new();
        for &peer in &peers {
            offered.extend(seed.offer(peer, &swarm));
        }
        assert_eq!(offered.len(), 6, "two offers each");
        let mut sorted = offered.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 6, "six different pieces: {offered:?}");
        for &peer in &peers {
            assert!(seed.offer(peer, &swarm).is_empty(), "no more than two open offers");
        }
        // Everyone else takes A's first piece: A is offered one of the pieces others hold.
        let piece = offered[0];
        swarm.give(A, piece);
        let now = Instant::now();
        assert!(seed.announced(A, piece, &swarm, now).is_empty(), "B and C lack it: held");
        swarm.give(B, piece);
        assert_eq!(seed.announced(B, piece, &swarm, now), vec![A]);
        let next = seed.offer(A, &swarm);
        assert_eq!(next.len(), 1);
        assert!(seed.may_serve(A, next[0]) && !seed.may_serve(B, next[0]));
    }

    #[test]
    fn a_lone_peer_is_offered_on_as_soon_as_it_has_a_piece() {
        let mut swarm = Swarm::new(4, &[A]);
        let mut seed = SuperSeed::new(4);
        let first = seed.offer(A, &swarm);
        assert_eq!(first.len(), 2);
        swarm.give(A, first[0]);
        assert_eq!(seed.announced(A, first[0], &swarm, Instant::now()), vec![A]);
        let next = seed.offer(A, &swarm);
        assert_eq!(next.len(), 1);
        assert!(!first.contains(&next[0]));
    }

    #[test]
    fn a_held_piece_is_released_after_the_hold() {
        let mut swarm = Swarm::new(4, &[A, B]);
        let mut seed = SuperSeed::new(4);
        let first = seed.offer(A, &swarm);
        seed.offer(B, &swarm);
        swarm.give(A, first[0]);
        let then = Instant::now();
        assert!(seed.announced(A, first[0], &swarm, then).is_empty());
        assert!(seed.expire(then + HOLD / 2).is_empty());
        assert_eq!(seed.expire(then + HOLD), vec![A]);
    }

    #[test]
    fn only_offered_pieces_are_served_and_a_peer_that_left_frees_its_offers() {
        let swarm = Swarm::new(2, &[A, B]);
        let mut seed = SuperSeed::new(2);
        let a = seed.offer(A, &swarm);
        assert_eq!(a.len(), 2);
        assert!(!seed.may_serve(B, a[0]), "B was offered nothing");
        assert!(seed.offer(B, &swarm).iter().all(|&p| seed.times_offered[index(p)] == 2));
        seed.peer_left(A);
        assert!(!seed.may_serve(A, a[0]));
        assert!(seed.open_offers.iter().all(|&n| n <= 1));
    }

    #[test]
    fn offers_of_pieces_a_bitfield_shows_are_replaced() {
        let mut swarm = Swarm::new(4, &[A]);
        let mut seed = SuperSeed::new(4);
        let first = seed.offer(A, &swarm);
        swarm.give(A, first[0]);
        swarm.give(A, first[1]);
        assert_eq!(seed.replaced(A, &swarm, Instant::now()), vec![A]);
        let next = seed.offer(A, &swarm);
        assert_eq!(next.len(), 2);
        assert!(next.iter().all(|p| !first.contains(p)));
    }
}
