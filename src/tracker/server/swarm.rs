//! The tracker's peer table: which peers are in which torrent's swarm, and for how long.
//!
//! Pure state with the clock passed in, so expiry is tested without waiting. Peers are keyed
//! by the address they announce from (IP as seen by the server, port as announced), so a
//! client cannot insert or remove peers at addresses it does not own. Invariants:
//! - no torrent holds more than `max_peers_per_torrent` peers and there are never more than
//!   `max_torrents` torrents, so memory stays bounded whatever the request rate;
//! - a full torrent still answers newcomers with peers but does not record them (existing
//!   peers are never evicted by a flood); a new torrent beyond the cap is refused;
//! - a peer not heard from for `peer_ttl` is never handed out, and is removed on the next
//!   announce to its torrent or the next periodic sweep; a torrent with no peers left is
//!   dropped by the sweep.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::tracker::announce::{ScrapeStats, TrackerEvent};
use crate::types::{InfoHash, PeerId};

/// Caps and timing for a [`Swarms`] table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwarmLimits {
    /// Most torrents tracked at once.
    pub max_torrents: usize,
    /// Most peers recorded per torrent.
    pub max_peers_per_torrent: usize,
    /// How long a peer stays listed after its last announce.
    pub peer_ttl: Duration,
}

/// Which peers a requester can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// IPv4 only (UDP over IPv4).
    V4,
    /// IPv6 only (UDP over IPv6).
    V6,
    /// Both (HTTP, which has `peers` and `peers6`).
    Any,
}

impl Family {
    fn admits(self, addr: &SocketAddr) -> bool {
        match self {
            Family::V4 => addr.is_ipv4(),
            Family::V6 => addr.is_ipv6(),
            Family::Any => true,
        }
    }
}

/// One announce, already validated.
#[derive(Clone, Debug)]
pub struct PeerAnnounce {
    /// The torrent.
    pub info_hash: InfoHash,
    /// The announcing peer's id.
    pub peer_id: PeerId,
    /// Where the peer accepts connections: its source IP (canonical) and announced port.
    pub addr: SocketAddr,
    /// Bytes it still needs; zero makes it a seeder.
    pub left: u64,
    /// The event it reports.
    pub event: Option<TrackerEvent>,
    /// Most peers to return.
    pub numwant: usize,
    /// Which address families it can use.
    pub family: Family,
}

/// The answer to an announce: some other peers and the torrent's counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwarmReply {
    /// Other live peers, in random order, with their ids.
    pub peers: Vec<(SocketAddr, PeerId)>,
    /// Counts after this announce.
    pub stats: ScrapeStats,
}

/// The announce names a new torrent and the table already holds `max_torrents`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TorrentLimitReached;

#[derive(Debug)]
struct Peer {
    peer_id: PeerId,
    seeder: bool,
    last_seen: Instant,
}

#[derive(Debug, Default)]
struct Torrent {
    peers: HashMap<SocketAddr, Peer>,
    downloaded: u32,
}

impl Torrent {
    fn expire(&mut self, now: Instant, ttl: Duration) {
        self.peers.retain(|_, peer| now.saturating_duration_since(peer.last_seen) < ttl);
    }

    fn stats(&self) -> ScrapeStats {
        let seeders = self.peers.values().filter(|peer| peer.seeder).count();
        let leechers = self.peers.len() - seeders;
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        ScrapeStats {
            complete: clamp(seeders),
            downloaded: self.downloaded,
            incomplete: clamp(leechers),
        }
    }
}

/// Every torrent's swarm.
#[derive(Debug)]
pub struct Swarms {
    limits: SwarmLimits,
    torrents: HashMap<InfoHash, Torrent>,
    last_sweep: Instant,
}

impl Swarms {
    /// An empty table.
    pub fn new(limits: SwarmLimits, now: Instant) -> Swarms {
        Swarms { limits, torrents: HashMap::new(), last_sweep: now }
    }

