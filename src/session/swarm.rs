//! The session thread: one loop that owns the picker, the peers and the known addresses.
//!
//! It waits on three inputs: peer events (bounded, so fast peers are throttled by TCP when we
//! fall behind), the control channel (new connections, tracker replies, hash results) and a
//! 100 ms tick for timers (rates, choking, stalls, reconnects, stats). Message handling lives
//! in `messages.rs`; timers in `timers.rs`.

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select};

use super::announce::{Announcer, Counters, Signal};
use super::listen::{self, Dialer};
use super::peer_state::{OUR_REQQ, Peer};
use super::{Event, SessionConfig, Stats, Summary, memory_usage};
use crate::error::Error;
use crate::peer::{self, Connected, PeerCommand, PeerEvent, PeerKey};
use crate::picker::Picker;
use crate::registry::Registration;
use crate::types::PeerId;
use crate::wire::{ExtendedHandshake, Message};

/// Most connected peers.
pub const MAX_PEERS: usize = 128;
/// Peer events buffered between the reader threads and the session.
/// At most 256 blocks of 16 KiB (4 MiB) wait; a bitfield can be larger but comes once.
const PEER_EVENT_QUEUE: usize = 256;

/// Messages to the session thread from its helper threads.
pub enum Control {
    /// A connection finished its handshake.
    Connected(Box<Connected>),
    /// An outgoing connection failed.
    ConnectFailed(SocketAddr, String),
    /// A tracker answered.
    TrackerPeers { url: String, peers: Vec<SocketAddr> },
    /// No tracker answered.
    TrackerFailed(String),
    /// A tracker said something worth showing.
    Warning(String),
    /// A completed piece was hashed (and, when good, flushed to disk).
    Hashed { piece: u32, good: bool, flushed: Result<(), String> },
}

/// What we know about an address we may connect to.
#[derive(Default)]
pub(super) struct Known {
    pub connected: bool,
    pub connecting: bool,
    pub failures: u32,
    pub next_try: Option<Instant>,
    /// The peer id that answered at this address, once one has.
    pub peer_id: Option<PeerId>,
}

/// All state of a running session.
pub(super) struct Swarm {
    pub config: SessionConfig,
    pub picker: Picker,
    pub peers: HashMap<PeerKey, Peer>,
    pub known: HashMap<SocketAddr, Known>,
    pub banned_addrs: HashSet<SocketAddr>,
    pub banned_ids: HashSet<PeerId>,
    pub next_key: u64,
    pub events: Sender<Event>,
    pub control_tx: Sender<Control>,
    pub peer_tx: Sender<(PeerKey, PeerEvent)>,
    pub dialer: Dialer,
    pub counters: Arc<Counters>,
    pub signals: Option<Sender<Signal>>,
    pub started: Instant,
    pub optimistic: Option<PeerKey>,
    pub last_choke: Instant,
    pub last_optimistic: Instant,
    pub last_second: Instant,
    pub last_lonely_warning: Instant,
    pub peak_private: u64,
    pub local_addr: SocketAddr,
    pub hashing: HashSet<u32>,
    /// Pieces we had but can no longer read from disk.
    pub broken: HashSet<u32>,
    /// Storage problems already reported, so each is shown once.
    pub storage_warnings: HashSet<String>,
    /// Pieces that failed with several senders, and who they were, until a retry passes.
    pub failed_with: HashMap<u32, Vec<PeerKey>>,
    /// Pieces about to be downloaded, for the prefault thread.
    pub prefault: Sender<u32>,
}

