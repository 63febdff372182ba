//! One iterative lookup (BEP 5): ask the nodes nearest a target for nodes nearer still, at
//! most [`ALPHA`] queries in flight, until the [`K`] nearest nodes not known to be dead have
//! all answered.
//!
//! A query unanswered after [`STALE`] is stale: it no longer counts against [`ALPHA`], so
//! the next candidate is asked in its place, and the lookup no longer waits on it, though
//! its answer is still taken until the query times out. So the lookup ends as soon as the
//! [`K`] nearest candidates that are neither failed nor stale have answered, whatever is
//! still in flight to farther (or silent) nodes, and a silent node is replaced by the next
//! candidate rather than leaving the result short.
//!
//! A `get_peers` lookup also gathers the peers (`values`) and the announce tokens the
//! nearest nodes hand out. The candidate list is bounded ([`MAX_CANDIDATES`], nearest kept),
//! and so is the set of peers gathered ([`MAX_PEERS`]), so a node that answers with many
//! made-up nodes or peers cannot make a lookup grow. A node learned from an answer is a
//! candidate only; it enters the routing table when it answers us itself.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::id::NodeId;
use super::krpc::{NodeInfo, Response};
use super::table::K;

/// Queries in flight per lookup.
pub const ALPHA: usize = 3;
/// Most candidates a lookup keeps.
pub const MAX_CANDIDATES: usize = 64;
/// Most peers a lookup gathers.
pub const MAX_PEERS: usize = 2000;
/// How long a query may go unanswered before the lookup asks another node in its place.
pub const STALE: Duration = Duration::from_secs(1);

/// What a lookup asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `find_node`: nodes near the target.
    FindNode,
    /// `get_peers`: peers of the torrent whose info hash is the target.
    GetPeers,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Status {
    Fresh,
    /// Queried at `sent`; `stale` once [`STALE`] passed with no answer.
    Asked {
        sent: Instant,
        stale: bool,
    },
    Answered(Option<Vec<u8>>),
    Failed,
}

impl Status {
    /// A query in flight that is not stale.
    fn is_active(&self) -> bool {
        matches!(self, Status::Asked { stale: false, .. })
    }

    /// Whether the lookup still counts on this candidate: not failed, not stale.
    fn counts(&self) -> bool {
        !matches!(self, Status::Failed | Status::Asked { stale: true, .. })
    }
}

#[derive(Clone, Debug)]
struct Candidate {
    addr: SocketAddr,
    /// Unknown for bootstrap routers named only by address.
    id: Option<NodeId>,
    status: Status,
}

/// A lookup in progress.
pub struct Lookup {
    /// The id or info hash sought.
    pub target: NodeId,
    /// What it asks.
    pub kind: Kind,
    /// When it started.
    pub started: Instant,
    /// Queries sent for it.
    pub messages: u32,
    candidates: Vec<Candidate>,
    peers: Vec<SocketAddr>,
    /// Our own id: never a candidate, though others name us.
    own: Option<NodeId>,
}

impl Lookup {
    /// A lookup starting from `nodes` (known ids) and `routers` (addresses only).
    pub fn new(
        target: NodeId,
        kind: Kind,
        nodes: &[NodeInfo],
        routers: &[SocketAddr],
        now: Instant,
    ) -> Lookup {
        let mut lookup = Lookup {
            target,
            kind,
            started: now,
            messages: 0,
            candidates: Vec::new(),
            peers: Vec::new(),
            own: None,
        };
        lookup.add(nodes);
        for addr in routers {
            if !lookup.candidates.iter().any(|c| c.addr == *addr) {
                lookup.candidates.push(Candidate { addr: *addr, id: None, status: Status::Fresh });
            }
        }
        lookup
    }

    /// Leaves out our own id (set before anything is added).
    pub fn exclude(mut self, own: NodeId) -> Lookup {
        self.own = Some(own);
        self.candidates.retain(|c| c.id != Some(own));
        self
    }

    fn sort_key(&self, candidate: &Candidate) -> [u8; 20] {
        candidate.id.map_or([0xff; 20], |id| id.distance(&self.target))
    }

