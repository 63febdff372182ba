//! A running torrent: the session thread that owns the swarm, and the handle the CLI holds.
//!
//! # Threads
//!
//! ```text
//! udp (uTP: reset) ─ listen port, owned alone; turns uTP dialers away at once,
//!   └─ KRPC → dht ──peers found──→ control channel (see `dht.rs`)
//! lsd (multicast, port 6771) ──peers found──→ control channel (see `lsd.rs`)
//! listener ──accepted+handshaked──┐
//! connectors ─connected───────────┤            ┌─→ peer writer threads (uploads read storage)
//! announcer ──peers from trackers─┼─→ session ─┤
//! hash jobs (rayon) ─piece ok/bad─┤    thread  └─→ Event channel → CLI (bars, --json)
//! peer reader threads ─messages───┘
//! ```
//!
//! The session thread owns all swarm state; there are no locks. Every other thread talks to
//! it through crossbeam channels, and every loop watches the one shutdown flag in
//! [`SessionHandle`]. Received blocks are written into storage by the disk thread;
//! completed pieces are hashed on the rayon pool and announced with `have`, and the sync
//! thread makes them durable in batches before the resume record claims them.
//!
//! # Parts
//!
//! The state is split by concern (`swarm.rs` holds them together): the picker (what to
//! request), the connected peers, the address book (whom we may dial, backoff, bans), the
//! choker (whom we upload to), the timers, the channels to and from other threads, and the
//! disk side (storage, hash jobs, unreadable pieces), and the web seeds (`webseeds.rs`). Every peer source feeds addresses into
//! the address book through one entry point with its [`PeerSource`]; the session alone
//! decides whom to dial. What a peer connection may hold is passed down to it as
//! [`crate::peer::PeerOptions`].

mod address_book;
mod announce;
mod channels;
mod choker;
mod connections;
mod dht;
mod disk;
mod distribution;
mod durable;
mod hash_serve;
mod listen;
mod lsd;
mod memory;
mod messages;
mod metadata;
mod peers;
mod pex;
mod pieces;
mod prepare;
mod super_seed;
mod swarm;
mod timers;
mod webseeds;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::bandwidth::TokenBucket;
use crate::bitfield::Bitfield;
use crate::error::Error;
use crate::metainfo::Metainfo;
use crate::registry::Registry;
use crate::resume::ResumeStore;
use crate::storage::Storage;
use crate::types::PeerId;

pub use address_book::PeerSource;
pub use memory::{MemoryUsage, memory_usage};
pub use prepare::{PARTS_FILE, Prepared, ResumeOptions, open_for_download, open_for_seeding};

/// Everything a session needs to run.
pub struct SessionConfig {
    /// The torrent.
    pub metainfo: Arc<Metainfo>,
    /// Its open files.
    pub storage: Arc<Storage>,
    /// Where to keep the resume record of these files as pieces become durable, if anywhere.
    pub resume: Option<ResumeStore>,
    /// The pieces already verified on disk.
    pub have: Bitfield,
    /// The pieces of `have` that a resume record of this boot vouched for before any sync
    /// made them durable (see [`crate::resume`]); the session makes them durable.
    pub unsynced: Bitfield,
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// When the listen port is taken, try the next ones.
    pub next_free_port: bool,
    /// Peers to connect to, besides those trackers and the registry name.
    pub peers: Vec<SocketAddr>,
    /// Keep serving after the download completes (always true for `mt seed`).
    pub keep_seeding: bool,
    /// Download pieces in order instead of rarest first.
    pub sequential: bool,
    /// Regular upload slots (one optimistic slot comes on top).
    pub upload_slots: usize,
    /// Give up an incomplete download after this long.
    pub timeout: Option<Duration>,
    /// Same-host discovery, if enabled.
    pub registry: Option<Registry>,
    /// Whether to announce to the torrent's trackers.
    pub use_trackers: bool,
    /// Our peer id.
    pub peer_id: PeerId,
    /// Process-wide rate limits on piece payload.
    pub limits: Limits,
    /// Web seed URLs to download from (BEP 19), besides peers.
    pub web_seeds: Vec<String>,
    /// The DHT node to run on the listen port, if any (never for a private torrent).
    pub dht: Option<crate::dht::DhtConfig>,
    /// Local service discovery (BEP 14) for this torrent, if any (never for a private one).
    pub lsd: Option<crate::lsd::LsdConfig>,
    /// The pieces to download when only some files are selected; `None` wants every piece.
    pub wanted: Option<Bitfield>,
    /// When a download that keeps seeding stops (`--ratio`, `--seed-time`).
    pub seed_limits: SeedLimits,
    /// Super-seed (BEP 16) while every piece is here: show no pieces, offer each peer rare ones.
    pub super_seed: bool,
}

/// When seeding after a download stops; with neither set it goes on until stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SeedLimits {
    /// Stop once this session uploaded this many times the bytes of the wanted pieces.
    pub ratio: Option<f64>,
    /// Stop once seeding has lasted this long after completion.
    pub time: Option<Duration>,
}