/// Runs the session until it completes (without `keep_seeding`), times out or is stopped.
pub fn run(
    config: SessionConfig,
    listener: TcpListener,
    events: Sender<Event>,
    shutdown: Arc<AtomicBool>,
) -> Result<Summary, Error> {
    let local_addr = listener.local_addr().map_err(|e| Error::Network(e.to_string()))?;
    let layout = config.metainfo.layout().clone();
    let mut picker = Picker::new(layout.geometry(), &config.have)
        .map_err(|_| Error::Bug("our bitfield disagrees with the layout"))?;
    picker.set_sequential(config.sequential);
    let (control_tx, control_rx) = crossbeam_channel::unbounded();
    let (peer_tx, peer_rx) = crossbeam_channel::bounded(PEER_EVENT_QUEUE);
    let dialer = Dialer {
        info_hash: config.metainfo.info_hash,
        peer_id: config.peer_id,
        control: control_tx.clone(),
        shutdown: shutdown.clone(),
        in_flight: Arc::new(AtomicUsize::new(0)),
    };
    let accept_dialer = dialer.clone();
    let listener_thread = std::thread::Builder::new()
        .name("mt-listen".into())
        .spawn(move || listen::accept_loop(listener, accept_dialer))
        .map_err(|e| Error::Network(format!("cannot start the listener: {e}")))?;
    let _ = events.send(Event::Listening(local_addr));
    let registration: Option<Registration> = config.registry.as_ref().and_then(|registry| {
        let advertised = advertised_addr(local_addr);
        registry.register(config.metainfo.info_hash, advertised).ok()
    });

    let counters = Arc::new(Counters::default());
    counters.left.store(picker.missing_bytes(), Ordering::Relaxed);
    let now = Instant::now();
    let mut swarm = Swarm {
        picker,
        peers: HashMap::new(),
        known: HashMap::new(),
        banned_addrs: HashSet::new(),
        banned_ids: HashSet::new(),
        next_key: 1,
        events,
        control_tx,
        peer_tx,
        dialer,
        counters,
        signals: None,
        started: now,
        optimistic: None,
        last_choke: now,
        last_optimistic: now,
        last_second: now,
        last_lonely_warning: now,
        peak_private: 0,
        local_addr,
        hashing: HashSet::new(),
        broken: HashSet::new(),
        storage_warnings: HashSet::new(),
        failed_with: HashMap::new(),
        prefault: start_prefaulter(&config)?,
        config,
    };
    let announcer_thread = swarm.start_announcer();
    for addr in swarm.config.peers.clone() {
        swarm.learn(addr);
    }
    swarm.discover();
    swarm.connect_some(Instant::now());
    let outcome = swarm.main_loop(&peer_rx, &control_rx, &shutdown);

    shutdown.store(true, Ordering::Release);
    for peer in swarm.peers.values() {
        peer.handle.shut_down();
    }
    if let Some(signals) = swarm.signals.take() {
        let _ = signals.send(Signal::Stop);
    }
    if let Some((thread, done)) = announcer_thread {
        // The final announces are bounded; past that, leave the thread rather than hang.
        if done.recv_timeout(Duration::from_secs(10))
            != Err(crossbeam_channel::RecvTimeoutError::Timeout)
        {
            let _ = thread.join();
        }
    }
    let _ = listener_thread.join();
    drop(registration);
    let flushed = swarm.config.storage.flush(0..layout.total_length());
    let stats = swarm.stats();
    outcome?;
    flushed.map_err(Error::from)?;
    Ok(Summary { complete: swarm.complete(), stats, peak_private_memory: swarm.peak_private })
}

/// Starts the thread that faults in the mapped pages of pieces we are about to receive, so
/// the session thread's copies into the mapping do not stop on a page fault per page. It
/// ends when the session drops its sender.
fn start_prefaulter(config: &SessionConfig) -> Result<Sender<u32>, Error> {
    let (tx, rx) = crossbeam_channel::unbounded::<u32>();
    let storage = config.storage.clone();
    let meta = config.metainfo.clone();
    std::thread::Builder::new()
        .name("mt-prefault".into())
        .spawn(move || {
            for piece in rx {
                if let Some(piece) = meta.layout().piece(piece) {
                    storage.prepare_write(meta.layout().piece_range(piece));
                }
            }
        })
        .map_err(|e| Error::Network(format!("cannot start the prefault thread: {e}")))?;
    Ok(tx)
}

/// The address other local processes should dial: loopback when we listen on all addresses.
fn advertised_addr(local: SocketAddr) -> SocketAddr {
    let mut addr = local;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    addr
}

