//! The Mainline DHT (BEP 5): a node that finds peers for a torrent with no tracker, and
//! tells the network about ours.
//!
//! One thread (`mt-dht`) owns the node: its routing table, its lookups, the peers others
//! announced to it. It reads the datagrams the listen port's UDP thread routes to it
//! ([`crate::udp`]) from a bounded queue (a flood past it is dropped, never queued), sends
//! through a clone of that socket, and takes commands from the session or the CLI through
//! [`Dht`]: follow a torrent ([`Dht::track`], looking it up and announcing it again and
//! again, peers handed to a callback as they come) or look one up once ([`Dht::get_peers`]).
//!
//! Bootstrap routers (`HOST:PORT`) are resolved on a helper thread, so an offline machine
//! costs a warning, never a delay; when a router or our own address is on loopback, many
//! nodes may share one address (a testnet on one host). The node id and table are saved per port in the state
//! folder ([`persist`]) at exit and every few minutes, and reused at the next start.
//!
//! Parts: [`id`] (ids and distance), [`krpc`] (the messages), [`table`] (routing table),
//! [`lookup`] (iterative lookups), [`tokens`], [`store`] (announced peers), [`limits`]
//! (per-address query rate), [`transactions`] (our queries in flight), [`node`] (the state
//! machine tying them together), [`persist`]. Only IPv4 is served for now: on a
//! dual-stack listen socket, datagrams from IPv6 senders are dropped.

pub mod id;
pub mod krpc;
pub mod limits;
pub mod lookup;
pub mod node;
pub mod persist;
pub mod store;
pub mod table;
pub mod tokens;
pub mod transactions;

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

pub use id::NodeId;
pub use lookup::Kind;
pub use node::{Counters, Finished, Node, NodeEvent};

use crate::types::InfoHash;
use node::LookupId;
use persist::{Saved, TableFile};

/// The public routers mt bootstraps from when given none.
pub const DEFAULT_ROUTERS: [&str; 4] = [
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
    "dht.libtorrent.org:25401",
];

/// Datagrams that may wait for the DHT thread; more are dropped.
pub const INBOUND_QUEUE: usize = 1024;
/// How often a followed torrent is looked up and announced again.
pub const REANNOUNCE: Duration = Duration::from_secs(15 * 60);
/// How soon a lookup that found no peer is tried again.
pub const RETRY_EMPTY: Duration = Duration::from_secs(10);
/// How often the table is saved.
const SAVE_EVERY: Duration = Duration::from_secs(5 * 60);
/// How often the node's timers run.
const TICK: Duration = Duration::from_millis(200);

/// A datagram for the DHT and who sent it.
pub type Datagram = (Vec<u8>, SocketAddr);

/// What a node needs to start.
pub struct DhtConfig {
    /// Routers, `HOST:PORT`.
    pub bootstrap: Vec<String>,
    /// The state folder to keep the table in; `None` keeps nothing.
    pub state_dir: Option<PathBuf>,
    /// Told of problems the node survives (routers that cannot be resolved, a table that
    /// cannot be saved).
    pub warn: Box<dyn Fn(String) + Send>,
}

/// Where a node stands, for `mt dht`.
#[derive(Clone, Debug)]
pub struct Status {
    /// Our id.
    pub id: NodeId,
    /// Nodes in the table.
    pub nodes: usize,
    /// Buckets in the table.
    pub buckets: usize,
    /// The counters.
    pub counters: Counters,
    /// Peers stored from announces.
    pub stored_peers: usize,
    /// Our queries awaiting answers.
    pub pending: usize,
}

type PeerSink = Box<dyn FnMut(Vec<SocketAddr>) + Send>;

enum Command {
    Ping(SocketAddr),
    Track { info_hash: InfoHash, announce: bool, sink: PeerSink },
    GetPeers { info_hash: InfoHash, reply: Sender<Finished> },
    Status(Sender<Status>),
}

