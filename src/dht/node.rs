//! The DHT node as a state machine, with no sockets or clocks of its own: datagrams and the
//! time go in ([`Node::receive`], [`Node::tick`]), datagrams to send and lookup results come
//! out ([`Node::take_outbox`], [`Node::take_events`]). The thread in `crate::dht` drives it.
//!
//! It answers `ping`, `find_node`, `get_peers` and `announce_peer`, each source address
//! rate-limited ([`super::limits`]); keeps the routing table fresh (stale buckets are looked
//! up again, questionable nodes pinged); and runs lookups for whoever asks. A stranger that
//! queries us is pinged, so it may enter the table when it answers, unless its query says it
//! is read-only (BEP 43): a one-off probe that is gone a moment later would otherwise stay in
//! the table as a good node for [`super::table::GOOD_FOR`], and lookups would wait on it. A
//! node made read-only itself ([`Node::set_read_only`]) says so in every query it sends. Queries we send
//! are bounded by [`super::transactions::MAX_PENDING`], so what the network can make us hold
//! is bounded: table, peer store, rate buckets, pending queries and lookups
//! ([`MAX_LOOKUPS`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::id::NodeId;
use super::krpc::{Body, DecodeError, Message, Method, NodeInfo, Query, Response, Want, code};
use super::limits::RateLimit;
use super::lookup::{Kind, Lookup};
use super::store::PeerStore;
use super::table::{Insert, K, Table};
use super::tokens::Tokens;
use super::transactions::{Pending, Purpose, Transactions};
use crate::types::InfoHash;

/// Most lookups running at once.
pub const MAX_LOOKUPS: usize = 64;
/// A bucket nobody changed for this long is looked up again.
const REFRESH: Duration = Duration::from_secs(15 * 60);
/// A questionable node is pinged at most this often.
const PING_EVERY: Duration = Duration::from_secs(5 * 60);
/// With fewer than [`K`] nodes, the routers are asked again this often.
const REBOOTSTRAP: Duration = Duration::from_secs(30);
/// Pings sent per tick at most, for table upkeep.
const PINGS_PER_TICK: usize = 8;

/// A lookup's number.
pub type LookupId = u64;

/// What a lookup reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    /// Peers new to this lookup.
    Peers(LookupId, Vec<SocketAddr>),
    /// The lookup ended.
    Done(LookupId, Finished),
}

/// A finished lookup's figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// The nearest nodes that answered.
    pub closest: Vec<NodeInfo>,
    /// Every peer found.
    pub peers: Vec<SocketAddr>,
    /// Queries sent (announces included).
    pub messages: u32,
    /// How long it took.
    pub elapsed: Duration,
}

/// Counters for `mt dht` and the benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Queries answered.
    pub queries_served: u64,
    /// Queries dropped by the rate limit.
    pub queries_dropped: u64,
    /// Datagrams that were not valid KRPC.
    pub malformed: u64,
    /// Lookups finished.
    pub lookups_done: u64,
    /// Queries we sent.
    pub queries_sent: u64,
}

struct Running {
    lookup: Lookup,
    /// Announce to the nearest nodes at the end, with this port (0: the source port).
    announce: Option<u16>,
    /// Internal (bootstrap, refresh): no events.
    quiet: bool,
}

/// The node.
pub struct Node {
    table: Table,
    tokens: Tokens,
    store: PeerStore,
    limit: RateLimit,
    transactions: Transactions,
    lookups: HashMap<LookupId, Running>,
    next_lookup: LookupId,
    routers: Vec<SocketAddr>,
    last_bootstrap: Option<Instant>,
    outbox: Vec<(SocketAddr, Vec<u8>)>,
    events: Vec<NodeEvent>,
    counters: Counters,
    /// Our queries carry `ro` (BEP 43): nobody is to put us in a table.
    read_only: bool,
}

