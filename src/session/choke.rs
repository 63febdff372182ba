//! Choosing whom to upload to (BEP 3 choking): a fixed number of regular slots given to the
//! interested peers with the best rates, plus one optimistic slot that rotates so newcomers
//! get a chance to prove themselves. Pure: it takes figures and returns a decision.

use crate::picker::PeerKey;

/// One peer as the choker sees it.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    /// The peer.
    pub key: PeerKey,
    /// It wants data from us.
    pub interested: bool,
    /// Its rate: what it sends us while we download, what we send it while we seed.
    pub rate: u64,
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
        Candidate { key: PeerKey(key), interested, rate }
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
}