/// Rate limits shared by every connection of the process (`--max-down`, `--max-up`).
#[derive(Clone, Debug, Default)]
pub struct Limits {
    /// Paces our requests: a block is asked for only when its bytes may arrive.
    pub down: Option<Arc<TokenBucket>>,
    /// Paces our uploads: a block is written only when its bytes may leave.
    pub up: Option<Arc<TokenBucket>>,
}

/// Transfer figures at one moment.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Verified pieces.
    pub have_pieces: u32,
    /// Pieces in the torrent.
    pub total_pieces: u32,
    /// Bytes in verified pieces.
    pub have_bytes: u64,
    /// Bytes in the torrent.
    pub total_bytes: u64,
    /// Payload bytes received this session.
    pub downloaded: u64,
    /// Payload bytes sent this session.
    pub uploaded: u64,
    /// Receive rate over the last seconds, bytes per second.
    pub rate_down: u64,
    /// Send rate over the last seconds, bytes per second.
    pub rate_up: u64,
    /// Connected peers.
    pub peers: usize,
    /// The download limit, bytes per second, if any.
    pub max_down: Option<u64>,
    /// The upload limit, bytes per second, if any.
    pub max_up: Option<u64>,
    /// Seconds since the session started.
    pub elapsed: f64,
    /// This process's memory.
    pub memory: MemoryUsage,
}

/// What the session reports while it runs.
#[derive(Clone, Debug)]
pub enum Event {
    /// The listener is up.
    Listening(SocketAddr),
    /// A tracker answered with this many peers.
    TrackerReply {
        /// The tracker.
        url: String,
        /// Peers in the reply.
        peers: usize,
    },
    /// No tracker answered; the text names the last one and its error.
    TrackerFailed(String),
    /// A peer finished its handshake.
    PeerConnected {
        /// Its address.
        addr: SocketAddr,
        /// Its outgoing-ness: true when we connected out.
        outgoing: bool,
    },
    /// A peer told us its client name (BEP 10 `v`).
    PeerClient {
        /// Its address.
        addr: SocketAddr,
        /// The name.
        client: String,
    },
    /// A peer connection ended.
    PeerClosed {
        /// Its address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// A peer was banned (repeated bad data or protocol abuse).
    PeerBanned {
        /// Its address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// A piece failed its hash check and will be fetched again.
    PieceFailed {
        /// The piece.
        piece: u32,
        /// The peers that sent its blocks.
        from: Vec<SocketAddr>,
    },
    /// A request to a web seed failed; it is tried again after a backoff.
    WebSeedFailed {
        /// The web seed.
        url: String,
        /// Why, naming the file's URL.
        reason: String,
    },
    /// A web seed is no longer used (bad data, or it kept failing).
    WebSeedDropped {
        /// The web seed.
        url: String,
        /// Why.
        reason: String,
    },
    /// Something went wrong that the session survives.
    Warning(String),
    /// Periodic figures.
    Stats(Stats),
    /// Every piece is verified.
    Complete(Stats),
}

/// The result of a finished session.
#[derive(Clone, Debug)]
pub struct Summary {
    /// True when every piece was verified.
    pub complete: bool,
    /// Final figures.
    pub stats: Stats,
    /// Peak anonymous (private) resident memory seen, bytes.
    pub peak_private_memory: u64,
}

/// A running session.
pub struct SessionHandle {
    /// Events, until the session ends (the channel then disconnects).
    pub events: Receiver<Event>,
    /// The address peers can reach us at.
    pub local_addr: SocketAddr,
    shutdown: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<Summary, Error>>>,
}

impl SessionHandle {
    /// Asks the session to stop (announcing `stopped`); [`SessionHandle::wait`] returns soon.
    pub fn stop(&self) {
        self.shutdown.store(true, Ordering::Release);
    }

    /// The flag that stops the session when set (for signal handlers).
    pub fn shutdown_flag(&self) -> Arc<AtomicBool> {
        self.shutdown.clone()
    }

    /// Waits for the session to end.
    pub fn wait(mut self) -> Result<Summary, Error> {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => Err(Error::Bug("the session thread panicked")),
        }
    }
}

/// Binds the listener and starts the session thread.
pub fn start(config: SessionConfig) -> Result<SessionHandle, Error> {
    let (listener, udp) = listen::bind(config.listen, config.next_free_port)?;
    let local_addr = listener.local_addr().map_err(|e| Error::Network(format!("listener: {e}")))?;
    let shutdown = Arc::new(AtomicBool::new(false));
    let (event_tx, events) = crossbeam_channel::unbounded();
    let flag = shutdown.clone();
    let thread = std::thread::Builder::new()
        .name("mt-session".into())
        .spawn(move || swarm::run(config, listener, udp, event_tx, flag))
        .map_err(|e| Error::Network(format!("cannot start the session thread: {e}")))?;
    Ok(SessionHandle { events, local_addr, shutdown, thread: Some(thread) })
}
