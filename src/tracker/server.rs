//! The built-in tracker behind `mt tracker`: HTTP (BEP 3, 7, 23, 48) and UDP (BEP 15).
//!
//! [`Server::bind`] opens both endpoints; [`Server::run`] serves until a shutdown flag is set,
//! with one UDP thread and one HTTP accept thread that queues each connection for a pool of
//! at most [`MAX_HTTP_CONNECTIONS`] worker threads (when the queue is full, extra connections
//! are closed at once). Every socket wait has a short timeout, so each loop notices shutdown
//! within about 200 ms and a slow HTTP client holds its worker for at most
//! [`HTTP_REQUEST_TIMEOUT`]. An IPv6 endpoint is bound with `IPV6_V6ONLY` off
//! ([`crate::dual_stack`]), so `[::]:6969` serves IPv4 clients too.
//!
//! Shared state is one [`Tracker`]: the only lock is the mutex around the peer table
//! ([`swarm::Swarms`]); it is taken last, held only to update and read the table, and never
//! across I/O. Everything else in it is immutable after bind. The request handlers turn any
//! bad input into an error reply and never panic.

pub mod http;
pub mod swarm;
pub mod udp;

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use swarm::{PeerAnnounce, SwarmLimits, SwarmReply, Swarms, TorrentLimitReached};

use crate::error::lower_io;
use crate::tracker::announce::ScrapeStats;
use crate::types::InfoHash;

/// Most HTTP connections served at once, and most waiting for a worker.
pub const MAX_HTTP_CONNECTIONS: usize = 64;
/// Longest time an HTTP client may take to send its request.
pub const HTTP_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How often blocked loops wake to look at the shutdown flag.
pub const POLL: Duration = Duration::from_millis(200);
/// Peers returned when the client does not say how many it wants.
pub const DEFAULT_NUMWANT: usize = 50;
/// Most peers returned to one announce.
pub const MAX_NUMWANT: usize = 200;

/// What to serve and how much to remember.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// The HTTP endpoint, if any.
    pub http: Option<SocketAddr>,
    /// The UDP endpoint, if any.
    pub udp: Option<SocketAddr>,
    /// The announce interval told to clients; peers expire after two of them.
    pub interval: Duration,
    /// When set, only these torrents are served.
    pub allow: Option<HashSet<InfoHash>>,
    /// Most torrents tracked at once.
    pub max_torrents: usize,
    /// Most peers recorded per torrent.
    pub max_peers_per_torrent: usize,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        let local = SocketAddr::from(([127, 0, 0, 1], 6969));
        ServerConfig {
            http: Some(local),
            udp: Some(local),
            interval: Duration::from_secs(1800),
            allow: None,
            max_torrents: 10_000,
            max_peers_per_torrent: 1_000,
        }
    }
}

/// An endpoint could not be opened.
#[derive(Debug)]
pub struct BindError {
    /// `"http"` or `"udp"`.
    pub endpoint: &'static str,
    /// The address asked for.
    pub addr: SocketAddr,
    /// The operating system's error.
    pub source: io::Error,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot open tracker {} {}: {}", self.endpoint, self.addr, lower_io(&self.source))
    }
}

impl std::error::Error for BindError {}

/// Why the tracker refuses an announce or scrape; the text is sent to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The info hash is not on the allow list.
    Unregistered,
    /// The torrent table is full.
    Full,
}

impl Refusal {
    /// The message for `failure reason` or a UDP error packet.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Unregistered => "unregistered torrent",
            Refusal::Full => "tracker is full, try again later",
        }
    }
}

/// The state the HTTP and UDP handlers share.
#[derive(Debug)]
pub struct Tracker {
    interval: Duration,
    allow: Option<HashSet<InfoHash>>,
    swarms: Mutex<Swarms>,
    secret: [u8; 16],
    started: Instant,
}

impl Tracker {
    /// Fresh state for `config`, with a random secret for UDP connection ids.
    pub fn new(config: &ServerConfig) -> Tracker {
        let now = Instant::now();
        let limits = SwarmLimits {
            max_torrents: config.max_torrents,
            max_peers_per_torrent: config.max_peers_per_torrent,
            peer_ttl: config.interval.saturating_mul(2),
        };
        let mut secret = [0u8; 16];
        secret.iter_mut().for_each(|byte| *byte = fastrand::u8(..));
        Tracker {
            interval: config.interval,
            allow: config.allow.clone(),
            swarms: Mutex::new(Swarms::new(limits, now)),
            secret,
            started: now,
        }
    }

