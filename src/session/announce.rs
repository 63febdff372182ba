//! The announcer thread: tells the torrent's trackers about us and passes on the peers they
//! name.
//!
//! It announces `started` first, then at the tracker's interval (never sooner than its
//! `min interval`), `completed` as soon as the session says the download finished, and
//! `stopped` on shutdown. A download that still has nobody to talk to when
//! [`LONELY_INTERVAL`] (or the tracker's interval, if shorter) has passed asks again then
//! ([`NextAnnounce`]): loneliness is judged when that time comes, not just after a reply,
//! whose peers have not been dialled yet. A failed announce is retried with growing delays.
//! A hybrid torrent is announced under each of its hashes in turn (the v1 hash, then the v2
//! hash truncated to 20 bytes, as BEP 52 says), each with its own events, so peers that know
//! only one of them meet us; a round counts as answered when either hash was, and the peers
//! of both go to the same session. It reads the transfer counters the session keeps in
//! atomics and owns nothing else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};

use super::channels::Control;
use crate::tracker::{AnnounceRequest, Client, TrackerEvent, TrackerList};
use crate::types::{InfoHash, PeerId};

/// Time one announce may take.
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(15);
/// Time the final `stopped` announce may take, so exit is never held up for long.
const STOPPED_TIMEOUT: Duration = Duration::from_secs(3);
/// Bounds on the wait between announces.
const MIN_WAIT: Duration = Duration::from_secs(1);
const MAX_WAIT: Duration = Duration::from_secs(3600);
/// The longest a download without peers waits before it asks again (never shorter than the
/// tracker's `min interval`, never longer than its interval).
pub const LONELY_INTERVAL: Duration = Duration::from_secs(15);

/// Transfer figures the session updates and the announcer reads.
#[derive(Default)]
pub struct Counters {
    /// Payload bytes sent: the peer writer threads add each block once the socket took it.
    pub uploaded: Arc<AtomicU64>,
    /// Payload bytes received.
    pub downloaded: AtomicU64,
    /// Bytes still missing.
    pub left: AtomicU64,
    /// Connected peers.
    pub peers: AtomicUsize,
}

/// When to announce again after an answer: by `regular` in any case, and already at `lonely`
/// if the download then has nobody to talk to. `lonely` is never after `regular`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextAnnounce {
    /// When to look whether the download is lonely, and if so announce.
    pub lonely: Duration,
    /// When to announce whatever happens.
    pub regular: Duration,
}

impl NextAnnounce {
    /// After a reply with this `interval` and `min interval`: the lonely check comes at
    /// [`LONELY_INTERVAL`] or the interval, whichever is sooner; neither before the
    /// `min interval`.
    pub fn after_reply(interval: Duration, min_interval: Option<Duration>) -> NextAnnounce {
        let floor = min_interval.unwrap_or(MIN_WAIT);
        let bound = |wait: Duration| wait.max(floor).clamp(MIN_WAIT, MAX_WAIT);
        NextAnnounce { lonely: bound(interval.min(LONELY_INTERVAL)), regular: bound(interval) }
    }

    /// The soonest of the times the answers of one round ask for; `None` without answers.
    pub fn soonest(answers: &[NextAnnounce]) -> Option<NextAnnounce> {
        let lonely = answers.iter().map(|next| next.lonely).min()?;
        let regular = answers.iter().map(|next| next.regular).min()?;
        Some(NextAnnounce { lonely, regular })
    }

    /// After a failed announce: retry after `delay`, lonely or not.
    pub fn retry(delay: Duration) -> NextAnnounce {
        NextAnnounce { lonely: delay, regular: delay }
    }
}

/// What the session tells the announcer.
pub enum Signal {
    /// The download just completed.
    Completed,
    /// The session is ending.
    Stop,
}

/// What the announcer needs to know about the torrent.
pub struct Announcer {
    pub tiers: Vec<Vec<String>>,
    /// The hashes to announce under: the torrent's info hash, then for a hybrid its v2 hash
    /// truncated to 20 bytes.
    pub info_hashes: Vec<InfoHash>,
    pub peer_id: PeerId,
    pub port: u16,
    pub counters: Arc<Counters>,
    pub control: Sender<Control>,
    pub signals: Receiver<Signal>,
}

/// Why a wait between announces ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wake {
    Timeout,
    Completed,
    Stop,
}

impl Announcer {
    /// Waits up to `time` for a signal from the session.
    fn wait(&self, time: Duration) -> Wake {
        match self.signals.recv_timeout(time) {
            Ok(Signal::Completed) => Wake::Completed,
            Ok(Signal::Stop) | Err(RecvTimeoutError::Disconnected) => Wake::Stop,
            Err(RecvTimeoutError::Timeout) => Wake::Timeout,
        }
    }

    /// A download with nobody to talk to.
    fn lonely(&self) -> bool {
        self.counters.peers.load(Ordering::Relaxed) == 0
            && self.counters.left.load(Ordering::Relaxed) > 0
    }

    fn request(&self, info_hash: InfoHash, event: Option<TrackerEvent>) -> AnnounceRequest {
        AnnounceRequest {
            info_hash,
            peer_id: self.peer_id,
            port: self.port,
            uploaded: self.counters.uploaded.load(Ordering::Relaxed),
            downloaded: self.counters.downloaded.load(Ordering::Relaxed),
            left: self.counters.left.load(Ordering::Relaxed),
            event,
            numwant: Some(200),
        }
    }