    /// Records an announce and picks up to `numwant` other live peers of the right family.
    pub fn announce(
        &mut self,
        req: &PeerAnnounce,
        now: Instant,
    ) -> Result<SwarmReply, TorrentLimitReached> {
        self.sweep_if_due(now);
        let ttl = self.limits.peer_ttl;
        if req.event == Some(TrackerEvent::Stopped) {
            let stats =
                self.torrents.get_mut(&req.info_hash).map_or_else(ScrapeStats::default, |t| {
                    t.peers.remove(&req.addr);
                    t.expire(now, ttl);
                    t.stats()
                });
            return Ok(SwarmReply { peers: Vec::new(), stats });
        }
        if !self.torrents.contains_key(&req.info_hash)
            && self.torrents.len() >= self.limits.max_torrents
        {
            return Err(TorrentLimitReached);
        }
        let torrent = self.torrents.entry(req.info_hash).or_default();
        torrent.expire(now, ttl);
        let seeder = req.left == 0;
        let fresh = Peer { peer_id: req.peer_id, seeder, last_seen: now };
        let known = torrent.peers.contains_key(&req.addr);
        if known || torrent.peers.len() < self.limits.max_peers_per_torrent {
            torrent.peers.insert(req.addr, fresh);
            if req.event == Some(TrackerEvent::Completed) {
                torrent.downloaded = torrent.downloaded.saturating_add(1);
            }
        }
        let mut candidates: Vec<(SocketAddr, PeerId)> = torrent
            .peers
            .iter()
            .filter(|(addr, _)| **addr != req.addr && req.family.admits(addr))
            // Seeders have no use for other seeders.
            .filter(|(_, peer)| !(seeder && peer.seeder))
            .map(|(addr, peer)| (*addr, peer.peer_id))
            .collect();
        let wanted = req.numwant.min(candidates.len());
        for i in 0..wanted {
            let j = fastrand::usize(i..candidates.len());
            candidates.swap(i, j);
        }
        candidates.truncate(wanted);
        Ok(SwarmReply { peers: candidates, stats: torrent.stats() })
    }

    /// Counts for one torrent, live peers only; zeros for an unknown torrent.
    pub fn scrape(&self, info_hash: &InfoHash, now: Instant) -> ScrapeStats {
        let Some(torrent) = self.torrents.get(info_hash) else {
            return ScrapeStats::default();
        };
        let live =
            |peer: &&Peer| now.saturating_duration_since(peer.last_seen) < self.limits.peer_ttl;
        let seeders = torrent.peers.values().filter(live).filter(|peer| peer.seeder).count();
        let all = torrent.peers.values().filter(live).count();
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        ScrapeStats {
            complete: clamp(seeders),
            downloaded: torrent.downloaded,
            incomplete: clamp(all - seeders),
        }
    }

    /// Number of torrents held.
    pub fn torrent_count(&self) -> usize {
        self.torrents.len()
    }

    /// Number of peers held across all torrents, live or not yet swept.
    pub fn peer_count(&self) -> usize {
        self.torrents.values().map(|torrent| torrent.peers.len()).sum()
    }

    /// Removes expired peers everywhere and torrents left empty.
    pub fn sweep(&mut self, now: Instant) {
        let ttl = self.limits.peer_ttl;
        self.torrents.retain(|_, torrent| {
            torrent.expire(now, ttl);
            !torrent.peers.is_empty()
        });
        self.last_sweep = now;
    }

