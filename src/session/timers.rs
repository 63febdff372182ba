//! The session's timers, driven by its 100 ms tick: requests held back by the download limit
//! (every tick), rates and stats each second, choking
//! every 10 s with an optimistic unchoke rotated every 30 s (free slots are refilled at once
//! between rechokes), stalled peers (their requests are cancelled and go to others), pieces a
//! peer rejected that it may be asked for again, reconnects with backoff, same-host discovery, and the
//! download timeout.
//!
//! [`Timers`] keeps when each of these last ran; the choker keeps its own times.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Event;
use super::choker::Candidate;
use super::swarm::Swarm;
use crate::error::Error;
use crate::peer::PeerCommand;
use crate::peer::PeerKey;
use crate::wire::Message;

/// A peer with requests outstanding that sends nothing for this long loses them.
const SNUB_AFTER: Duration = Duration::from_secs(15);
/// How often a lonely download says it is still looking.
const LONELY_WARNING: Duration = Duration::from_secs(10);

/// When the once-a-second work and the lonely warning last ran, and what the stats sampled.
#[derive(Debug)]
pub struct Timers {
    /// When the session started.
    pub started: Instant,
    last_second: Instant,
    last_lonely_warning: Instant,
    /// Connection attempts started in the current second (the dial budget's use).
    pub dials_this_second: usize,
    /// Peak anonymous (private) resident memory seen in the stats so far.
    pub peak_private: u64,
    /// Bytes of the pieces the download wants (all of them unless some files are selected).
    pub wanted_bytes: u64,
    /// When the session first saw every wanted piece verified.
    pub completed_at: Option<Instant>,
    /// A seeding limit was met: the session ends as a completed download does.
    pub seeding_over: bool,
}

impl Timers {
    /// Timers for a session starting `now`.
    pub fn new(now: Instant) -> Timers {
        Timers {
            started: now,
            last_second: now,
            last_lonely_warning: now,
            dials_this_second: 0,
            peak_private: 0,
            wanted_bytes: 0,
            completed_at: None,
            seeding_over: false,
        }
    }
}

impl Swarm {
    pub(super) fn on_tick(&mut self) -> Result<(), Error> {
        let now = Instant::now();
        if self.config.limits.down.is_some() {
            // Requests held back by the download limit go out as its tokens come back.
            for key in self.peers.keys() {
                self.fill_requests(key);
            }
        }
        self.fill_webseeds(now);
        if now.duration_since(self.timers.last_second) < Duration::from_secs(1) {
            return Ok(());
        }
        self.timers.last_second = now;
        self.timers.dials_this_second = 0;
        for (_, peer) in self.peers.iter_mut() {
            peer.tick_rates();
        }
        self.tick_webseed_rates();
        self.check_seed_limits(now);
        self.check_stalls(now);
        self.retry_rejected(now);
        self.expire_offers(now);
        if self.choker.due(now) {
            self.rechoke(now);
        }
        self.discover();
        self.connect_some(now);
        self.send_pex(now);
        self.channels.counters.peers.store(self.peers.len(), Ordering::Relaxed);
        let stats = self.stats();
        self.channels.emit(Event::Stats(stats));
        if !self.complete() {
            if self.peers.is_empty()
                && self.webseeds.is_empty()
                && now.duration_since(self.timers.last_lonely_warning) >= LONELY_WARNING
            {
                self.timers.last_lonely_warning = now;
                self.channels.warn("no peers to download from yet; still looking".into());
            }
            if let Some(limit) = self.config.timeout
                && now.duration_since(self.timers.started) >= limit
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

    /// Ends seeding once `--ratio` (uploaded over the wanted bytes) or `--seed-time` (since
    /// completion) is met.
    fn check_seed_limits(&mut self, now: Instant) {
        if !self.complete() {
            return;
        }
        let since = *self.timers.completed_at.get_or_insert(now);
        let limits = self.config.seed_limits;
        let uploaded = self.channels.counters.uploaded.load(Ordering::Relaxed) as f64;
        let wanted = self.timers.wanted_bytes.max(1) as f64;
        let ratio_met = limits.ratio.is_some_and(|ratio| uploaded / wanted >= ratio);
        let time_met = limits.time.is_some_and(|time| now.duration_since(since) >= time);
        if ratio_met || time_met {
            self.timers.seeding_over = true;
        }
    }

    /// Peers that hold our requests but stopped sending lose them to faster peers.
    fn check_stalls(&mut self, now: Instant) {
        let stalled: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(key, peer)| {
                self.picker.outstanding(*key) > 0 && peer.stalled(now, SNUB_AFTER)
            })
            .map(|(key, _)| key)
            .collect();
        for key in stalled {
            let given_back = self.picker.peer_timed_out(key);
            self.cancel_given_back(key, &given_back);
            if let Some(peer) = self.peers.get_mut(key) {
                peer.last_block = now;
            }
            for other in self.peers.keys().into_iter().filter(|k| *k != key) {
                self.fill_requests(other);
            }
        }
    }

    /// Peers whose rejections have run out may be asked for those pieces again.
    fn retry_rejected(&mut self, now: Instant) {
        let due: Vec<PeerKey> = self
            .peers
            .iter_mut()
            .filter_map(|(key, peer)| peer.expire_avoided(now).then_some(key))
            .collect();
        for key in due {
            self.fill_requests(key);
        }
    }

    /// Unchokes the best peers plus an optimistic one; chokes the rest.
    pub(super) fn rechoke(&mut self, now: Instant) {
        let chosen = self.choker.rechoke(now, &self.choke_candidates());
        for (key, peer) in self.peers.iter_mut() {
            let unchoke = chosen.contains(&key);
            if unchoke == peer.am_choking {
                peer.am_choking = !unchoke;
                let message = if unchoke { Message::Unchoke } else { Message::Choke };
                peer.handle.send(PeerCommand::Send(vec![message]));
            }
        }
    }

    /// Fills every free upload slot at once with a waiting interested peer, so a slot freed by
    /// a peer that left, finished or lost interest does not stay empty until the next rechoke,
    /// and a newly interested peer starts without waiting for one.
    pub(super) fn refill_slots(&mut self) {
        for key in self.choker.refill(&self.choke_candidates()) {
            if let Some(peer) = self.peers.get_mut(key) {
                peer.am_choking = false;
                peer.handle.send(PeerCommand::Send(vec![Message::Unchoke]));
            }
        }
    }

    /// Every connected peer as the choker sees it.
    fn choke_candidates(&self) -> Vec<Candidate> {
        let seeding = self.complete();
        self.peers
            .iter()
            .map(|(key, peer)| Candidate {
                key,
                interested: peer.peer_interested,
                rate: if seeding { peer.up.per_second() } else { peer.down.per_second() },
                unchoked: !peer.am_choking,
            })
            .collect()
    }
}
