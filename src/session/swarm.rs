//! The session thread: one loop over a [`Swarm`], the state of one running torrent, split by
//! concern into parts that each have one job:
//!
//! - [`Picker`]: which blocks to request, and what we have (`crate::picker`);
//! - [`Peers`]: the connected peers (`peers.rs`);
//! - [`AddressBook`]: addresses we may dial, backoff and bans (`address_book.rs`);
//! - [`Choker`]: whom we upload to (`choker.rs`);
//! - [`Timers`]: what runs on the clock (`timers.rs`);
//! - [`Channels`]: events out, helper threads in (`channels.rs`);
//! - [`Disk`]: the data and the work on it (`disk.rs`);
//! - [`Distribution`]: which pieces a seed has sent, to send each once (`distribution.rs`);
//! - [`SuperSeed`]: the pieces a super-seed offered each peer (`super_seed.rs`).
//!
//! The loop waits on three inputs: peer events (bounded, so fast peers are throttled by TCP
//! when we fall behind), the control channel (new connections, peer addresses, tracker
//! replies, hash results) and a 100 ms tick for timers. Connections are made and ended in
//! `connections.rs`, peer messages handled in `messages.rs`, blocks and hash results in
//! `pieces.rs`.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select};

use super::address_book::{AddressBook, PeerSource};
use super::announce::{Announcer, Counters, Signal};
use super::channels::{Channels, Control};
use super::choker::Choker;
use super::disk::Disk;
use super::distribution::Distribution;
use super::listen::{self, Dialer};
use super::peers::Peers;
use super::super_seed::SuperSeed;
use super::timers::Timers;
use super::{Event, SessionConfig, Stats, Summary, memory_usage};
use crate::error::Error;
use crate::peer::{InFlight, PeerEvent, PeerKey, ToSession};
use crate::picker::Picker;
use crate::registry::Registration;

/// Peer events buffered between the reader threads and the session.
const PEER_EVENT_QUEUE: usize = 256;
/// Bytes of blocks, bitfields and extension messages that may wait for the session at once
/// (the 256 events as 16 KiB blocks), plus one message when a larger one comes alone.
const PEER_EVENT_BYTES: u64 = 4 << 20;

/// All state of a running session.
pub(super) struct Swarm {
    pub config: SessionConfig,
    pub picker: Picker,
    pub peers: Peers,
    pub book: AddressBook,
    pub choker: Choker,
    pub timers: Timers,
    pub channels: Channels,
    pub disk: Disk,
    /// Seeds we parted from, still named in peer exchange.
    pub pex_seeds: super::pex::NamedSeeds,
    /// The web seeds in use (BEP 19).
    pub webseeds: super::webseeds::WebSeeds,
    /// Which of our pieces have left us, so a seed sends each once while it can.
    pub distribution: Distribution,
    /// The merkle trees we answer BEP 52 hash requests from.
    pub hash_trees: super::hash_serve::HashTrees,
    /// Super-seeding (BEP 16), when asked for and every piece is here.
    pub super_seed: Option<SuperSeed>,
}