    /// Adds nodes named in an answer (or taken from the table).
    pub fn add(&mut self, nodes: &[NodeInfo]) {
        for node in nodes {
            if Some(node.id) == self.own
                || self.candidates.iter().any(|c| c.addr == node.addr || c.id == Some(node.id))
            {
                continue;
            }
            self.candidates.push(Candidate {
                addr: node.addr,
                id: Some(node.id),
                status: Status::Fresh,
            });
        }
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.sort_by_key(|c| self.sort_key(c));
        // Keep the nearest, but never forget one we are waiting on.
        let mut kept = 0;
        candidates.retain(|c| {
            kept += 1;
            kept <= MAX_CANDIDATES || matches!(c.status, Status::Asked { .. })
        });
        self.candidates = candidates;
    }

    /// Queries in flight that are not stale.
    fn in_flight(&self) -> usize {
        self.candidates.iter().filter(|c| c.status.is_active()).count()
    }

    /// The nearest [`K`] candidates the lookup still counts on: not failed, not stale.
    fn window(&self) -> impl Iterator<Item = &Candidate> {
        self.candidates.iter().filter(|c| c.status.counts()).take(K)
    }

    /// The nodes to query now (at most [`ALPHA`] in flight, stale queries not counted),
    /// marked as asked.
    pub fn next_to_ask(&mut self, now: Instant) -> Vec<(SocketAddr, Option<NodeId>)> {
        for candidate in &mut self.candidates {
            if let Status::Asked { sent, stale } = &mut candidate.status
                && now.saturating_duration_since(*sent) >= STALE
            {
                *stale = true;
            }
        }
        let room = ALPHA.saturating_sub(self.in_flight());
        let mut out = Vec::new();
        for candidate in self.candidates.iter_mut().filter(|c| c.status.counts()).take(K) {
            if out.len() >= room {
                break;
            }
            if candidate.status == Status::Fresh {
                candidate.status = Status::Asked { sent: now, stale: false };
                out.push((candidate.addr, candidate.id));
            }
        }
        self.messages += u32::try_from(out.len()).unwrap_or(0);
        out
    }

    /// Takes in `response` from `from`; returns the peers in it that are new to this lookup.
    pub fn answered(&mut self, from: SocketAddr, response: &Response) -> Vec<SocketAddr> {
        if let Some(candidate) = self.candidates.iter_mut().find(|c| c.addr == from) {
            if Some(response.id) == self.own {
                // A router that turns out to be us.
                candidate.status = Status::Failed;
                return Vec::new();
            }
            candidate.status = Status::Answered(response.token.clone());
            candidate.id = Some(response.id);
        }
        let nodes: Vec<NodeInfo> = response
            .nodes
            .iter()
            .chain(&response.nodes6)
            .filter(|n| n.addr.is_ipv4() == from.is_ipv4())
            .copied()
            .collect();
        self.add(&nodes);
        let mut new = Vec::new();
        for peer in &response.values {
            if self.peers.len() < MAX_PEERS && !self.peers.contains(peer) {
                self.peers.push(*peer);
                new.push(*peer);
            }
        }
        new
    }

    /// Records that the query to `from` failed (timed out or answered with an error).
    pub fn failed(&mut self, from: SocketAddr) {
        if let Some(candidate) = self.candidates.iter_mut().find(|c| c.addr == from) {
            candidate.status = Status::Failed;
        }
    }

    /// True when the nearest [`K`] candidates neither failed nor stale have all answered
    /// (so no query that is not stale is in flight to a node nearer than the farthest of
    /// them). With fewer than [`K`] such candidates, it waits for stale queries too: their
    /// answers are all it can still learn from.
    pub fn is_done(&self) -> bool {
        let mut counted = 0;
        for candidate in self.window() {
            if !matches!(candidate.status, Status::Answered(_)) {
                return false;
            }
            counted += 1;
        }
        counted == K || !self.candidates.iter().any(|c| matches!(c.status, Status::Asked { .. }))
    }

    /// The nearest nodes that answered, with the tokens they gave, nearest first.
    pub fn closest(&self) -> Vec<(NodeInfo, Option<Vec<u8>>)> {
        self.candidates
            .iter()
            .filter_map(|c| match (&c.status, c.id) {
                (Status::Answered(token), Some(id)) => {
                    Some((NodeInfo { id, addr: c.addr }, token.clone()))
                }
                _ => None,
            })
            .take(K)
            .collect()
    }

