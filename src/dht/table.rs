//! The routing table (BEP 5): buckets of at most [`K`] nodes, where only the bucket that
//! holds our own id ever splits, so we know many nodes near us and a few far away.
//!
//! Bucket `i` of `n` holds the nodes whose ids share exactly `i` leading bits with ours; the
//! last bucket holds every node sharing `n - 1` bits or more, and is the one that splits
//! when full. Nodes enter only when they answered one of our queries (a node that merely
//! queries us, or that someone else names, is not trusted into the table), so a flood of
//! queries cannot fill it.
//!
//! Node states: *good* when it answered within [`GOOD_FOR`]; *bad* after [`BAD_AFTER`]
//! queries in a row went unanswered; *questionable* otherwise. A full bucket takes a new node
//! only in place of a bad one; when it holds questionable nodes the caller is asked to ping
//! the stalest, so a dead one turns bad and makes room.
//!
//! Invariants: at most [`MAX_BUCKETS`] buckets of at most [`K`] nodes each; a node id is in
//! the table at most once, never our own; unless `allow_same_ip`, at most one node per IP
//! address (so one host cannot fill our table).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::id::{ID_BITS, NodeId};
use super::krpc::NodeInfo;

/// Nodes per bucket.
pub const K: usize = 8;
/// Most buckets: one per bit of the id.
pub const MAX_BUCKETS: usize = ID_BITS;
/// How long an answer keeps a node good.
pub const GOOD_FOR: Duration = Duration::from_secs(15 * 60);
/// Unanswered queries in a row that make a node bad.
pub const BAD_AFTER: u32 = 3;

/// One node in the table.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Its id and address.
    pub info: NodeInfo,
    /// When it last answered us (none: restored from disk, not yet heard).
    pub last_answer: Option<Instant>,
    /// Unanswered queries in a row.
    pub failures: u32,
    /// When we last asked it something.
    pub last_query: Option<Instant>,
}

/// Where a node stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Answered recently.
    Good,
    /// Not heard from lately.
    Questionable,
    /// Failed to answer repeatedly.
    Bad,
}

impl Entry {
    /// Its state now.
    pub fn state(&self, now: Instant) -> NodeState {
        if self.failures >= BAD_AFTER {
            NodeState::Bad
        } else if self.last_answer.is_some_and(|at| now.duration_since(at) < GOOD_FOR) {
            NodeState::Good
        } else {
            NodeState::Questionable
        }
    }
}

#[derive(Clone, Debug)]
struct Bucket {
    nodes: Vec<Entry>,
    /// When a node in it last answered or was added.
    changed: Instant,
}

/// What [`Table::heard_from`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insert {
    /// A new node.
    Added,
    /// A node already there, now marked as answering.
    Refreshed,
    /// Not kept (full bucket, our own id, a second node on one IP, a changed address).
    Ignored,
    /// Not kept, but this questionable node should be pinged: if it fails, room is made.
    PingFirst(NodeInfo),
}

/// The routing table.
pub struct Table {
    own: NodeId,
    buckets: Vec<Bucket>,
    allow_same_ip: bool,
}

impl Table {
    /// An empty table around our id.
    pub fn new(own: NodeId, allow_same_ip: bool, now: Instant) -> Table {
        Table { own, buckets: vec![Bucket { nodes: Vec::new(), changed: now }], allow_same_ip }
    }

    /// Lets many nodes share one IP address from now on.
    pub fn allow_same_ip(&mut self) {
        self.allow_same_ip = true;
    }

    /// Our id.
    pub fn own_id(&self) -> NodeId {
        self.own
    }