/// A running DHT node.
pub struct Dht {
    commands: Sender<Command>,
    inbound: Sender<Datagram>,
    shutdown: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Dht {
    /// Starts a node sending from `socket` (a clone of the listen port's socket).
    pub fn start(socket: UdpSocket, config: DhtConfig) -> std::io::Result<Dht> {
        let (commands, command_rx) = crossbeam_channel::unbounded();
        let (inbound, inbound_rx) = crossbeam_channel::bounded(INBOUND_QUEUE);
        let shutdown = Arc::new(AtomicBool::new(false));
        let flag = shutdown.clone();
        let thread = std::thread::Builder::new()
            .name("mt-dht".into())
            .spawn(move || run(socket, config, &inbound_rx, &command_rx, &flag))?;
        Ok(Dht { commands, inbound, shutdown, thread: Some(thread) })
    }

    /// A handle that names nodes to the DHT (from peers' `port` messages).
    pub fn hints(&self) -> NodeHints {
        NodeHints(self.commands.clone())
    }

    /// Where the UDP thread puts KRPC datagrams.
    pub fn inbound(&self) -> Sender<Datagram> {
        self.inbound.clone()
    }

    /// Follows `info_hash`: looks it up now and again, announcing us as a peer (on the port
    /// we send from) when `announce`, and calls `sink` with peers as they are found.
    pub fn track(
        &self,
        info_hash: InfoHash,
        announce: bool,
        sink: impl FnMut(Vec<SocketAddr>) + Send + 'static,
    ) {
        let _ = self.commands.send(Command::Track { info_hash, announce, sink: Box::new(sink) });
    }

    /// Looks `info_hash` up once; the result comes on the returned channel.
    pub fn get_peers(&self, info_hash: InfoHash) -> Receiver<Finished> {
        let (reply, result) = crossbeam_channel::bounded(1);
        let _ = self.commands.send(Command::GetPeers { info_hash, reply });
        result
    }

    /// The node's figures now (waits at most a second).
    pub fn status(&self) -> Option<Status> {
        let (reply, result) = crossbeam_channel::bounded(1);
        self.commands.send(Command::Status(reply)).ok()?;
        result.recv_timeout(Duration::from_secs(1)).ok()
    }

    /// Stops the node, saving its table.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.shutdown.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Dht {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Names possible DHT nodes to a running node, which pings them: one that answers may enter
/// its table.
#[derive(Clone)]
pub struct NodeHints(Sender<Command>);

impl NodeHints {
    /// A peer said a DHT node runs at `addr` (BEP 5 `port` message).
    pub fn ping(&self, addr: SocketAddr) {
        let _ = self.0.send(Command::Ping(addr));
    }
}

/// Hands a datagram to the DHT without waiting; false when the queue is full.
pub fn offer(inbound: &Sender<Datagram>, datagram: &[u8], from: SocketAddr) -> bool {
    !matches!(inbound.try_send((datagram.to_vec(), from)), Err(TrySendError::Full(_)))
}

struct Tracked {
    announce: bool,
    sink: PeerSink,
    lookup: Option<LookupId>,
    next: Instant,
}

fn run(
    socket: UdpSocket,
    config: DhtConfig,
    inbound: &Receiver<Datagram>,
    commands: &Receiver<Command>,
    shutdown: &AtomicBool,
) {
    let local = socket.local_addr().ok();
    let table_file = match (&config.state_dir, local) {
        (Some(dir), Some(local)) => TableFile::lock(dir, local.port()).unwrap_or_else(|e| {
            (config.warn)(format!("dht: cannot use the state folder {}: {e}", dir.display()));
            None
        }),
        _ => None,
    };
    let saved = table_file.as_ref().and_then(TableFile::load);
    let now = Instant::now();
    let (id, known) = saved.map_or_else(|| (NodeId::random(), Vec::new()), |s| (s.id, s.nodes));
    // A dual-stack socket (`[::]`) serves the IPv4 DHT: datagrams arrive with canonical
    // IPv4 senders and are answered through their mapped form.
    let v4 = local.is_none_or(|a| a.is_ipv4() || crate::dual_stack::is_dual_stack(a));
    let family = move |addr: &SocketAddr| addr.is_ipv4() == v4;
    let known: Vec<_> = known.into_iter().filter(|n| n.addr.is_ipv4() == v4).collect();
    // Nodes on loopback are a testnet on one host: many share the address.
    let loopback = local.is_some_and(|a| a.ip().is_loopback())
        || known.iter().any(|n| n.addr.ip().is_loopback());
    let mut node = Node::new(id, loopback, &known, now);
    if !known.is_empty() {
        node.bootstrap(Vec::new(), now);
    }
    let mut resolved = resolve_routers(config.bootstrap.clone(), v4);
    let mut tracked: HashMap<InfoHash, Tracked> = HashMap::new();
    let mut once: HashMap<LookupId, Sender<Finished>> = HashMap::new();
    let mut waiting_once: Vec<(InfoHash, Sender<Finished>)> = Vec::new();
    let mut routers_known = false;
    let mut last_tick = now;
    let mut last_save = now;
    while !shutdown.load(Ordering::Acquire) {
        crossbeam_channel::select! {
            recv(inbound) -> datagram => {
                if let Ok((bytes, from)) = datagram {
                    let now = Instant::now();
                    if family(&from) {
                        node.receive(&bytes, from, now);
                    }
                    for (bytes, from) in inbound.try_iter().take(256).filter(|(_, f)| family(f)) {
                        node.receive(&bytes, from, now);
                    }
                }
            }
            recv(commands) -> command => match command {
                Ok(Command::Ping(addr)) if family(&addr) => node.ping_addr(addr, Instant::now()),
                Ok(Command::Ping(_)) => {}
                Ok(Command::Track { info_hash, announce, sink }) => {
                    tracked.insert(info_hash, Tracked { announce, sink, lookup: None, next: Instant::now() });
                }
                Ok(Command::GetPeers { info_hash, reply }) => waiting_once.push((info_hash, reply)),
                Ok(Command::Status(reply)) => {
                    let (nodes, stored_peers, _, pending, _) = node.sizes();
                    let _ = reply.send(Status {
                        id: node.id(),
                        nodes,
                        buckets: node.table().bucket_count(),
                        counters: node.counters(),
                        stored_peers,
                        pending,
                    });
                }
                Err(_) => {}
            },
            recv(resolved) -> routers => {
                // The resolver answers once; a closed channel would be ready forever.
                resolved = crossbeam_channel::never();
                if let Ok((routers, failures)) = routers {
                    for failure in failures {
                        (config.warn)(failure);
                    }
                    if routers.is_empty() && !config.bootstrap.is_empty() {
                        (config.warn)("dht: no bootstrap router could be resolved".into());
                    }
                    if routers.iter().any(|r| r.ip().is_loopback()) {
                        node.allow_same_ip();
                    }
                    node.bootstrap(routers, Instant::now());
                    routers_known = true;
                }
            }
            default(TICK) => {}
        }
        let now = Instant::now();
        if now.duration_since(last_tick) >= TICK {
            last_tick = now;
            node.tick(now);
        }
        // Lookups wait for the routers (or a saved table) so they do not start from nothing.
        if routers_known || !node.table().is_empty() {
            for (info_hash, reply) in waiting_once.drain(..) {
                if let Some(id) = node.lookup(NodeId::from(info_hash), Kind::GetPeers, None, now) {
                    once.insert(id, reply);
                }
            }
            for (info_hash, entry) in &mut tracked {
                if entry.lookup.is_none() && now >= entry.next {
                    let announce = entry.announce.then_some(0);
                    entry.lookup =
                        node.lookup(NodeId::from(*info_hash), Kind::GetPeers, announce, now);
                }
            }
        }
        for event in node.take_events() {
            match event {
                NodeEvent::Peers(id, peers) => {
                    if let Some(entry) = tracked.values_mut().find(|t| t.lookup == Some(id)) {
                        (entry.sink)(peers);
                    }
                }
                NodeEvent::Done(id, finished) => {
                    if let Some(reply) = once.remove(&id) {
                        let _ = reply.send(finished);
                    } else if let Some(entry) = tracked.values_mut().find(|t| t.lookup == Some(id))
                    {
                        entry.lookup = None;
                        let wait = if finished.peers.is_empty() { RETRY_EMPTY } else { REANNOUNCE };
                        entry.next = now + wait;
                    }
                }
            }
        }
        for (to, bytes) in node.take_outbox() {
            // A lost datagram is a lost query or answer, which KRPC already expects.
            let to = local.map_or(to, |local| crate::dual_stack::for_socket(local, to));
            let _ = socket.send_to(&bytes, to);
        }
        if now.duration_since(last_save) >= SAVE_EVERY {
            last_save = now;
            save(&node, table_file.as_ref(), &config);
        }
    }
    save(&node, table_file.as_ref(), &config);
}

fn save(node: &Node, file: Option<&TableFile>, config: &DhtConfig) {
    let Some(file) = file else { return };
    if node.table().is_empty() {
        return;
    }
    let saved = Saved { id: node.id(), nodes: node.table().nodes() };
    if let Err(e) = file.save(&saved) {
        (config.warn)(format!("dht: cannot save the routing table: {e}"));
    }
}

/// Resolves the routers on a helper thread; the result (addresses, and a warning per router
/// that failed) arrives on the channel once.
fn resolve_routers(routers: Vec<String>, v4: bool) -> Receiver<(Vec<SocketAddr>, Vec<String>)> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let spawned = std::thread::Builder::new().name("mt-dht-resolve".into()).spawn(move || {
        let mut found = Vec::new();
        let mut failures = Vec::new();
        for router in &routers {
            match router.to_socket_addrs() {
                Ok(addrs) => {
                    let before = found.len();
                    found.extend(addrs.filter(|a| a.is_ipv4() == v4).take(2));
                    if found.len() == before {
                        failures.push(format!("dht: router {router} has no address of our family"));
                    }
                }
                Err(e) => failures.push(format!(
                    "dht: cannot resolve router {router}: {}",
                    crate::error::lower_io(&e)
                )),
            }
        }
        let _ = tx.send((found, failures));
    });
    if spawned.is_err() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let _ = tx.send((Vec::new(), vec!["dht: cannot start the resolver thread".to_string()]));
        return rx;
    }
    rx
}
