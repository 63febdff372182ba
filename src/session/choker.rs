//! Choosing whom to upload to (BEP 3 choking): a fixed number of regular slots given to the
//! interested peers with the best rates, plus one optimistic slot that rotates so newcomers
//! get a chance to prove themselves. Pure: it takes figures and returns a decision; the
//! session sends the `choke` and `unchoke` messages.
//!
//! The [`Choker`] keeps what lasts between decisions: the slot count, the optimistic peer and
//! when each was last chosen. The session rechokes every [`CHOKE_INTERVAL`] and rotates the
//! optimistic slot every [`OPTIMISTIC_INTERVAL`]. Between rechokes a slot never stays empty
//! while someone waits: when a peer leaves or loses interest, [`Choker::refill`] names the
//! waiting peers to unchoke at once.
//!
//! Invariant: a peer holds a slot only while it is unchoked *and* interested; an unchoked
//! peer that wants nothing more (it finished, or has all we have) holds none, so it cannot
//! keep a waiting peer choked until the next rechoke.

use std::time::{Duration, Instant};

use crate::picker::PeerKey;

/// Time between two rechokes.
pub const CHOKE_INTERVAL: Duration = Duration::from_secs(10);
/// Time an optimistic unchoke lasts before another peer gets the slot.
pub const OPTIMISTIC_INTERVAL: Duration = Duration::from_secs(30);

/// The choking state that lasts between decisions.
#[derive(Debug)]
pub struct Choker {
    /// Regular upload slots.
    slots: usize,
    optimistic: Option<PeerKey>,
    last_rechoke: Instant,
    last_optimistic: Instant,
}

impl Choker {
    /// A choker with `slots` regular slots, its first rechoke due a full interval after `now`.
    pub fn new(slots: usize, now: Instant) -> Choker {
        Choker { slots, optimistic: None, last_rechoke: now, last_optimistic: now }
    }

    /// Whether a rechoke is due.
    pub fn due(&self, now: Instant) -> bool {
        now.duration_since(self.last_rechoke) >= CHOKE_INTERVAL
    }

    /// The peers to unchoke now: the best regular peers plus the optimistic one, which is
    /// picked again when its time is up or it is gone.
    pub fn rechoke(&mut self, now: Instant, candidates: &[Candidate]) -> Vec<PeerKey> {
        self.last_rechoke = now;
        let regular = unchoke_set(candidates, self.slots, None);
        if self.optimistic.is_none()
            || now.duration_since(self.last_optimistic) >= OPTIMISTIC_INTERVAL
        {
            self.last_optimistic = now;
            self.optimistic = pick_optimistic(candidates, &regular);
        }
        unchoke_set(candidates, self.slots, self.optimistic)
    }

    /// The peers to unchoke now so that no slot stays empty while an interested peer waits:
    /// choked interested peers, best rate first, as many as there are free slots (the regular
    /// ones and the optimistic one). Peers that are unchoked but not interested hold no slot.
    pub fn refill(&self, candidates: &[Candidate]) -> Vec<PeerKey> {
        let holding = candidates.iter().filter(|c| c.unchoked && c.interested).count();
        let free = (self.slots + 1).saturating_sub(holding);
        let mut waiting: Vec<&Candidate> =
            candidates.iter().filter(|c| c.interested && !c.unchoked).collect();
        waiting.sort_by(|a, b| b.rate.cmp(&a.rate).then(a.key.cmp(&b.key)));
        waiting.into_iter().take(free).map(|c| c.key).collect()
    }

    /// A peer left: it no longer holds the optimistic slot.
    pub fn forget(&mut self, key: PeerKey) {
        if self.optimistic == Some(key) {
            self.optimistic = None;
        }
    }
}

/// One peer as the choker sees it.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    /// The peer.
    pub key: PeerKey,
    /// It wants data from us.
    pub interested: bool,
    /// Its rate: what it sends us while we download, what we send it while we seed.
    pub rate: u64,
    /// We unchoke it now.
    pub unchoked: bool,
}

/// The peers to unchoke: the `slots` best-rated interested peers, plus `optimistic` if it is
/// interested and not already among them.
pub fn unchoke_set(
    candidates: &[Candidate],
    slots: usize,
    optimistic: Option<PeerKey>,
) -> Vec<PeerKey> {
    let mut interested: Vec<&Candidate> = candidates.iter().filter(|c| c.interested).collect();
    interested.sort_by(|a, b| b.rate.cmp(&a.rate).then(a.key.cmp(&b.key)));
    let mut chosen: Vec<PeerKey> = interested.iter().take(slots).map(|c| c.key).collect();
    if let Some(key) = optimistic
        && !chosen.contains(&key)
        && interested.iter().any(|c| c.key == key)
    {
        chosen.push(key);
    }
    chosen
}

/// The next optimistic unchoke: a random interested peer outside the regular slots.
pub fn pick_optimistic(candidates: &[Candidate], regular: &[PeerKey]) -> Option<PeerKey> {
    let pool: Vec<PeerKey> = candidates
        .iter()
        .filter(|c| c.interested && !regular.contains(&c.key))
        .map(|c| c.key)
        .collect();
    (!pool.is_empty()).then(|| pool[fastrand::usize(..pool.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(key: u64, interested: bool, rate: u64) -> Candidate {
        Candidate { key: PeerKey(key), interested, rate, unchoked: false }
    }

    fn unchoked(key: u64, interested: bool) -> Candidate {
        Candidate { unchoked: true, ..peer(key, interested, 0) }
    }

    #[test]
    fn the_fastest_interested_peers_get_the_slots() {
        let peers = [peer(1, true, 10), peer(2, true, 50), peer(3, false, 99), peer(4, true, 30)];
        assert_eq!(unchoke_set(&peers, 2, None), [PeerKey(2), PeerKey(4)]);
    }

    #[test]
    fn the_optimistic_peer_comes_on_top() {
        let peers = [peer(1, true, 10), peer(2, true, 50), peer(4, true, 30)];
        assert_eq!(unchoke_set(&peers, 1, Some(PeerKey(1))), [PeerKey(2), PeerKey(1)]);
        let regular = [PeerKey(2)];
        assert!(matches!(pick_optimistic(&peers, &regular), Some(PeerKey(1 | 4))));
    }

    #[test]
    fn a_freed_slot_goes_to_the_best_waiting_peer() {
        let choker = Choker::new(1, Instant::now());
        // One regular slot and the optimistic one: both taken, nobody else is unchoked.
        let full = [unchoked(1, true), unchoked(2, true), peer(3, true, 5)];
        assert_eq!(choker.refill(&full), []);
        // Peer 1 left: the faster of the two waiting peers gets its slot.
        let left = [unchoked(2, true), peer(3, true, 5), peer(4, true, 9), peer(5, false, 99)];
        assert_eq!(choker.refill(&left), [PeerKey(4)]);
    }

    #[test]
    fn an_unchoked_peer_that_lost_interest_holds_no_slot() {
        let choker = Choker::new(1, Instant::now());
        let peers = [unchoked(1, false), unchoked(2, true), peer(3, true, 0), peer(4, true, 0)];
        assert_eq!(choker.refill(&peers), [PeerKey(3)]);
        let none_holding = [unchoked(1, false), unchoked(2, false), peer(3, true, 0)];
        assert_eq!(choker.refill(&none_holding), [PeerKey(3)]);
        let two_waiting = [unchoked(1, false), peer(3, true, 0), peer(4, true, 0)];
        assert_eq!(choker.refill(&two_waiting), [PeerKey(3), PeerKey(4)]);
    }
}