    /// Nodes in the table.
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.nodes.len()).sum()
    }

    /// True when no node is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Buckets in the table.
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    fn index(&self, id: &NodeId) -> usize {
        self.own.common_prefix(id).min(self.buckets.len() - 1)
    }

    fn find_mut(&mut self, id: &NodeId) -> Option<&mut Entry> {
        let at = self.index(id);
        self.buckets[at].nodes.iter_mut().find(|e| e.info.id == *id)
    }

    fn holds_ip(&self, ip: IpAddr) -> bool {
        self.buckets.iter().flat_map(|b| &b.nodes).any(|e| e.info.addr.ip() == ip)
    }

    /// Records that `node` answered one of our queries (or, with `answered` false, restores
    /// it from disk as questionable), adding it where there is room.
    pub fn heard_from(&mut self, node: NodeInfo, answered: bool, now: Instant) -> Insert {
        if node.id == self.own {
            return Insert::Ignored;
        }
        if let Some(entry) = self.find_mut(&node.id) {
            if entry.info.addr != node.addr {
                // Another address claiming a known id: keep the one we know.
                return Insert::Ignored;
            }
            if answered {
                entry.last_answer = Some(now);
                entry.failures = 0;
                let at = self.index(&node.id);
                self.buckets[at].changed = now;
            }
            return Insert::Refreshed;
        }
        if !self.allow_same_ip && self.holds_ip(node.addr.ip()) {
            return Insert::Ignored;
        }
        let entry = Entry {
            info: node,
            last_answer: answered.then_some(now),
            failures: 0,
            last_query: None,
        };
        loop {
            let at = self.index(&node.id);
            let can_split = at == self.buckets.len() - 1 && self.buckets.len() < MAX_BUCKETS;
            let bucket = &mut self.buckets[at];
            if bucket.nodes.len() < K {
                bucket.nodes.push(entry);
                bucket.changed = now;
                return Insert::Added;
            }
            if let Some(bad) = bucket.nodes.iter().position(|e| e.state(now) == NodeState::Bad) {
                bucket.nodes[bad] = entry;
                bucket.changed = now;
                return Insert::Added;
            }
            if can_split {
                self.split_last(now);
                continue;
            }
            let stalest = bucket
                .nodes
                .iter()
                .filter(|e| e.state(now) == NodeState::Questionable)
                .min_by_key(|e| e.last_answer);
            return match stalest {
                Some(e) if answered => Insert::PingFirst(e.info),
                _ => Insert::Ignored,
            };
        }
    }

    /// Splits the last bucket: nodes sharing more bits with us move to a new last bucket.
    fn split_last(&mut self, now: Instant) {
        let depth = self.buckets.len() - 1;
        let own = self.own;
        let Some(last) = self.buckets.last_mut() else { return };
        let (stay, go): (Vec<Entry>, Vec<Entry>) =
            last.nodes.drain(..).partition(|e| own.common_prefix(&e.info.id) == depth);
        last.nodes = stay;
        self.buckets.push(Bucket { nodes: go, changed: now });
    }

    /// Records that a query to `id` went unanswered.
    pub fn failed(&mut self, id: &NodeId) {
        if let Some(entry) = self.find_mut(id) {
            entry.failures = entry.failures.saturating_add(1);
        }
    }

    /// Records that we are asking `id` something now.
    pub fn queried(&mut self, id: &NodeId, now: Instant) {
        if let Some(entry) = self.find_mut(id) {
            entry.last_query = Some(now);
        }
    }

    /// The `count` known nodes nearest `target`, bad ones left out, nearest first.
    pub fn closest(&self, target: &NodeId, count: usize, now: Instant) -> Vec<NodeInfo> {
        let mut nodes: Vec<&Entry> = self
            .buckets
            .iter()
            .flat_map(|b| &b.nodes)
            .filter(|e| e.state(now) != NodeState::Bad)
            .collect();
        nodes.sort_by_key(|e| e.info.id.distance(target));
        nodes.into_iter().take(count).map(|e| e.info).collect()
    }

    /// Every node, with its state.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.buckets.iter().flat_map(|b| &b.nodes)
    }

    /// Targets to look up for buckets nobody changed within `stale`, marking them changed.
    pub fn stale_buckets(&mut self, stale: Duration, now: Instant) -> Vec<NodeId> {
        let own = self.own;
        let mut targets = Vec::new();
        for (depth, bucket) in self.buckets.iter_mut().enumerate() {
            if now.duration_since(bucket.changed) >= stale {
                bucket.changed = now;
                targets.push(own.random_with_prefix(depth));
            }
        }
        targets
    }

    /// Questionable nodes not asked anything within `quiet`: ping them to learn their state.
    pub fn to_ping(&self, quiet: Duration, now: Instant) -> Vec<NodeInfo> {
        self.entries()
            .filter(|e| e.state(now) == NodeState::Questionable)
            .filter(|e| e.last_query.is_none_or(|at| now.duration_since(at) >= quiet))
            .map(|e| e.info)
            .collect()
    }

    /// Addresses of every node (for saving).
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.entries().filter(|e| e.failures < BAD_AFTER).map(|e| e.info).collect()
    }

    /// True when `id` is in the table.
    pub fn contains_id(&self, id: &NodeId) -> bool {
        let at = self.index(id);
        self.buckets[at].nodes.iter().any(|e| e.info.id == *id)
    }

    /// True when a node with `id` could enter now (its bucket has room, holds a bad node, or
    /// can split).
    pub fn has_room_for(&self, id: &NodeId, now: Instant) -> bool {
        let at = self.index(id);
        let bucket = &self.buckets[at];
        bucket.nodes.len() < K
            || bucket.nodes.iter().any(|e| e.state(now) == NodeState::Bad)
            || (at == self.buckets.len() - 1 && self.buckets.len() < MAX_BUCKETS)
    }

    /// True when a node at `addr` is in the table.
    pub fn contains_addr(&self, addr: SocketAddr) -> bool {
        self.entries().any(|e| e.info.addr == addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: NodeId, n: u16) -> NodeInfo {
        NodeInfo { id, addr: SocketAddr::from(([127, 0, 0, 1], n)) }
    }

    #[test]
    fn only_our_bucket_splits_and_far_buckets_stay_at_k() {
        let now = Instant::now();
        let own = NodeId::random();
        let mut table = Table::new(own, true, now);
        // Many far nodes (no shared prefix): only K of them stay.
        for n in 0..50 {
            table.heard_from(node(own.random_with_prefix(0), n), true, now);
        }
        // Nodes at every depth near us.
        for depth in 1..40 {
            for n in 0..3 {
                table.heard_from(node(own.random_with_prefix(depth), 1000 + n), true, now);
            }
        }
        assert!(table.bucket_count() > 10);
        for bucket in &table.buckets {
            assert!(bucket.nodes.len() <= K);
        }
        let far = table.entries().filter(|e| own.common_prefix(&e.info.id) == 0).count();
        assert_eq!(far, K);
    }

    #[test]
    fn bad_nodes_make_room_and_questionable_ones_are_pinged_first() {
        let now = Instant::now();
        let own = NodeId([0; 20]);
        let mut table = Table::new(own, true, now);
        // Fill bucket 0 after one split so it cannot split any more.
        table.heard_from(node(own.random_with_prefix(1), 1), true, now);
        let far: Vec<NodeInfo> = (10..18).map(|n| node(own.random_with_prefix(0), n)).collect();
        for n in &far {
            table.heard_from(*n, true, now);
        }
        for n in 100..108 {
            table.heard_from(node(own.random_with_prefix(1), n), true, now);
        }
        let newcomer = node(own.random_with_prefix(0), 99);
        assert_eq!(table.heard_from(newcomer, true, now), Insert::Ignored, "all good: no room");
        let later = now + GOOD_FOR;
        assert!(matches!(table.heard_from(newcomer, true, later), Insert::PingFirst(_)));
        for _ in 0..BAD_AFTER {
            table.failed(&far[0].id);
        }
        assert_eq!(table.heard_from(newcomer, true, later), Insert::Added);
        assert!(!table.contains_addr(far[0].addr));
    }

    #[test]
    fn one_node_per_ip_unless_allowed() {
        let now = Instant::now();
        let own = NodeId::random();
        let mut strict = Table::new(own, false, now);
        assert_eq!(strict.heard_from(node(NodeId::random(), 1), true, now), Insert::Added);
        assert_eq!(strict.heard_from(node(NodeId::random(), 2), true, now), Insert::Ignored);
        assert_eq!(strict.heard_from(node(own, 3), true, now), Insert::Ignored);
    }

    #[test]
    fn closest_orders_by_distance() {
        let now = Instant::now();
        let own = NodeId::random();
        let mut table = Table::new(own, true, now);
        for n in 0..100 {
            table.heard_from(node(NodeId::random(), n), true, now);
        }
        let target = NodeId::random();
        let found = table.closest(&target, K, now);
        assert_eq!(found.len(), K);
        assert!(found.windows(2).all(|w| w[0].id.distance(&target) <= w[1].id.distance(&target)));
    }
}
