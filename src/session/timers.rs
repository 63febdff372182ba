//! The session's timers, driven by its 100 ms tick: rates and stats each second, choking
//! every 10 s with an optimistic unchoke rotated every 30 s, stalled peers, reconnects with
//! backoff, same-host discovery, and the download timeout.

use std::time::{Duration, Instant};

use super::Event;
use super::choke::{self, Candidate};
use super::swarm::Swarm;
use crate::error::Error;
use crate::peer::PeerCommand;
use crate::peer::PeerKey;
use crate::wire::Message;

const CHOKE_INTERVAL: Duration = Duration::from_secs(10);
const OPTIMISTIC_INTERVAL: Duration = Duration::from_secs(30);
/// A peer with requests outstanding that sends nothing for this long loses them.
const SNUB_AFTER: Duration = Duration::from_secs(15);
/// Connection attempts started per second.
const CONNECTS_PER_SECOND: usize = 16;
/// How often a lonely download says it is still looking.
const LONELY_WARNING: Duration = Duration::from_secs(10);

impl Swarm {
    pub(super) fn on_tick(&mut self) -> Result<(), Error> {
        let now = Instant::now();
        if now.duration_since(self.last_second) < Duration::from_secs(1) {
            return Ok(());
        }
        self.last_second = now;
        for peer in self.peers.values_mut() {
            peer.down.tick();
            peer.up.tick();
        }
        self.check_stalls(now);
        if now.duration_since(self.last_choke) >= CHOKE_INTERVAL {
            self.last_choke = now;
            self.rechoke(now);
        }
        self.discover();
        self.connect_some(now);
        self.counters.peers.store(self.peers.len(), std::sync::atomic::Ordering::Relaxed);
        let stats = self.stats();
        let _ = self.events.send(Event::Stats(stats));
        if !self.complete() {
            if self.peers.is_empty()
                && now.duration_since(self.last_lonely_warning) >= LONELY_WARNING
            {
                self.last_lonely_warning = now;
                self.warn("no peers to download from yet; still looking".into());
            }
            if let Some(limit) = self.config.timeout
                && now.duration_since(self.started) >= limit
            {
                let have = self.picker.have();
                return Err(Error::Network(format!(
                    "download incomplete after {} s: {} of {} pieces",
                    limit.as_secs(),
                    have.count(),
                    have.len()
                )));
            }
        }
        Ok(())
    }

    /// Peers that hold our requests but stopped sending lose them to faster peers.
    fn check_stalls(&mut self, now: Instant) {
        let stalled: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(key, peer)| {
                self.picker.outstanding(**key) > 0 && peer.stalled(now, SNUB_AFTER)
            })
            .map(|(key, _)| *key)
            .collect();
        for key in stalled {
            self.picker.peer_timed_out(key);
            if let Some(peer) = self.peers.get_mut(&key) {
                peer.last_block = now;
            }
            let keys: Vec<PeerKey> = self.peers.keys().copied().filter(|k| *k != key).collect();
            for other in keys {
                self.fill_requests(other);
            }
        }
    }

    /// Unchokes the best peers plus an optimistic one; chokes the rest.
    pub(super) fn rechoke(&mut self, now: Instant) {
        let seeding = self.complete();
        let candidates: Vec<Candidate> = self
            .peers
            .iter()
            .map(|(key, peer)| Candidate {
                key: *key,
                interested: peer.peer_interested,
                rate: if seeding { peer.up.per_second() } else { peer.down.per_second() },
            })
            .collect();
        let slots = self.config.upload_slots;
        let regular = choke::unchoke_set(&candidates, slots, None);
        if self.optimistic.is_none()
            || now.duration_since(self.last_optimistic) >= OPTIMISTIC_INTERVAL
        {
            self.last_optimistic = now;
            self.optimistic = choke::pick_optimistic(&candidates, &regular);
        }
        let chosen = choke::unchoke_set(&candidates, slots, self.optimistic);
        for (key, peer) in self.peers.iter_mut() {
            let unchoke = chosen.contains(key);
            if unchoke == peer.am_choking {
                peer.am_choking = !unchoke;
                let message = if unchoke { Message::Unchoke } else { Message::Choke };
                peer.handle.send(PeerCommand::Send(vec![message]));
            }
        }
    }

    /// Unchokes an interested peer at once when a slot is free, so transfers start without
    /// waiting for the next choke round.
    pub(super) fn unchoke_if_room(&mut self, key: PeerKey) {
        let unchoked = self.peers.values().filter(|p| !p.am_choking).count();
        if unchoked > self.config.upload_slots {
            return;
        }
        if let Some(peer) = self.peers.get_mut(&key)
            && peer.am_choking
        {
            peer.am_choking = false;
            peer.handle.send(PeerCommand::Send(vec![Message::Unchoke]));
        }
    }

    /// Reads same-host seeders from the registry.
    pub(super) fn discover(&mut self) {
        let Some(registry) = self.config.registry.clone() else { return };
        for addr in registry.lookup(self.config.metainfo.info_hash) {
            self.learn(addr);
        }
    }

    /// Starts connections to known addresses that are due, within the per-second budget.
    pub(super) fn connect_some(&mut self, now: Instant) {
        if self.peers.len() >= super::swarm::MAX_PEERS {
            return;
        }
        let due: Vec<_> = self
            .known
            .iter()
            .filter(|(addr, known)| {
                !known.connected
                    && !known.connecting
                    && known.next_try.is_none_or(|at| at <= now)
                    && !self.banned_addrs.contains(*addr)
                    && !self.peers.values().any(|p| {
                        p.addr == **addr || known.peer_id.is_some_and(|id| id == p.peer_id)
                    })
            })
            .map(|(addr, _)| *addr)
            .take(CONNECTS_PER_SECOND)
            .collect();
        for addr in due {
            if !self.dialer.connect(addr) {
                break;
            }
            if let Some(known) = self.known.get_mut(&addr) {
                known.connecting = true;
                known.next_try = Some(now + Duration::from_secs(30));
            }
        }
    }
}
