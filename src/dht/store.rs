//! The peer store: who announced which torrent to us (`announce_peer`), to be named in our
//! `get_peers` answers.
//!
//! Bounded on every axis: at most [`MAX_TORRENTS`] info hashes and [`MAX_PEERS`] peers per
//! hash; a peer expires [`EXPIRE`] after its last announce. When a torrent is full the
//! oldest announce gives way; when the store is full, a new torrent is not kept. An answer
//! names at most [`MAX_ANSWER`] peers, picked at random, so it fits one datagram.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::types::InfoHash;

/// How long an announce is kept.
pub const EXPIRE: Duration = Duration::from_secs(30 * 60);
/// Most torrents tracked.
pub const MAX_TORRENTS: usize = 2000;
/// Most peers kept per torrent.
pub const MAX_PEERS: usize = 200;
/// Most peers named in one answer.
pub const MAX_ANSWER: usize = 50;

/// The store.
#[derive(Default)]
pub struct PeerStore {
    torrents: HashMap<InfoHash, Vec<(SocketAddr, Instant)>>,
}

impl PeerStore {
    /// Records that `peer` announced `info_hash`.
    pub fn announce(&mut self, info_hash: InfoHash, peer: SocketAddr, now: Instant) {
        if !self.torrents.contains_key(&info_hash) && self.torrents.len() >= MAX_TORRENTS {
            self.expire(now);
            if self.torrents.len() >= MAX_TORRENTS {
                return;
            }
        }
        let peers = self.torrents.entry(info_hash).or_default();
        if let Some(known) = peers.iter_mut().find(|(addr, _)| *addr == peer) {
            known.1 = now;
            return;
        }
        if peers.len() >= MAX_PEERS
            && let Some(oldest) = peers.iter().enumerate().min_by_key(|(_, p)| p.1).map(|(i, _)| i)
        {
            peers.swap_remove(oldest);
        }
        peers.push((peer, now));
    }

    /// Up to [`MAX_ANSWER`] live peers of `info_hash`, of the family of `v4`.
    pub fn peers(&self, info_hash: &InfoHash, v4: bool, now: Instant) -> Vec<SocketAddr> {
        let Some(peers) = self.torrents.get(info_hash) else { return Vec::new() };
        let mut live: Vec<SocketAddr> = peers
            .iter()
            .filter(|(addr, at)| addr.is_ipv4() == v4 && now.duration_since(*at) < EXPIRE)
            .map(|(addr, _)| *addr)
            .collect();
        fastrand::shuffle(&mut live);
        live.truncate(MAX_ANSWER);
        live
    }

    /// Drops expired announces and emptied torrents.
    pub fn expire(&mut self, now: Instant) {
        self.torrents.retain(|_, peers| {
            peers.retain(|(_, at)| now.duration_since(*at) < EXPIRE);
            !peers.is_empty()
        });
    }

    /// Torrents and peers held.
    pub fn size(&self) -> (usize, usize) {
        (self.torrents.len(), self.torrents.values().map(Vec::len).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], n))
    }

    #[test]
    fn announces_expire_and_stay_bounded() {
        let now = Instant::now();
        let mut store = PeerStore::default();
        let hash = InfoHash([1; 20]);
        for n in 0..1000 {
            store.announce(hash, peer(n), now);
        }
        assert_eq!(store.size(), (1, MAX_PEERS));
        assert_eq!(store.peers(&hash, true, now).len(), MAX_ANSWER);
        assert!(store.peers(&hash, false, now).is_empty());
        assert!(store.peers(&hash, true, now + EXPIRE).is_empty());
        for n in 0..3000u32 {
            let mut id = [0u8; 20];
            id[..4].copy_from_slice(&n.to_be_bytes());
            store.announce(InfoHash(id), peer(1), now);
        }
        assert_eq!(store.size().0, MAX_TORRENTS);
        store.expire(now + EXPIRE);
        assert_eq!(store.size(), (0, 0));
    }
}