impl Swarm {
    fn main_loop(
        &mut self,
        peer_rx: &Receiver<(PeerKey, PeerEvent)>,
        control_rx: &Receiver<Control>,
        shutdown: &AtomicBool,
    ) -> Result<(), Error> {
        let ticker = crossbeam_channel::tick(Duration::from_millis(100));
        loop {
            if shutdown.load(Ordering::Acquire) {
                return Ok(());
            }
            if self.complete() && !self.config.keep_seeding {
                return Ok(());
            }
            select! {
                recv(peer_rx) -> event => {
                    if let Ok((key, event)) = event {
                        self.on_peer_event(key, event)?;
                        // Drain what else is waiting before looking at timers again.
                        for (key, event) in peer_rx.try_iter().take(256) {
                            self.on_peer_event(key, event)?;
                        }
                    }
                }
                recv(control_rx) -> control => {
                    if let Ok(control) = control {
                        self.on_control(control)?;
                    }
                }
                recv(ticker) -> _ => self.on_tick()?,
            }
        }
    }

    fn start_announcer(&mut self) -> Option<(std::thread::JoinHandle<()>, Receiver<()>)> {
        if !self.config.use_trackers || self.config.metainfo.trackers.is_empty() {
            return None;
        }
        let (signals, signal_rx) = crossbeam_channel::unbounded();
        let announcer = Announcer {
            tiers: self.config.metainfo.trackers.clone(),
            info_hash: self.config.metainfo.info_hash,
            peer_id: self.config.peer_id,
            port: self.local_addr.port(),
            counters: self.counters.clone(),
            control: self.control_tx.clone(),
            signals: signal_rx,
        };
        let (done_tx, done) = crossbeam_channel::bounded::<()>(0);
        let thread = std::thread::Builder::new().name("mt-announce".into()).spawn(move || {
            announcer.run();
            drop(done_tx);
        });
        match thread {
            Ok(thread) => {
                self.signals = Some(signals);
                Some((thread, done))
            }
            Err(e) => {
                self.warn(format!("cannot start the tracker thread: {e}"));
                None
            }
        }
    }

    pub fn warn(&self, message: String) {
        let _ = self.events.send(Event::Warning(message));
    }

    /// Remembers an address we may connect to.
    pub fn learn(&mut self, addr: SocketAddr) {
        if addr == self.local_addr || addr == advertised_addr(self.local_addr) || addr.port() == 0 {
            return;
        }
        self.known.entry(addr).or_default();
    }

    fn on_control(&mut self, control: Control) -> Result<(), Error> {
        match control {
            Control::Connected(connected) => self.on_connected(*connected),
            Control::ConnectFailed(addr, _reason) => {
                if let Some(known) = self.known.get_mut(&addr) {
                    known.connecting = false;
                    known.failures += 1;
                    let backoff = Duration::from_secs(2u64 << known.failures.min(6));
                    known.next_try = Some(Instant::now() + backoff);
                }
            }
            Control::TrackerPeers { url, peers } => {
                let count = peers.len();
                for addr in peers {
                    self.learn(addr);
                }
                let _ = self.events.send(Event::TrackerReply { url, peers: count });
            }
            Control::TrackerFailed(reason) => {
                let _ = self.events.send(Event::TrackerFailed(reason));
            }
            Control::Warning(message) => self.warn(message),
            Control::Hashed { piece, good, flushed } => self.on_hashed(piece, good, flushed)?,
        }
        Ok(())
    }