    /// The interval in whole seconds, at least one.
    pub fn interval_secs(&self) -> u32 {
        u32::try_from(self.interval.as_secs()).unwrap_or(u32::MAX).max(1)
    }

    /// The `min interval` in whole seconds: half the interval, at least one.
    pub fn min_interval_secs(&self) -> u32 {
        (self.interval_secs() / 2).max(1)
    }

    /// Whether the allow list (if any) has this torrent.
    pub fn allows(&self, info_hash: &InfoHash) -> bool {
        self.allow.as_ref().is_none_or(|allow| allow.contains(info_hash))
    }

    /// Records an announce and answers it.
    pub fn announce(&self, req: &PeerAnnounce) -> Result<SwarmReply, Refusal> {
        if !self.allows(&req.info_hash) {
            return Err(Refusal::Unregistered);
        }
        let mut swarms = self.swarms.lock().unwrap_or_else(PoisonError::into_inner);
        swarms.announce(req, Instant::now()).map_err(|TorrentLimitReached| Refusal::Full)
    }

    /// Counts for each torrent, in order; `None` for a torrent not on the allow list.
    pub fn scrape(&self, hashes: &[InfoHash]) -> Vec<Option<ScrapeStats>> {
        let swarms = self.swarms.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        hashes.iter().map(|hash| self.allows(hash).then(|| swarms.scrape(hash, now))).collect()
    }
}

/// A bound, not yet running tracker.
#[derive(Debug)]
pub struct Server {
    http: Option<TcpListener>,
    udp: Option<UdpSocket>,
    tracker: Tracker,
}

impl Server {
    /// Opens the configured endpoints.
    pub fn bind(config: ServerConfig) -> Result<Server, BindError> {
        let http = match config.http {
            Some(addr) => Some(crate::dual_stack::bind_tcp(addr).map_err(|source| BindError {
                endpoint: "http",
                addr,
                source,
            })?),
            None => None,
        };
        let udp = match config.udp {
            Some(addr) => Some(crate::dual_stack::bind_udp(addr).map_err(|source| BindError {
                endpoint: "udp",
                addr,
                source,
            })?),
            None => None,
        };
        Ok(Server { http, udp, tracker: Tracker::new(&config) })
    }

    /// The HTTP address actually bound (port 0 resolved).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|listener| listener.local_addr().ok())
    }

    /// The UDP address actually bound (port 0 resolved).
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp.as_ref().and_then(|socket| socket.local_addr().ok())
    }

    /// Serves until `shutdown` is set; returns once every thread has stopped.
    pub fn run(&self, shutdown: Arc<AtomicBool>) -> io::Result<()> {
        let shutdown = &*shutdown;
        thread::scope(|scope| {
            let mut loops = Vec::new();
            if let Some(socket) = &self.udp {
                let tracker = &self.tracker;
                loops.push(
                    thread::Builder::new()
                        .name("tracker-udp".into())
                        .spawn_scoped(scope, move || udp::serve(socket, tracker, shutdown))?,
                );
            }
            if let Some(listener) = &self.http {
                http::serve(scope, listener, &self.tracker, shutdown)?;
            }
            for handle in loops {
                handle.join().map_err(|_| io::Error::other("tracker udp thread panicked"))??;
            }
            Ok(())
        })
    }

    /// Binds and runs on a background thread until the handle is stopped or dropped.
    pub fn spawn(config: ServerConfig) -> Result<ServerHandle, BindError> {
        let server = Server::bind(config)?;
        let (http_addr, udp_addr) = (server.http_addr(), server.udp_addr());
        let shutdown = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&shutdown);
        let thread = thread::Builder::new()
            .name("tracker".into())
            .spawn(move || server.run(flag))
            .map_err(|source| BindError {
                endpoint: "thread",
                addr: http_addr.or(udp_addr).unwrap_or_else(|| ([0, 0, 0, 0], 0).into()),
                source,
            })?;
        Ok(ServerHandle { http_addr, udp_addr, shutdown, thread: Some(thread) })
    }
}

/// A tracker running on a background thread; stops when dropped.
#[derive(Debug)]
pub struct ServerHandle {
    http_addr: Option<SocketAddr>,
    udp_addr: Option<SocketAddr>,
    shutdown: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<io::Result<()>>>,
}

impl ServerHandle {
    /// The HTTP address it serves.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The UDP address it serves.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp_addr
    }

    /// Stops the server and waits for its threads (about 200 ms).
    pub fn stop(mut self) -> io::Result<()> {
        self.finish()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.shutdown.store(true, Ordering::SeqCst);
        match self.thread.take() {
            Some(thread) => {
                thread.join().map_err(|_| io::Error::other("tracker thread panicked"))?
            }
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