impl Node {
    /// A node with id `own`; `allow_same_ip` lets many nodes share an address (testnets on
    /// one host); `known` are nodes saved from an earlier run, questionable until they answer.
    pub fn new(own: NodeId, allow_same_ip: bool, known: &[NodeInfo], now: Instant) -> Node {
        let mut table = Table::new(own, allow_same_ip, now);
        for node in known {
            table.heard_from(*node, false, now);
        }
        let mut limit = RateLimit::default();
        if allow_same_ip {
            limit.per_port();
        }
        Node {
            table,
            tokens: Tokens::new(now),
            store: PeerStore::default(),
            limit,
            transactions: Transactions::default(),
            lookups: HashMap::new(),
            next_lookup: 0,
            routers: Vec::new(),
            last_bootstrap: None,
            outbox: Vec::new(),
            events: Vec::new(),
            counters: Counters::default(),
            read_only: false,
        }
    }

    /// Our id.
    pub fn id(&self) -> NodeId {
        self.table.own_id()
    }

    /// The routing table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// The counters.
    pub fn counters(&self) -> Counters {
        Counters { queries_dropped: self.limit.dropped(), ..self.counters }
    }

    /// Sizes of what the network can make us hold: (table nodes, stored peers, rate-limited
    /// sources, pending queries, lookups).
    pub fn sizes(&self) -> (usize, usize, usize, usize, usize) {
        (
            self.table.len(),
            self.store.size().1,
            self.limit.sources(),
            self.transactions.len(),
            self.lookups.len(),
        )
    }

    /// Marks every query we send read-only (BEP 43): for a node that lives only as long as
    /// one lookup, which others should not keep in their tables.
    pub fn set_read_only(&mut self) {
        self.read_only = true;
    }

    /// Lets many nodes share one IP address (a testnet on one host).
    pub fn allow_same_ip(&mut self) {
        self.table.allow_same_ip();
        self.limit.per_port();
    }

    /// Sets the bootstrap routers and looks up our own id through them (and the table).
    pub fn bootstrap(&mut self, routers: Vec<SocketAddr>, now: Instant) {
        self.routers = routers;
        self.last_bootstrap = Some(now);
        let own = self.id();
        self.start(own, Kind::FindNode, None, true, now);
    }

    /// Starts a lookup of `target`; with `announce`, tells the nearest nodes we are a peer
    /// (port 0: the port we send from). `None` when too many lookups run.
    pub fn lookup(
        &mut self,
        target: NodeId,
        kind: Kind,
        announce: Option<u16>,
        now: Instant,
    ) -> Option<LookupId> {
        self.start(target, kind, announce, false, now)
    }

    fn start(
        &mut self,
        target: NodeId,
        kind: Kind,
        announce: Option<u16>,
        quiet: bool,
        now: Instant,
    ) -> Option<LookupId> {
        if self.lookups.len() >= MAX_LOOKUPS {
            return None;
        }
        let nodes = self.table.closest(&target, K * 2, now);
        let routers: &[SocketAddr] = if nodes.len() < K { &self.routers } else { &[] };
        let lookup = Lookup::new(target, kind, &nodes, routers, now).exclude(self.id());
        self.next_lookup += 1;
        let id = self.next_lookup;
        self.lookups.insert(id, Running { lookup, announce, quiet });
        self.step(id, now);
        Some(id)
    }

    /// Takes in one datagram from `from`.
    pub fn receive(&mut self, datagram: &[u8], from: SocketAddr, now: Instant) {
        self.receive_with(datagram, from, None, now);
    }

    /// Takes in one datagram from `from`; `other` is the routing table of the other address
    /// family on the same socket (BEP 32), whose nodes go in answers whose `want` asks for
    /// them.
    pub fn receive_with(
        &mut self,
        datagram: &[u8],
        from: SocketAddr,
        other: Option<&Table>,
        now: Instant,
    ) {
        match Message::decode(datagram) {
            Ok(Message { transaction, body: Body::Query(query) }) => {
                if self.limit.allow(from, now) {
                    self.answer(transaction, query, from, other, now);
                }
            }
            Ok(Message { transaction, body: Body::Response(response) }) => {
                if let Some(pending) = self.transactions.finish(&transaction, from) {
                    self.on_response(pending, &response, now);
                }
            }
            Ok(Message { transaction, body: Body::Error(..) }) => {
                if let Some(pending) = self.transactions.finish(&transaction, from) {
                    self.on_failure(pending, now);
                }
            }
            Err(DecodeError { query_transaction: Some(transaction), code, reason }) => {
                self.counters.malformed += 1;
                if self.limit.allow(from, now) {
                    self.send(
                        from,
                        Message { transaction, body: Body::Error(code, reason.into()) },
                    );
                }
            }
            Err(_) => self.counters.malformed += 1,
        }
    }