    /// Sweeps when half a peer lifetime has passed since the last sweep.
    fn sweep_if_due(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last_sweep) >= self.limits.peer_ttl / 2 {
            self.sweep(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(100);

    fn table(max_torrents: usize, max_peers_per_torrent: usize, now: Instant) -> Swarms {
        Swarms::new(SwarmLimits { max_torrents, max_peers_per_torrent, peer_ttl: TTL }, now)
    }

    fn peer(n: u8, left: u64, event: Option<TrackerEvent>) -> PeerAnnounce {
        PeerAnnounce {
            info_hash: InfoHash([1; 20]),
            peer_id: PeerId([n; 20]),
            addr: SocketAddr::from(([10, 0, 0, n], 6881)),
            left,
            event,
            numwant: 50,
            family: Family::Any,
        }
    }

    #[test]
    fn peers_see_each_other_but_not_themselves() {
        let now = Instant::now();
        let mut swarms = table(10, 10, now);
        let first = swarms.announce(&peer(1, 5, Some(TrackerEvent::Started)), now).expect("room");
        assert!(first.peers.is_empty());
        let second = swarms.announce(&peer(2, 0, None), now).expect("room");
        assert_eq!(second.peers, vec![(peer(1, 0, None).addr, PeerId([1; 20]))]);
        assert_eq!(second.stats, ScrapeStats { complete: 1, downloaded: 0, incomplete: 1 });
    }

    #[test]
    fn silent_peers_expire() {
        let start = Instant::now();
        let mut swarms = table(10, 10, start);
        swarms.announce(&peer(1, 5, None), start).expect("room");
        let later = start + TTL;
        let reply = swarms.announce(&peer(2, 5, None), later).expect("room");
        assert!(reply.peers.is_empty(), "peer 1 expired: {reply:?}");
        assert_eq!(swarms.scrape(&InfoHash([1; 20]), later).incomplete, 1);
        swarms.sweep(later + TTL);
        assert_eq!((swarms.torrent_count(), swarms.peer_count()), (0, 0));
    }

    #[test]
    fn stopped_removes_and_completed_counts() {
        let now = Instant::now();
        let mut swarms = table(10, 10, now);
        swarms.announce(&peer(1, 5, None), now).expect("room");
        swarms.announce(&peer(1, 0, Some(TrackerEvent::Completed)), now).expect("room");
        let stats = swarms.scrape(&InfoHash([1; 20]), now);
        assert_eq!(stats, ScrapeStats { complete: 1, downloaded: 1, incomplete: 0 });
        swarms.announce(&peer(1, 0, Some(TrackerEvent::Stopped)), now).expect("room");
        assert_eq!(swarms.peer_count(), 0);
    }

    #[test]
    fn full_torrent_answers_newcomers_without_recording_them() {
        let now = Instant::now();
        let mut swarms = table(10, 2, now);
        for n in 1..=5 {
            swarms.announce(&peer(n, 5, None), now).expect("room");
        }
        assert_eq!(swarms.peer_count(), 2);
        assert_eq!(swarms.announce(&peer(9, 5, None), now).expect("room").peers.len(), 2);
    }

    #[test]
    fn torrent_cap_refuses_new_torrents_until_a_sweep_frees_room() {
        let now = Instant::now();
        let mut swarms = table(1, 10, now);
        swarms.announce(&peer(1, 5, None), now).expect("room");
        let mut other = peer(2, 5, None);
        other.info_hash = InfoHash([2; 20]);
        assert_eq!(swarms.announce(&other, now).map(|_| ()), Err(TorrentLimitReached));
        assert!(swarms.announce(&other, now + TTL).is_ok(), "first torrent swept");
    }

    #[test]
    fn numwant_and_family_limit_the_reply() {
        let now = Instant::now();
        let mut swarms = table(10, 100, now);
        for n in 1..=20 {
            swarms.announce(&peer(n, 5, None), now).expect("room");
        }
        let mut v6 = peer(30, 5, None);
        v6.addr = "[::1]:7000".parse().expect("v6");
        swarms.announce(&v6, now).expect("room");
        let mut asking = peer(40, 5, None);
        asking.numwant = 5;
        assert_eq!(swarms.announce(&asking, now).expect("room").peers.len(), 5);
        asking.numwant = 50;
        asking.family = Family::V6;
        let reply = swarms.announce(&asking, now).expect("room");
        assert_eq!(reply.peers, vec![(v6.addr, v6.peer_id)]);
    }
}