/// Runs the session until it completes (without `keep_seeding`), times out or is stopped.
pub fn run(
    mut config: SessionConfig,
    listener: TcpListener,
    udp: UdpSocket,
    events: crossbeam_channel::Sender<Event>,
    shutdown: Arc<AtomicBool>,
) -> Result<Summary, Error> {
    let local_addr = listener.local_addr().map_err(|e| Error::Network(e.to_string()))?;
    let layout = config.metainfo.layout().clone();
    let mut picker = Picker::new(layout.geometry(), &config.have)
        .map_err(|_| Error::Bug("our bitfield disagrees with the layout"))?;
    picker.set_sequential(config.sequential);
    if let Some(wanted) = &config.wanted {
        picker.set_wanted(wanted);
    }
    let (control, control_rx) = crossbeam_channel::unbounded();
    let (peer_events, peer_rx) = crossbeam_channel::bounded(PEER_EVENT_QUEUE);
    let dht_config = config.dht.take().filter(|_| !config.metainfo.info.private);
    let v2_hash = config
        .metainfo
        .info_hash_v2
        .map(|v2| v2.truncated())
        .filter(|&hash| hash != config.metainfo.info_hash);
    let dht = dht_config
        .and_then(|c| super::dht::start(c, &udp, config.metainfo.info_hash, v2_hash, &control));
    let dialer = Dialer {
        info_hash: config.metainfo.info_hash,
        peer_id: config.peer_id,
        control: control.clone(),
        shutdown: shutdown.clone(),
        in_flight: Arc::new(AtomicUsize::new(0)),
        dht: dht.is_some(),
        v2: config.metainfo.info.version.has_v2(),
        v2_hash,
    };
    let accept_dialer = dialer.clone();
    let listener_thread = std::thread::Builder::new()
        .name("mt-listen".into())
        .spawn(move || listen::accept_loop(listener, accept_dialer))
        .map_err(|e| Error::Network(format!("cannot start the listener: {e}")))?;
    let krpc = dht.as_ref().map(|(_, inbound)| inbound.clone());
    let syn_control = control.clone();
    let on_syn: crate::udp::OnSyn = Box::new(move |addr| {
        let _ = syn_control.send(Control::UtpSyn(addr));
    });
    let udp_thread = crate::udp::spawn(udp, shutdown.clone(), krpc, Some(on_syn))
        .map_err(|e| Error::Network(format!("cannot start the udp listener: {e}")))?;
    let _ = events.send(Event::Listening(local_addr));
    let lsd_config =
        config.lsd.take().filter(|_| !config.metainfo.info.private && crate::lsd::fits(local_addr));
    let lsd = lsd_config
        .and_then(|c| super::lsd::start(c, local_addr, config.metainfo.info_hash, &control));
    let registration: Option<Registration> = config.registry.as_ref().and_then(|registry| {
        let advertised = advertised_addr(local_addr);
        registry.register(config.metainfo.info_hash, advertised).ok()
    });

    let disk = Disk::new(
        config.storage.clone(),
        &config.metainfo,
        control.clone(),
        config.resume.take(),
        config.have.clone(),
        &config.unsynced,
    )?;
    let counters = Arc::new(Counters::default());
    counters.left.store(picker.missing_bytes(), Ordering::Relaxed);
    let now = Instant::now();
    let mut timers = Timers::new(now);
    timers.wanted_bytes = picker.wanted_bytes();
    let picker_complete = picker.is_complete();
    let mut swarm = Swarm {
        picker,
        peers: Peers::default(),
        book: AddressBook::new(own_addrs(local_addr)),
        choker: Choker::new(
            match config.super_seed && picker_complete {
                true => config.upload_slots.max(super::super_seed::UPLOAD_SLOTS),
                false => config.upload_slots,
            },
            now,
        ),
        timers,
        channels: Channels {
            events,
            control,
            peer_events: ToSession {
                events: peer_events,
                in_flight: Arc::new(InFlight::new(PEER_EVENT_BYTES)),
            },
            dialer,
            signals: None,
            counters,
            local_addr,
            dht: dht.as_ref().map(|(node, _)| node.hints()),
        },
        disk,
        pex_seeds: Default::default(),
        webseeds: Default::default(),
        distribution: Distribution::new(config.metainfo.layout().piece_count()),
        hash_trees: Default::default(),
        super_seed: (config.super_seed && picker_complete)
            .then(|| SuperSeed::new(config.metainfo.layout().piece_count())),
        config,
    };
    let announcer_thread = swarm.start_announcer();
    let web_seeds = swarm.config.web_seeds.clone();
    if !swarm.complete() {
        swarm.start_webseeds(&web_seeds, &shutdown);
    }
    let manual = swarm.config.peers.clone();
    swarm.add_candidates(PeerSource::Manual, manual);
    swarm.discover();
    swarm.connect_some(Instant::now());
    let outcome = swarm.main_loop(&peer_rx, &control_rx, &shutdown);

    shutdown.store(true, Ordering::Release);
    swarm.channels.peer_events.in_flight.close();
    for peer in swarm.peers.values() {
        peer.handle.shut_down();
    }
    if let Some(signals) = swarm.channels.signals.take() {
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
    let _ = udp_thread.join();
    drop(dht); // saves the routing table
    drop(lsd);
    drop(registration);
    swarm.disk.finish();
    // Where pieces may be recorded unsynced, the kernel writes the data back on its own.
    let flushed = if swarm.disk.flush_at_end() {
        swarm.disk.storage.flush(0..layout.total_length())
    } else {
        Ok(())
    };
    let stats = swarm.stats();
    outcome?;
    flushed.map_err(Error::from)?;
    Ok(Summary {
        complete: swarm.complete(),
        stats,
        peak_private_memory: swarm.timers.peak_private,
    })
}

/// The address other local processes should dial: loopback when we listen on all addresses
/// (IPv4 loopback for a dual-stack `[::]`, which every process can dial).
pub(super) fn advertised_addr(local: SocketAddr) -> SocketAddr {
    let mut addr = local;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() || crate::dual_stack::is_dual_stack(local) {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    addr
}

/// Addresses that are us, never to be dialled: the listen address, and when it is
/// unspecified, loopback in the families it serves.
fn own_addrs(local: SocketAddr) -> Vec<SocketAddr> {
    let mut own = vec![local, advertised_addr(local)];
    if crate::dual_stack::is_dual_stack(local) {
        own.push(SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), local.port()));
        own.push(SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), local.port()));
    }
    own
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
            if self.complete() && (!self.config.keep_seeding || self.timers.seeding_over) {
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
            info_hashes: std::iter::once(self.config.metainfo.info_hash)
                .chain(self.channels.dialer.v2_hash)
                .collect(),
            peer_id: self.config.peer_id,
            port: self.channels.local_addr.port(),
            counters: self.channels.counters.clone(),
            control: self.channels.control.clone(),
            signals: signal_rx,
        };
        let (done_tx, done) = crossbeam_channel::bounded::<()>(0);
        let thread = std::thread::Builder::new().name("mt-announce".into()).spawn(move || {
            announcer.run();
            drop(done_tx);
        });
        match thread {
            Ok(thread) => {
                self.channels.signals = Some(signals);
                Some((thread, done))
            }
            Err(e) => {
                self.channels.warn(format!("cannot start the tracker thread: {e}"));
                None
            }
        }
    }

    fn on_control(&mut self, control: Control) -> Result<(), Error> {
        match control {
            Control::Connected(connected) => self.on_connected(*connected),
            Control::ConnectFailed(addr, _reason) => self.book.dial_failed(addr, Instant::now()),
            Control::TrackerPeers { url, peers } => {
                let count = peers.len();
                self.add_candidates(PeerSource::Tracker, peers);
                self.channels.emit(Event::TrackerReply { url, peers: count });
            }
            Control::TrackerFailed(reason) => self.channels.emit(Event::TrackerFailed(reason)),
            Control::DhtPeers(peers) => self.add_candidates(PeerSource::Dht, peers),
            Control::LsdPeers(peers) => self.add_candidates(PeerSource::Lsd, peers),
            Control::UtpSyn(addr) => self.add_candidates(PeerSource::UtpSyn, vec![addr]),
            Control::Warning(message) => self.channels.warn(message),
            Control::Hashed { piece, good } => self.on_hashed(piece, good)?,
            Control::SyncFailed(reason) => {
                return Err(Error::Network(format!("cannot make pieces durable: {reason}")));
            }
            Control::WriteFailed(err) => return Err(err.into()),
            Control::Fetched(fetched) => self.on_fetched(*fetched)?,
            Control::HashAnswer { key, message } => self.send_hash_answer(key, message),
        }
        Ok(())
    }

    /// True once every piece is verified.
    pub fn complete(&self) -> bool {
        self.picker.is_complete()
    }

    /// Figures for now; also samples the peak private memory.
    pub fn stats(&mut self) -> Stats {
        let layout = self.config.metainfo.layout();
        let memory = memory_usage();
        self.timers.peak_private = self.timers.peak_private.max(memory.private);
        let counters = &self.channels.counters;
        Stats {
            have_pieces: self.picker.have().count(),
            total_pieces: layout.piece_count(),
            have_bytes: self.timers.wanted_bytes - self.picker.missing_bytes(),
            total_bytes: self.timers.wanted_bytes,
            downloaded: counters.downloaded.load(Ordering::Relaxed),
            uploaded: counters.uploaded.load(Ordering::Relaxed),
            rate_down: self.peers.values().map(|p| p.down.per_second()).sum::<u64>()
                + self.webseeds.rate(),
            rate_up: self.peers.values().map(|p| p.up.per_second()).sum(),
            peers: self.peers.len(),
            max_down: self.config.limits.down.as_ref().map(|b| b.rate()),
            max_up: self.config.limits.up.as_ref().map(|b| b.rate()),
            elapsed: self.timers.started.elapsed().as_secs_f64(),
            memory,
        }
    }
}
