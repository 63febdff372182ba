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
//! machine tying them together), [`persist`].
//!
//! IPv6 (BEP 32): one [`Node`] per address family the socket serves, sharing the node id
//! and the table file: IPv4 on an IPv4 socket, IPv6 on an IPv6 one, both on a dual-stack
//! `[::]`. A datagram goes to the node of its sender's family; an answer whose query asks
//! for both families (`want`) takes nodes from both tables. Followed torrents and one-off
//! lookups run on every family's table, their peers merged.

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
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

pub use id::NodeId;
pub use lookup::Kind;
pub use node::{Counters, Finished, Node, NodeEvent};

use crate::types::InfoHash;
use crate::worker::Worker;
use krpc::NodeInfo;
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
    /// Ask others not to put us in their tables (BEP 43): for a node that lives only for a
    /// lookup or two, which would linger in their tables, silent, once gone.
    pub read_only: bool,
}

/// Where a node stands, for `mt dht`.
#[derive(Clone, Debug)]
pub struct Status {
    /// Our id.
    pub id: NodeId,
    /// Nodes in the IPv4 table.
    pub nodes: usize,
    /// Nodes in the IPv6 table (BEP 32).
    pub nodes6: usize,
    /// Buckets in the tables.
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
    /// First, so that dropping the node stops the thread while it can still be told things.
    worker: Worker,
    commands: Sender<Command>,
    inbound: Sender<Datagram>,
}