    fn answer(
        &mut self,
        transaction: Vec<u8>,
        query: Query,
        from: SocketAddr,
        other: Option<&Table>,
        now: Instant,
    ) {
        let mut response = Response { id: self.id(), ..Response::default() };
        let (n4, n6) = query.want.families(&from);
        let table = &self.table;
        let mut nearest = |target: &NodeId| {
            let mut nodes = table.closest(target, K * 2, now);
            if let Some(other) = other {
                nodes.extend(other.closest(target, K * 2, now));
            }
            let (mut v4, mut v6): (Vec<NodeInfo>, Vec<NodeInfo>) =
                nodes.into_iter().partition(|n| n.addr.is_ipv4());
            v4.truncate(if n4 { K } else { 0 });
            v6.truncate(if n6 { K } else { 0 });
            response.nodes = v4;
            response.nodes6 = v6;
        };
        match query.method {
            Method::Ping => {}
            Method::FindNode { target } => nearest(&target),
            Method::GetPeers { info_hash } => {
                nearest(&NodeId::from(info_hash));
                response.values = self.store.peers(&info_hash, from.is_ipv4(), now);
                response.token = Some(self.tokens.issue(from.ip()));
            }
            Method::AnnouncePeer { info_hash, port, implied_port, token } => {
                if !self.tokens.check(from.ip(), &token) {
                    let error = Body::Error(code::PROTOCOL, "bad token".into());
                    self.send(from, Message { transaction, body: error });
                    return;
                }
                let port = if implied_port { from.port() } else { port };
                if port != 0 {
                    self.store.announce(info_hash, SocketAddr::new(from.ip(), port), now);
                }
            }
        }
        self.counters.queries_served += 1;
        self.send(from, Message { transaction, body: Body::Response(response) });
        // A stranger that queries us may be worth a place: ping it, and it enters if it answers.
        // A read-only one asked not to be.
        if !query.read_only
            && self.transactions.len() < super::transactions::MAX_PENDING / 4
            && !self.table.contains_id(&query.id)
            && self.table.has_room_for(&query.id, now)
        {
            self.ping(from, Some(query.id), now);
        }
    }

    fn on_response(&mut self, pending: Pending, response: &Response, now: Instant) {
        let node = NodeInfo { id: response.id, addr: pending.addr };
        if let Insert::PingFirst(stale) = self.table.heard_from(node, true, now) {
            self.ping(stale.addr, Some(stale.id), now);
        }
        if let Purpose::Lookup(id) = pending.purpose
            && let Some(running) = self.lookups.get_mut(&id)
        {
            let peers = running.lookup.answered(pending.addr, response);
            if !peers.is_empty() && !running.quiet {
                self.events.push(NodeEvent::Peers(id, peers));
            }
            self.step(id, now);
        }
    }

    fn on_failure(&mut self, pending: Pending, now: Instant) {
        if let Some(id) = pending.id {
            self.table.failed(&id);
        }
        if let Purpose::Lookup(id) = pending.purpose
            && let Some(running) = self.lookups.get_mut(&id)
        {
            running.lookup.failed(pending.addr);
            self.step(id, now);
        }
    }