    /// Every peer gathered.
    pub fn peers(&self) -> &[SocketAddr] {
        &self.peers
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::super::transactions::TIMEOUT;
    use super::*;

    fn info(id: NodeId, port: u16) -> NodeInfo {
        NodeInfo { id, addr: SocketAddr::from(([127, 0, 0, 1], port)) }
    }

    /// A made-up network of 500 nodes where each answers with the 8 nodes of its routing
    /// table nearest the target: the lookup ends at the true 8 nearest, within a bounded
    /// number of queries.
    #[test]
    fn converges_on_the_nearest_nodes() {
        let now = Instant::now();
        let nodes: Vec<NodeInfo> = (0..500).map(|n| info(NodeId::random(), 1000 + n)).collect();
        let target = NodeId::random();
        let mut truth = nodes.clone();
        truth.sort_by_key(|n| n.id.distance(&target));
        let tables = tables(&nodes);
        let knows = |me: usize| -> Vec<NodeInfo> {
            let mut known = tables[&nodes[me].addr].clone();
            known.sort_by_key(|n| n.id.distance(&target));
            known.truncate(K);
            known
        };
        let mut lookup = Lookup::new(target, Kind::FindNode, &nodes[..3], &[], now);
        let mut rounds = 0;
        while !lookup.is_done() {
            rounds += 1;
            assert!(rounds < 500, "the lookup does not end");
            for (addr, _) in lookup.next_to_ask(now) {
                let me = nodes.iter().position(|n| n.addr == addr).expect("a node we know");
                let response =
                    Response { id: nodes[me].id, nodes: knows(me), ..Response::default() };
                lookup.answered(addr, &response);
            }
        }
        let found: Vec<NodeId> = lookup.closest().iter().map(|(n, _)| n.id).collect();
        let want: Vec<NodeId> = truth[..K].iter().map(|n| n.id).collect();
        assert_eq!(found, want);
        assert!(lookup.messages < 200, "{} messages", lookup.messages);
    }

    /// Each node's routing table: up to [`K`] nodes for each length of prefix shared with
    /// it, as a full Kademlia table holds.
    fn tables(nodes: &[NodeInfo]) -> HashMap<SocketAddr, Vec<NodeInfo>> {
        let mut tables = HashMap::new();
        for me in nodes {
            let mut per_bucket = [0usize; 161];
            let mut table = Vec::new();
            for other in nodes.iter().filter(|n| n.id != me.id) {
                let bucket = other.id.common_prefix(&me.id).min(160);
                if per_bucket[bucket] < K {
                    per_bucket[bucket] += 1;
                    table.push(*other);
                }
            }
            tables.insert(me.addr, table);
        }
        tables
    }

    /// A simulated network where each node answers after `LATENCY` with the [`K`] nodes of
    /// its table nearest the target, except the `silent` ones, whose queries fail only when
    /// the query timeout runs out (as the node reports them). Tables hold only nodes that
    /// answer (they are fresh), so the lookup meets silent nodes only in `start`. Returns
    /// the lookup when it ended and the (simulated) time it took.
    fn simulate(
        nodes: &[NodeInfo],
        silent: &[SocketAddr],
        target: NodeId,
        start: &[NodeInfo],
    ) -> (Lookup, Duration) {
        const LATENCY: Duration = Duration::from_millis(20);
        const STEP: Duration = Duration::from_millis(10);
        let begin = Instant::now();
        let live: Vec<NodeInfo> =
            nodes.iter().copied().filter(|n| !silent.contains(&n.addr)).collect();
        let tables = tables(&live);
        let knows = |me: SocketAddr| -> Vec<NodeInfo> {
            let mut known = tables[&me].clone();
            known.sort_by_key(|n| n.id.distance(&target));
            known.truncate(K);
            known
        };
        let mut lookup = Lookup::new(target, Kind::FindNode, start, &[], begin);
        // (when, to, whether it answers)
        let mut due: Vec<(Instant, SocketAddr, bool)> = Vec::new();
        let mut now = begin;
        while !lookup.is_done() {
            assert!(now - begin < Duration::from_secs(30), "the lookup does not end");
            for (addr, _) in lookup.next_to_ask(now) {
                if silent.contains(&addr) {
                    due.push((now + TIMEOUT, addr, false));
                } else {
                    due.push((now + LATENCY, addr, true));
                }
            }
            now += STEP;
            let (ready, later): (Vec<_>, Vec<_>) =
                due.into_iter().partition(|(when, ..)| *when <= now);
            due = later;
            for (_, addr, answers) in ready {
                if answers {
                    let me = nodes.iter().find(|n| n.addr == addr).expect("a node we know");
                    let response =
                        Response { id: me.id, nodes: knows(addr), ..Response::default() };
                    lookup.answered(addr, &response);
                } else {
                    lookup.failed(addr);
                }
            }
        }
        (lookup, now - begin)
    }

    /// A network of `count` nodes, and the same sorted by distance to `target`.
    fn network(count: u16, target: &NodeId) -> (Vec<NodeInfo>, Vec<NodeInfo>) {
        let nodes: Vec<NodeInfo> = (0..count).map(|n| info(NodeId::random(), 2000 + n)).collect();
        let mut by_distance = nodes.clone();
        by_distance.sort_by_key(|n| n.id.distance(target));
        (nodes, by_distance)
    }

    /// The lookup starts from the 3 nodes nearest the target, which never answer, and a few
    /// others: it asks other candidates in their place, ends holding the 8 nearest nodes
    /// that do answer, and does not wait out the query timeout for the silent ones.
    #[test]
    fn silent_nearest_nodes_are_replaced_without_waiting_out_the_timeout() {
        for _ in 0..20 {
            let target = NodeId::random();
            let (nodes, by_distance) = network(300, &target);
            let silent: Vec<SocketAddr> =
                by_distance[..3].iter().chain(&by_distance[200..203]).map(|n| n.addr).collect();
            let live: Vec<NodeInfo> =
                by_distance.iter().copied().filter(|n| !silent.contains(&n.addr)).collect();
            let mut start = by_distance[..3].to_vec();
            start.extend(&by_distance[200..203]);
            start.extend(&by_distance[250..252]);
            let (lookup, took) = simulate(&nodes, &silent, target, &start);
            let found: Vec<NodeId> = lookup.closest().iter().map(|(n, _)| n.id).collect();
            let want: Vec<NodeId> = live[..K].iter().map(|n| n.id).collect();
            assert_eq!(found, want, "the 8 nearest answering nodes");
            assert!(took < TIMEOUT, "the lookup waited {took:?} for silent nodes");
        }
    }

    /// Far nodes asked early that never answer do not hold a lookup whose nearest nodes
    /// have all answered.
    #[test]
    fn queries_to_farther_nodes_do_not_hold_the_lookup() {
        for _ in 0..20 {
            let target = NodeId::random();
            let (nodes, by_distance) = network(300, &target);
            // The lookup starts from two far nodes that never answer and one that does.
            let silent = [by_distance[299].addr, by_distance[298].addr];
            let start = [by_distance[299], by_distance[298], by_distance[100]];
            let (lookup, took) = simulate(&nodes, &silent, target, &start);
            let found: Vec<NodeId> = lookup.closest().iter().map(|(n, _)| n.id).collect();
            let want: Vec<NodeId> = by_distance[..K].iter().map(|n| n.id).collect();
            assert_eq!(found, want, "the 8 nearest nodes");
            assert!(took < Duration::from_secs(1), "the lookup waited {took:?} on far nodes");
        }
    }

    #[test]
    fn never_more_than_alpha_in_flight_and_failures_are_skipped() {
        let now = Instant::now();
        let nodes: Vec<NodeInfo> = (0..20).map(|n| info(NodeId::random(), n)).collect();
        let mut lookup = Lookup::new(NodeId::random(), Kind::GetPeers, &nodes, &[], now);
        let first = lookup.next_to_ask(now);
        assert_eq!(first.len(), ALPHA);
        assert!(lookup.next_to_ask(now).is_empty());
        for (addr, _) in &first {
            lookup.failed(*addr);
        }
        assert_eq!(lookup.next_to_ask(now).len(), ALPHA);
    }

    #[test]
    fn peers_are_gathered_once_and_bounded() {
        let now = Instant::now();
        let node = info(NodeId::random(), 1);
        let mut lookup = Lookup::new(NodeId::random(), Kind::GetPeers, &[node], &[], now);
        lookup.next_to_ask(now);
        let peer = SocketAddr::from(([10, 0, 0, 1], 80));
        let response = Response {
            id: node.id,
            values: vec![peer, peer],
            token: Some(b"t".to_vec()),
            ..Response::default()
        };
        assert_eq!(lookup.answered(node.addr, &response), vec![peer]);
        assert_eq!(lookup.closest()[0].1.as_deref(), Some(&b"t"[..]));
        assert!(lookup.is_done());
    }
}
