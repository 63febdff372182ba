//! The announcer thread: tells the torrent's trackers about us and passes on the peers they
//! name.
//!
//! It announces `started` first, then at the tracker's interval (never sooner than its
//! `min interval`), `completed` as soon as the session says the download finished, and
//! `stopped` on shutdown. A failed announce is retried with growing delays. It reads the
//! transfer counters the session keeps in atomics and owns nothing else.

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
/// How often a download without peers asks again (within the tracker's `min interval`).
const LONELY_INTERVAL: Duration = Duration::from_secs(15);

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
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    pub port: u16,
    pub counters: Arc<Counters>,
    pub control: Sender<Control>,
    pub signals: Receiver<Signal>,
}

impl Announcer {
    fn request(&self, event: Option<TrackerEvent>) -> AnnounceRequest {
        AnnounceRequest {
            info_hash: self.info_hash,
            peer_id: self.peer_id,
            port: self.port,
            uploaded: self.counters.uploaded.load(Ordering::Relaxed),
            downloaded: self.counters.downloaded.load(Ordering::Relaxed),
            left: self.counters.left.load(Ordering::Relaxed),
            event,
            numwant: Some(200),
        }
    }

    /// Runs until told to stop.
    pub fn run(self) {
        let client = Client::new();
        let mut list = TrackerList::new(self.tiers.clone());
        let mut event = Some(TrackerEvent::Started);
        let mut failures: u32 = 0;
        let mut announced = false;
        loop {
            // A stop that arrived during the last announce wins over the next one.
            match self.signals.try_recv() {
                Ok(Signal::Stop) | Err(TryRecvError::Disconnected) => break,
                Ok(Signal::Completed) => event = Some(TrackerEvent::Completed),
                Err(TryRecvError::Empty) => {}
            }
            let wait = match list.announce(&client, &self.request(event), ANNOUNCE_TIMEOUT) {
                Ok((url, reply)) => {
                    announced = true;
                    failures = 0;
                    event = None;
                    let peers: Vec<SocketAddr> = reply.peers.clone();
                    let _ = self.control.send(Control::TrackerPeers { url, peers });
                    if let Some(warning) = reply.warning {
                        let _ = self.control.send(Control::Warning(format!("tracker: {warning}")));
                    }
                    let floor = reply.min_interval.unwrap_or(MIN_WAIT);
                    let lonely = self.counters.peers.load(Ordering::Relaxed) == 0
                        && self.counters.left.load(Ordering::Relaxed) > 0;
                    // A download with nobody to talk to asks again as soon as it may.
                    let wanted = if lonely { LONELY_INTERVAL } else { reply.interval };
                    wanted.max(floor).clamp(MIN_WAIT, MAX_WAIT)
                }
                Err(err) => {
                    failures += 1;
                    let _ = self.control.send(Control::TrackerFailed(err.to_string()));
                    Duration::from_secs(5u64 << failures.min(6)).min(MAX_WAIT)
                }
            };
            match self.signals.recv_timeout(wait) {
                Ok(Signal::Completed) => event = Some(TrackerEvent::Completed),
                Ok(Signal::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
        if announced {
            if event == Some(TrackerEvent::Completed) {
                let _ = list.announce(&client, &self.request(event), STOPPED_TIMEOUT);
            }
            let _ =
                list.announce(&client, &self.request(Some(TrackerEvent::Stopped)), STOPPED_TIMEOUT);
        }
    }
}