    /// Announces `hash` once; the next announce time on an answer, `None` on failure.
    fn announce_one(
        &self,
        client: &Client,
        list: &mut TrackerList,
        hash: &mut HashState,
    ) -> Option<NextAnnounce> {
        match list.announce(client, &self.request(hash.info_hash, hash.event), ANNOUNCE_TIMEOUT) {
            Ok((url, reply)) => {
                hash.announced = true;
                hash.event = None;
                let peers: Vec<SocketAddr> = reply.peers.clone();
                let _ = self.control.send(Control::TrackerPeers { url, peers });
                if let Some(warning) = reply.warning {
                    let _ = self.control.send(Control::Warning(format!("tracker: {warning}")));
                }
                Some(NextAnnounce::after_reply(reply.interval, reply.min_interval))
            }
            Err(err) => {
                let _ = self.control.send(Control::TrackerFailed(err.to_string()));
                None
            }
        }
    }

    /// Runs until told to stop.
    pub fn run(self) {
        let client = Client::new();
        let mut list = TrackerList::new(self.tiers.clone());
        let mut hashes: Vec<HashState> = self
            .info_hashes
            .iter()
            .map(|&info_hash| HashState {
                info_hash,
                event: Some(TrackerEvent::Started),
                announced: false,
            })
            .collect();
        let mut failures: u32 = 0;
        let completed = |hashes: &mut [HashState]| {
            hashes.iter_mut().for_each(|hash| hash.event = Some(TrackerEvent::Completed));
        };
        loop {
            // A stop that arrived during the last announce wins over the next one.
            match self.signals.try_recv() {
                Ok(Signal::Stop) | Err(TryRecvError::Disconnected) => break,
                Ok(Signal::Completed) => completed(&mut hashes),
                Err(TryRecvError::Empty) => {}
            }
            let answers: Vec<NextAnnounce> = hashes
                .iter_mut()
                .filter_map(|hash| self.announce_one(&client, &mut list, hash))
                .collect();
            let next = match NextAnnounce::soonest(&answers) {
                Some(next) => {
                    failures = 0;
                    next
                }
                None => {
                    failures += 1;
                    NextAnnounce::retry(Duration::from_secs(5u64 << failures.min(6)).min(MAX_WAIT))
                }
            };
            // Wait until the lonely check; unless the download is lonely then, wait out the
            // rest of the interval. A completed download announces at once.
            let mut wake = self.wait(next.lonely);
            if wake == Wake::Timeout && !self.lonely() {
                wake = self.wait(next.regular.saturating_sub(next.lonely));
            }
            match wake {
                Wake::Completed => completed(&mut hashes),
                Wake::Stop => break,
                Wake::Timeout => {}
            }
        }
        for hash in hashes.iter().filter(|hash| hash.announced) {
            if hash.event == Some(TrackerEvent::Completed) {
                let _ = list.announce(
                    &client,
                    &self.request(hash.info_hash, hash.event),
                    STOPPED_TIMEOUT,
                );
            }
            let stopped = self.request(hash.info_hash, Some(TrackerEvent::Stopped));
            let _ = list.announce(&client, &stopped, STOPPED_TIMEOUT);
        }
    }
}

/// Where the announces under one of the torrent's hashes stand.
struct HashState {
    info_hash: InfoHash,
    /// The event the next announce under this hash carries.
    event: Option<TrackerEvent>,
    /// Whether a tracker answered under this hash, so it must hear `stopped`.
    announced: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_short_tracker_interval_is_kept_for_a_lonely_download() {
        let next = NextAnnounce::after_reply(secs(2), Some(secs(1)));
        assert_eq!(next, NextAnnounce { lonely: secs(2), regular: secs(2) });
    }

    #[test]
    fn a_long_tracker_interval_is_cut_to_the_lonely_interval_only_when_lonely() {
        let next = NextAnnounce::after_reply(secs(1800), None);
        assert_eq!(next, NextAnnounce { lonely: LONELY_INTERVAL, regular: secs(1800) });
    }

    #[test]
    fn nothing_comes_before_the_min_interval_or_after_an_hour() {
        let next = NextAnnounce::after_reply(secs(1800), Some(secs(60)));
        assert_eq!(next, NextAnnounce { lonely: secs(60), regular: secs(1800) });
        let next = NextAnnounce::after_reply(secs(0), None);
        assert_eq!(next, NextAnnounce { lonely: MIN_WAIT, regular: MIN_WAIT });
        let next = NextAnnounce::after_reply(secs(86_400), Some(secs(7200)));
        assert_eq!(next, NextAnnounce { lonely: MAX_WAIT, regular: MAX_WAIT });
    }

    #[test]
    fn a_round_under_two_hashes_comes_back_when_the_sooner_answer_asks() {
        let v1 = NextAnnounce::after_reply(secs(1800), None);
        let v2 = NextAnnounce::after_reply(secs(600), Some(secs(30)));
        let next = NextAnnounce::soonest(&[v1, v2]).expect("answered");
        assert_eq!(next, NextAnnounce { lonely: LONELY_INTERVAL, regular: secs(600) });
        assert_eq!(NextAnnounce::soonest(&[]), None);
    }
}
