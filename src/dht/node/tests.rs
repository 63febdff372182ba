//! Nodes talking through an in-memory network: no sockets, no clocks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::dht::krpc::{Body, Message, Method, Query, Want};

struct Net {
    nodes: HashMap<SocketAddr, Node>,
    now: Instant,
}

fn addr(n: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 10_000 + n))
}

impl Net {
    /// `count` nodes that all bootstrap from node 0.
    fn new(count: u16) -> Net {
        let now = Instant::now();
        let mut nodes = HashMap::new();
        for n in 0..count {
            nodes.insert(addr(n), Node::new(NodeId::random(), true, &[], now));
        }
        let mut net = Net { nodes, now };
        for n in 1..count {
            net.node(n).bootstrap(vec![addr(0)], now);
            net.deliver();
        }
        net
    }

    fn node(&mut self, n: u16) -> &mut Node {
        self.nodes.get_mut(&addr(n)).expect("a node")
    }

    /// Delivers datagrams until the network is quiet.
    fn deliver(&mut self) {
        for _ in 0..10_000 {
            let mut sent = Vec::new();
            for (from, node) in &mut self.nodes {
                for (to, bytes) in node.take_outbox() {
                    sent.push((*from, to, bytes));
                }
            }
            if sent.is_empty() {
                return;
            }
            for (from, to, bytes) in sent {
                if let Some(node) = self.nodes.get_mut(&to) {
                    node.receive(&bytes, from, self.now);
                }
            }
        }
        panic!("the network never goes quiet");
    }

    fn finished(&mut self, n: u16) -> Finished {
        finished_of(self.node(n))
    }
}

#[test]
fn a_lookup_finds_the_nodes_nearest_the_target() {
    let mut net = Net::new(40);
    let target = NodeId::random();
    let now = net.now;
    net.node(7).lookup(target, Kind::FindNode, None, now).expect("started");
    net.deliver();
    let found = net.finished(7);
    let mut all: Vec<NodeId> = net.nodes.values().map(Node::id).collect();
    all.sort_by_key(|id| id.distance(&target));
    let got: Vec<NodeId> = found.closest.iter().map(|n| n.id).collect();
    // Node 7 does not count itself.
    let mine = net.node(7).id();
    let want: Vec<NodeId> = all.into_iter().filter(|id| *id != mine).take(K).collect();
    assert_eq!(got, want);
}

#[test]
fn an_announced_peer_is_found_by_another_node() {
    let mut net = Net::new(30);
    let info_hash = InfoHash([7; 20]);
    let now = net.now;
    net.node(3).lookup(NodeId::from(info_hash), Kind::GetPeers, Some(0), now).expect("started");
    net.deliver();
    assert!(net.finished(3).peers.is_empty());
    net.node(20).lookup(NodeId::from(info_hash), Kind::GetPeers, None, now).expect("started");
    net.deliver();
    assert_eq!(net.finished(20).peers, vec![addr(3)], "implied port: the announcer's own");
}

#[test]
fn forged_answers_and_bad_tokens_change_nothing() {
    let mut net = Net::new(3);
    let now = net.now;
    let victim = net.node(1).table().len();
    // An answer nobody asked for.
    let forged = Message {
        transaction: vec![0, 1],
        body: Body::Response(Response { id: NodeId::random(), ..Response::default() }),
    };
    net.node(1).receive(&forged.encode(), addr(99), now);
    assert_eq!(net.node(1).table().len(), victim);
    // An announce with a made-up token gets an error.
    let announce = Message {
        transaction: b"zz".to_vec(),
        body: Body::Query(Query {
            id: NodeId::random(),
            method: Method::AnnouncePeer {
                info_hash: InfoHash([1; 20]),
                port: 1,
                implied_port: false,
                token: b"nope".to_vec(),
            },
            want: Want::default(),
            read_only: false,
        }),
    };
    net.node(1).receive(&announce.encode(), addr(98), now);
    let out = net.node(1).take_outbox();
    let reply = out.iter().find(|(to, _)| *to == addr(98)).expect("a reply");
    assert!(matches!(Message::decode(&reply.1).expect("krpc").body, Body::Error(203, _)));
    assert_eq!(net.node(1).sizes().1, 0, "nothing stored");
}

#[test]
fn unanswered_queries_time_out_and_fail_the_lookup_step() {
    let now = Instant::now();
    let mut node = Node::new(NodeId::random(), true, &[], now);
    node.bootstrap(vec![addr(1), addr(2)], now);
    assert_eq!(node.take_outbox().len(), 2);
    node.tick(now + Duration::from_secs(10));
    // Both routers failed: the bootstrap lookup is over, nothing pending.
    assert_eq!(node.sizes().3, 0);
    assert_eq!(node.sizes().4, 0);
}

/// A one-off probe like `mt dht get-peers`: a read-only node at `at` that bootstraps from
/// node 0, looks `target` up and ends; returns what it found. It is then gone from `net`.
fn probe(net: &mut Net, at: SocketAddr, target: NodeId) -> Finished {
    let now = net.now;
    let mut node = Node::new(NodeId::random(), true, &[], now);
    node.set_read_only();
    node.bootstrap(vec![addr(0)], now);
    node.lookup(target, Kind::GetPeers, None, now).expect("started");
    net.nodes.insert(at, node);
    net.deliver();
    finished_of(&mut net.nodes.remove(&at).expect("the probe"))
}

/// How `node`'s lookup ended.
fn finished_of(node: &mut Node) -> Finished {
    node.take_events()
        .into_iter()
        .find_map(|e| match e {
            NodeEvent::Done(_, finished) => Some(finished),
            NodeEvent::Peers(..) => None,
        })
        .expect("the lookup ended")
}

#[test]
fn a_read_only_querier_is_not_taken_into_any_table() {
    let mut net = Net::new(20);
    let found = probe(&mut net, addr(500), NodeId::random());
    assert_eq!(found.closest.len(), K);
    let sizes: Vec<usize> = net.nodes.values().map(|n| n.table().len()).collect();
    for node in net.nodes.values() {
        assert!(node.table().entries().all(|e| e.info.addr != addr(500)), "{sizes:?}");
    }
}

/// The DHT bench's testnet: 100 nodes, then one-off probes that each look a random hash up
/// and vanish. None of them lingers in a table, so every later lookup still ends at the 8
/// nodes nearest its target, with no silent node met on the way.
#[test]
fn lookups_converge_after_many_probes_came_and_went() {
    let mut net = Net::new(100);
    for n in 0..150 {
        let target = NodeId::random();
        let found = probe(&mut net, addr(1000 + n), target);
        let mut live: Vec<NodeId> = net.nodes.values().map(Node::id).collect();
        live.sort_by_key(|id| id.distance(&target));
        let got: Vec<NodeId> = found.closest.iter().map(|n| n.id).collect();
        assert_eq!(got, live[..K], "lookup {n}");
    }
}