    /// Sends the lookup's next queries, or ends it.
    fn step(&mut self, id: LookupId, now: Instant) {
        let Some(running) = self.lookups.get_mut(&id) else { return };
        let target = running.lookup.target;
        let kind = running.lookup.kind;
        let asks = running.lookup.next_to_ask(now);
        for (addr, node) in asks {
            let method = match kind {
                Kind::FindNode => Method::FindNode { target },
                Kind::GetPeers => Method::GetPeers { info_hash: InfoHash(target.0) },
            };
            if !self.query(addr, node, method, Purpose::Lookup(id), now)
                && let Some(running) = self.lookups.get_mut(&id)
            {
                running.lookup.failed(addr);
            }
        }
        let Some(running) = self.lookups.get(&id) else { return };
        if !running.lookup.is_done() {
            return;
        }
        let Some(running) = self.lookups.remove(&id) else { return };
        let mut messages = running.lookup.messages;
        let closest = running.lookup.closest();
        if let Some(port) = running.announce {
            for (node, token) in &closest {
                let Some(token) = token.clone() else { continue };
                let method = Method::AnnouncePeer {
                    info_hash: InfoHash(target.0),
                    port,
                    implied_port: port == 0,
                    token,
                };
                if self.query(node.addr, Some(node.id), method, Purpose::Announce, now) {
                    messages += 1;
                }
            }
        }
        self.counters.lookups_done += 1;
        if !running.quiet {
            let finished = Finished {
                closest: closest.into_iter().map(|(n, _)| n).collect(),
                peers: running.lookup.peers().to_vec(),
                messages,
                elapsed: now.duration_since(running.lookup.started),
            };
            self.events.push(NodeEvent::Done(id, finished));
        }
    }

    /// Pings `addr`, a node someone named (a peer's `port` message): if it answers and there
    /// is room, it enters the table. Skipped when many queries are pending already.
    pub fn ping_addr(&mut self, addr: SocketAddr, now: Instant) {
        if self.transactions.len() < super::transactions::MAX_PENDING / 4
            && !self.table.contains_addr(addr)
        {
            self.ping(addr, None, now);
        }
    }

    fn ping(&mut self, addr: SocketAddr, id: Option<NodeId>, now: Instant) {
        if let Some(id) = id {
            self.table.queried(&id, now);
        }
        self.query(addr, id, Method::Ping, Purpose::Ping, now);
    }

    /// Sends a query; false when too many are pending.
    fn query(
        &mut self,
        addr: SocketAddr,
        id: Option<NodeId>,
        method: Method,
        purpose: Purpose,
        now: Instant,
    ) -> bool {
        let pending = Pending { addr, id, purpose, sent: now };
        let Some(transaction) = self.transactions.start(pending) else { return false };
        self.counters.queries_sent += 1;
        let query =
            Query { id: self.id(), method, want: Want::default(), read_only: self.read_only };
        self.send(addr, Message { transaction: transaction.to_vec(), body: Body::Query(query) });
        true
    }

    fn send(&mut self, to: SocketAddr, message: Message) {
        self.outbox.push((to, message.encode()));
    }

    /// Time-driven work: timeouts, token rotation, expiry, table upkeep.
    pub fn tick(&mut self, now: Instant) {
        for pending in self.transactions.expired(now) {
            self.on_failure(pending, now);
        }
        // Lookups with stale queries ask others in their place, or end.
        let running: Vec<LookupId> = self.lookups.keys().copied().collect();
        for id in running {
            self.step(id, now);
        }
        self.tokens.rotate_if_due(now);
        self.store.expire(now);
        let rebootstrap =
            self.last_bootstrap.is_some_and(|at| now.duration_since(at) >= REBOOTSTRAP);
        if self.table.len() < K && rebootstrap && !self.routers.is_empty() {
            let routers = self.routers.clone();
            self.bootstrap(routers, now);
        }
        for target in self.table.stale_buckets(REFRESH, now) {
            self.start(target, Kind::FindNode, None, true, now);
        }
        for node in self.table.to_ping(PING_EVERY, now).into_iter().take(PINGS_PER_TICK) {
            self.ping(node.addr, Some(node.id), now);
        }
    }

    /// Datagrams to send.
    pub fn take_outbox(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        std::mem::take(&mut self.outbox)
    }

    /// Lookup events since the last call.
    pub fn take_events(&mut self) -> Vec<NodeEvent> {
        std::mem::take(&mut self.events)
    }
}

#[cfg(test)]
mod tests;