impl Dht {
    /// Starts a node sending from `socket` (a clone of the listen port's socket).
    pub fn start(socket: UdpSocket, config: DhtConfig) -> std::io::Result<Dht> {
        let (commands, command_rx) = crossbeam_channel::unbounded();
        let (inbound, inbound_rx) = crossbeam_channel::bounded(INBOUND_QUEUE);
        let worker = Worker::spawn("mt-dht", move |stop| {
            run(socket, config, &inbound_rx, &command_rx, stop);
        })?;
        Ok(Dht { worker, commands, inbound })
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
        self.worker.stop();
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
    /// The running lookup and the time of the next, per family (index as in `nodes`).
    lookup: [Option<LookupId>; 2],
    next: [Instant; 2],
}

/// A one-off lookup, run on every family's table, answered when all have ended.
struct Once {
    reply: Sender<Finished>,
    running: usize,
    merged: Option<Finished>,
}

/// The node of one address family and whether that family is IPv4.
struct Family {
    v4: bool,
    node: Node,
}

/// The families a socket bound to `local` serves: IPv4 on an IPv4 socket, IPv6 on an IPv6
/// one, both (IPv4 first) on a dual-stack `[::]`.
fn families(local: Option<SocketAddr>) -> Vec<bool> {
    match local {
        None => vec![true],
        Some(a) if crate::dual_stack::is_dual_stack(a) => vec![true, false],
        Some(a) => vec![a.is_ipv4()],
    }
}

/// Adds one family's lookup result to another's.
fn merge(into: &mut Finished, more: Finished) {
    into.closest.extend(more.closest);
    for peer in more.peers {
        if !into.peers.contains(&peer) {
            into.peers.push(peer);
        }
    }
    into.messages += more.messages;
    into.elapsed = into.elapsed.max(more.elapsed);
}

fn add_counters(a: Counters, b: Counters) -> Counters {
    Counters {
        queries_served: a.queries_served + b.queries_served,
        queries_dropped: a.queries_dropped + b.queries_dropped,
        malformed: a.malformed + b.malformed,
        lookups_done: a.lookups_done + b.lookups_done,
        queries_sent: a.queries_sent + b.queries_sent,
    }
}

/// Hands a datagram to the node of its sender's family, with the other family's table for
/// answers that `want` both.
fn deliver(nodes: &mut [Family], bytes: &[u8], from: SocketAddr, now: Instant) {
    let Some(at) = nodes.iter().position(|f| f.v4 == from.is_ipv4()) else { return };
    let (left, right) = nodes.split_at_mut(at);
    let Some((this, rest)) = right.split_first_mut() else { return };
    let other = left.first().or(rest.first()).map(|f| f.node.table());
    this.node.receive_with(bytes, from, other, now);
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
    // One node id, one table per family (BEP 32). A dual-stack socket (`[::]`) serves both:
    // IPv4 senders arrive canonical, and are answered through their mapped form.
    let mut nodes: Vec<Family> = families(local)
        .into_iter()
        .map(|v4| {
            let known: Vec<_> = known.iter().filter(|n| n.addr.is_ipv4() == v4).copied().collect();
            // Nodes on loopback are a testnet on one host: many share the address.
            let loopback = local.is_some_and(|a| a.ip().is_loopback())
                || known.iter().any(|n| n.addr.ip().is_loopback());
            let mut node = Node::new(id, loopback, &known, now);
            if config.read_only {
                node.set_read_only();
            }
            if !known.is_empty() {
                node.bootstrap(Vec::new(), now);
            }
            Family { v4, node }
        })
        .collect();
    let mut resolved = resolve_routers(config.bootstrap.clone(), families(local));
    let mut tracked: HashMap<InfoHash, Tracked> = HashMap::new();
    let mut once: HashMap<(usize, LookupId), usize> = HashMap::new();
    let mut onces: HashMap<usize, Once> = HashMap::new();
    let mut next_once = 0usize;
    let mut waiting_once: Vec<(InfoHash, Sender<Finished>)> = Vec::new();
    let mut routers_known = false;
    let mut last_tick = now;
    let mut last_save = now;
    while !shutdown.load(Ordering::Acquire) {
        crossbeam_channel::select! {
            recv(inbound) -> datagram => {
                if let Ok((bytes, from)) = datagram {
                    let now = Instant::now();
                    deliver(&mut nodes, &bytes, from, now);
                    for (bytes, from) in inbound.try_iter().take(256) {
                        deliver(&mut nodes, &bytes, from, now);
                    }
                }
            }
            recv(commands) -> command => match command {
                Ok(Command::Ping(addr)) => {
                    if let Some(family) = nodes.iter_mut().find(|f| f.v4 == addr.is_ipv4()) {
                        family.node.ping_addr(addr, Instant::now());
                    }
                }
                Ok(Command::Track { info_hash, announce, sink }) => {
                    let now = Instant::now();
                    tracked.insert(info_hash, Tracked { announce, sink, lookup: [None; 2], next: [now; 2] });
                }
                Ok(Command::GetPeers { info_hash, reply }) => waiting_once.push((info_hash, reply)),
                Ok(Command::Status(reply)) => {
                    let _ = reply.send(status(&nodes));
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
                    for family in &mut nodes {
                        let routers: Vec<SocketAddr> =
                            routers.iter().filter(|r| r.is_ipv4() == family.v4).copied().collect();
                        if routers.iter().any(|r| r.ip().is_loopback()) {
                            family.node.allow_same_ip();
                        }
                        family.node.bootstrap(routers, Instant::now());
                    }
                    routers_known = true;
                }
            }
            default(TICK) => {}
        }
        let now = Instant::now();
        if now.duration_since(last_tick) >= TICK {
            last_tick = now;
            for family in &mut nodes {
                family.node.tick(now);
            }
        }
        // Lookups wait for the routers (or a saved table) so they do not start from nothing.
        let ready: Vec<bool> =
            nodes.iter().map(|f| routers_known || !f.node.table().is_empty()).collect();
        if ready.iter().all(|r| *r) {
            for (info_hash, reply) in waiting_once.drain(..) {
                next_once += 1;
                let mut entry = Once { reply, running: 0, merged: None };
                for (at, family) in nodes.iter_mut().enumerate() {
                    let target = NodeId::from(info_hash);
                    if let Some(id) = family.node.lookup(target, Kind::GetPeers, None, now) {
                        once.insert((at, id), next_once);
                        entry.running += 1;
                    }
                }
                if entry.running > 0 {
                    onces.insert(next_once, entry);
                }
            }
        }
        for (info_hash, entry) in &mut tracked {
            for (at, family) in nodes.iter_mut().enumerate() {
                if ready[at] && entry.lookup[at].is_none() && now >= entry.next[at] {
                    let announce = entry.announce.then_some(0);
                    let target = NodeId::from(*info_hash);
                    entry.lookup[at] = family.node.lookup(target, Kind::GetPeers, announce, now);
                }
            }
        }
        for (at, family) in nodes.iter_mut().enumerate() {
            for event in family.node.take_events() {
                match event {
                    NodeEvent::Peers(id, peers) => {
                        if let Some(entry) = tracked.values_mut().find(|t| t.lookup[at] == Some(id))
                        {
                            (entry.sink)(peers);
                        }
                    }
                    NodeEvent::Done(id, finished) => {
                        if let Some(key) = once.remove(&(at, id)) {
                            if let Some(entry) = onces.get_mut(&key) {
                                entry.running -= 1;
                                match &mut entry.merged {
                                    Some(merged) => merge(merged, finished),
                                    None => entry.merged = Some(finished),
                                }
                                if entry.running == 0
                                    && let Some(entry) = onces.remove(&key)
                                    && let Some(merged) = entry.merged
                                {
                                    let _ = entry.reply.send(merged);
                                }
                            }
                        } else if let Some(entry) =
                            tracked.values_mut().find(|t| t.lookup[at] == Some(id))
                        {
                            entry.lookup[at] = None;
                            let wait =
                                if finished.peers.is_empty() { RETRY_EMPTY } else { REANNOUNCE };
                            entry.next[at] = now + wait;
                        }
                    }
                }
            }
            for (to, bytes) in family.node.take_outbox() {
                // A lost datagram is a lost query or answer, which KRPC already expects.
                let to = local.map_or(to, |local| crate::dual_stack::for_socket(local, to));
                let _ = socket.send_to(&bytes, to);
            }
        }
        if now.duration_since(last_save) >= SAVE_EVERY {
            last_save = now;
            save(&nodes, table_file.as_ref(), &config);
        }
    }
    save(&nodes, table_file.as_ref(), &config);
}

fn status(nodes: &[Family]) -> Status {
    let mut status = Status {
        id: nodes.first().map_or_else(NodeId::random, |f| f.node.id()),
        nodes: 0,
        nodes6: 0,
        buckets: 0,
        counters: Counters::default(),
        stored_peers: 0,
        pending: 0,
    };
    for family in nodes {
        let (table, stored_peers, _, pending, _) = family.node.sizes();
        if family.v4 {
            status.nodes = table;
        } else {
            status.nodes6 = table;
        }
        status.buckets += family.node.table().bucket_count();
        status.counters = add_counters(status.counters, family.node.counters());
        status.stored_peers += stored_peers;
        status.pending += pending;
    }
    status
}

/// Saves every family's table, in one file, when any has nodes.
fn save(nodes: &[Family], file: Option<&TableFile>, config: &DhtConfig) {
    let Some(file) = file else { return };
    let Some(first) = nodes.first() else { return };
    let all: Vec<NodeInfo> = nodes.iter().flat_map(|f| f.node.table().nodes()).collect();
    if all.is_empty() {
        return;
    }
    let saved = Saved { id: first.node.id(), nodes: all };
    if let Err(e) = file.save(&saved) {
        (config.warn)(format!("dht: cannot save the routing table: {e}"));
    }
}

/// Resolves the routers on a helper thread; the result (addresses, and a warning per router
/// that failed) arrives on the channel once.
fn resolve_routers(
    routers: Vec<String>,
    families: Vec<bool>,
) -> Receiver<(Vec<SocketAddr>, Vec<String>)> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let spawned = std::thread::Builder::new().name("mt-dht-resolve".into()).spawn(move || {
        let mut found = Vec::new();
        let mut failures = Vec::new();
        for router in &routers {
            match router.to_socket_addrs() {
                Ok(addrs) => {
                    let before = found.len();
                    found.extend(addrs.filter(|a| families.contains(&a.is_ipv4())).take(2));
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
