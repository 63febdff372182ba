//! One iterative lookup (BEP 5): ask the nodes nearest a target for nodes nearer still, at
//! most [`ALPHA`] queries in flight, until the [`K`] nearest nodes not known to be dead have
//! all answered.
//!
//! A `get_peers` lookup also gathers the peers (`values`) and the announce tokens the
//! nearest nodes hand out. The candidate list is bounded ([`MAX_CANDIDATES`], nearest kept),
//! and so is the set of peers gathered ([`MAX_PEERS`]), so a node that answers with many
//! made-up nodes or peers cannot make a lookup grow. A node learned from an answer is a
//! candidate only; it enters the routing table when it answers us itself.

use std::net::SocketAddr;
use std::time::Instant;

use super::id::NodeId;
use super::krpc::{NodeInfo, Response};
use super::table::K;

/// Queries in flight per lookup.
pub const ALPHA: usize = 3;
/// Most candidates a lookup keeps.
pub const MAX_CANDIDATES: usize = 64;
/// Most peers a lookup gathers.
pub const MAX_PEERS: usize = 2000;

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
    Asked,
    Answered(Option<Vec<u8>>),
    Failed,
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
            kept <= MAX_CANDIDATES || c.status == Status::Asked
        });
        self.candidates = candidates;
    }

    fn in_flight(&self) -> usize {
        self.candidates.iter().filter(|c| c.status == Status::Asked).count()
    }

    /// The nodes to query now (at most [`ALPHA`] in flight), marked as asked.
    pub fn next_to_ask(&mut self) -> Vec<(SocketAddr, Option<NodeId>)> {
        let room = ALPHA.saturating_sub(self.in_flight());
        let mut out = Vec::new();
        for candidate in self.candidates.iter_mut().filter(|c| c.status != Status::Failed).take(K) {
            if out.len() >= room {
                break;
            }
            if candidate.status == Status::Fresh {
                candidate.status = Status::Asked;
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

    /// True when nothing is in flight and the nearest live candidates have all answered.
    pub fn is_done(&self) -> bool {
        self.in_flight() == 0
            && !self
                .candidates
                .iter()
                .filter(|c| c.status != Status::Failed)
                .take(K)
                .any(|c| c.status == Status::Fresh)
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
    use super::*;

    fn info(id: NodeId, port: u16) -> NodeInfo {
        NodeInfo { id, addr: SocketAddr::from(([127, 0, 0, 1], port)) }
    }

    /// A made-up network of 500 nodes where each answers with the 8 it knows nearest the
    /// target among a random tenth of the network: the lookup still ends at the true 8
    /// nearest, within a bounded number of queries.
    #[test]
    fn converges_on_the_nearest_nodes() {
        let now = Instant::now();
        let nodes: Vec<NodeInfo> = (0..500).map(|n| info(NodeId::random(), 1000 + n)).collect();
        let target = NodeId::random();
        let mut truth = nodes.clone();
        truth.sort_by_key(|n| n.id.distance(&target));
        let knows = |me: usize| -> Vec<NodeInfo> {
            // Each node knows its own neighbourhood well and a sample of the rest.
            let mut known: Vec<NodeInfo> =
                nodes.iter().copied().filter(|n| n.id.common_prefix(&nodes[me].id) >= 3).collect();
            known.extend(nodes.iter().step_by(10 + me % 7).copied());
            known.sort_by_key(|n| n.id.distance(&target));
            known.truncate(K);
            known
        };
        let mut lookup = Lookup::new(target, Kind::FindNode, &nodes[..3], &[], now);
        let mut rounds = 0;
        while !lookup.is_done() {
            rounds += 1;
            assert!(rounds < 500, "the lookup does not end");
            for (addr, _) in lookup.next_to_ask() {
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

    #[test]
    fn never_more_than_alpha_in_flight_and_failures_are_skipped() {
        let now = Instant::now();
        let nodes: Vec<NodeInfo> = (0..20).map(|n| info(NodeId::random(), n)).collect();
        let mut lookup = Lookup::new(NodeId::random(), Kind::GetPeers, &nodes, &[], now);
        let first = lookup.next_to_ask();
        assert_eq!(first.len(), ALPHA);
        assert!(lookup.next_to_ask().is_empty());
        for (addr, _) in &first {
            lookup.failed(*addr);
        }
        assert_eq!(lookup.next_to_ask().len(), ALPHA);
    }

    #[test]
    fn peers_are_gathered_once_and_bounded() {
        let now = Instant::now();
        let node = info(NodeId::random(), 1);
        let mut lookup = Lookup::new(NodeId::random(), Kind::GetPeers, &[node], &[], now);
        lookup.next_to_ask();
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