    fn on_connected(&mut self, connected: Connected) {
        let addr = connected.addr;
        let their_id = connected.handshake.peer_id;
        if let Some(known) = self.known.get_mut(&addr) {
            known.connecting = false;
            known.peer_id = Some(their_id);
            // Should the connection we keep instead close, dial this address again at once.
            known.next_try = None;
        }
        let existing = self.peers.iter().find(|(_, p)| p.peer_id == their_id);
        if let Some((&key, peer)) = existing {
            // Both sides dialled at once. Each end keeps the connection opened by the peer
            // with the lower id, so both keep the same one.
            let opener = |outgoing: bool| if outgoing { self.config.peer_id.0 } else { their_id.0 };
            if peer.outgoing == connected.outgoing
                || opener(peer.outgoing) < opener(connected.outgoing)
            {
                return; // dropping `connected` closes it
            }
            self.drop_peer(key, "replaced by the connection the peer opened".into());
        }
        if self.banned_ids.contains(&their_id) || self.banned_addrs.contains(&addr) {
            return; // dropping `connected` closes the socket
        }
        if self.peers.len() >= MAX_PEERS {
            // Full: make room by dropping the peer that has been of no use the longest, so
            // idle connections cannot lock everyone else out.
            let idle = self
                .peers
                .iter()
                .filter(|(_, p)| !p.peer_interested && !p.am_interested)
                .min_by_key(|(_, p)| p.last_block)
                .map(|(key, _)| *key);
            match idle {
                Some(key) => self.drop_peer(key, "making room for a new peer".into()),
                None => return,
            }
        }
        let fast = connected.handshake.supports_fast();
        let extensions = connected.handshake.supports_extensions();
        let outgoing = connected.outgoing;
        let key = PeerKey(self.next_key);
        self.next_key += 1;
        let storage = self.config.storage.clone();
        let options = peer::PeerOptions { max_queued_uploads: OUR_REQQ };
        let handle = match peer::start(connected, key, storage, self.peer_tx.clone(), options) {
            Ok(handle) => handle,
            Err(e) => {
                self.warn(format!("peer {addr}: cannot start its threads: {e}"));
                return;
            }
        };
        let mut opening = Vec::new();
        if extensions {
            let handshake = ExtendedHandshake {
                client: Some(format!("mt {}", env!("CARGO_PKG_VERSION"))),
                reqq: u32::try_from(OUR_REQQ).ok(),
                listen_port: Some(self.local_addr.port()),
                your_ip: Some(addr.ip()),
                ..ExtendedHandshake::default()
            };
            opening.push(handshake.to_message());
        }
        let have = self.picker.have();
        if fast && have.is_complete() {
            opening.push(Message::HaveAll);
        } else if fast && have.is_empty() {
            opening.push(Message::HaveNone);
        } else if !have.is_empty() {
            opening.push(Message::Bitfield(have.as_bytes().to_vec()));
        }
        handle.send(PeerCommand::Send(opening));
        let pieces = self.picker.have().len();
        self.peers.insert(key, Peer::new(handle, addr, their_id, fast, outgoing, pieces));
        self.picker.peer_joined(key);
        if let Some(known) = self.known.get_mut(&addr) {
            known.connected = true;
            known.failures = 0;
        }
        let _ = self.events.send(Event::PeerConnected { addr, outgoing });
    }

    /// Ends a connection and forgets the peer.
    pub fn drop_peer(&mut self, key: PeerKey, reason: String) {
        let Some(peer) = self.peers.remove(&key) else { return };
        peer.handle.shut_down();
        self.picker.peer_left(key);
        if let Some(known) = self.known.get_mut(&peer.addr) {
            known.connected = false;
            known.next_try = Some(Instant::now() + Duration::from_secs(5));
        }
        if self.optimistic == Some(key) {
            self.optimistic = None;
        }
        let _ = self.events.send(Event::PeerClosed { addr: peer.addr, reason });
        // Blocks it held are free again: hand them to the others.
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for other in keys {
            self.fill_requests(other);
        }
    }

    /// Ends a connection and refuses that peer from now on.
    pub fn ban(&mut self, key: PeerKey, reason: String) {
        if let Some(peer) = self.peers.get(&key) {
            self.banned_addrs.insert(peer.addr);
            self.banned_ids.insert(peer.peer_id);
            let _ = self.events.send(Event::PeerBanned { addr: peer.addr, reason: reason.clone() });
        }
        self.drop_peer(key, format!("banned: {reason}"));
    }

    /// True once every piece is verified.
    pub fn complete(&self) -> bool {
        self.picker.is_complete()
    }

    pub fn stats(&mut self) -> Stats {
        let layout = self.config.metainfo.layout();
        let memory = memory_usage();
        self.peak_private = self.peak_private.max(memory.private);
        Stats {
            have_pieces: self.picker.have().count(),
            total_pieces: layout.piece_count(),
            have_bytes: layout.total_length() - self.picker.missing_bytes(),
            total_bytes: layout.total_length(),
            downloaded: self.counters.downloaded.load(Ordering::Relaxed),
            uploaded: self.counters.uploaded.load(Ordering::Relaxed),
            rate_down: self.peers.values().map(|p| p.down.per_second()).sum(),
            rate_up: self.peers.values().map(|p| p.up.per_second()).sum(),
            peers: self.peers.len(),
            elapsed: self.started.elapsed().as_secs_f64(),
            memory,
        }
    }
}
