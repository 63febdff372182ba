//! A KRPC flood: 10,000 queries a second from 1,000 made-up node ids, sent from 127.0.0.2,
//! while an honest client on 127.0.0.1 keeps pinging. The node goes on answering the honest
//! client, drops most of the flood, and its memory stays under a stated bound.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mt::dht::NodeId;
use mt::dht::krpc::{Body, Message, Method, Query, Want};
use mt::types::InfoHash;

use crate::common::TestEnv;
use crate::common::process::Running;

/// Queries sent per second by the flood.
const FLOOD_RATE: u64 = 10_000;
/// How long the flood lasts.
const FLOOD_FOR: Duration = Duration::from_secs(5);
/// Resident memory the node may reach under the flood.
const MEMORY_BOUND: u64 = 16 << 20;

fn resident(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("a VmRSS line");
    let kib: u64 = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a number");
    kib * 1024
}

fn query(n: u64, id: NodeId) -> Vec<u8> {
    let mut target = [0u8; 20];
    target[..8].copy_from_slice(&n.to_be_bytes());
    let method = match n % 4 {
        0 => Method::Ping,
        1 => Method::FindNode { target: NodeId(target) },
        2 => Method::GetPeers { info_hash: InfoHash(target) },
        _ => Method::AnnouncePeer {
            info_hash: InfoHash(target),
            port: 1,
            implied_port: false,
            token: b"forged".to_vec(),
        },
    };
    let transaction = n.to_be_bytes()[6..].to_vec();
    Message {
        transaction,
        body: Body::Query(Query { id, method, want: Want::default(), read_only: false }),
    }
    .encode()
}

#[test]
fn a_krpc_flood_from_one_address_leaves_honest_queries_answered_and_memory_bounded() {
    let env = TestEnv::new();
    let args = ["dht", "--bind", "127.0.0.1", "-p", "0", "--no-bootstrap", "--json"];
    let mut node = Running::spawn(env.mt(&args));
    let listening = node.wait_for_event("listening", Duration::from_secs(30));
    let addr: SocketAddr = listening["addr"].as_str().expect("addr").parse().expect("an address");
    let flooder = UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    let ids: Vec<NodeId> = (0..1000).map(|_| NodeId::random()).collect();
    let flooding = Arc::new(AtomicBool::new(true));
    let still = flooding.clone();
    let queries: Vec<Vec<u8>> =
        (0..4000u64).map(|n| query(n, ids[usize::try_from(n % 1000).unwrap_or(0)])).collect();
    let flood = std::thread::spawn(move || {
        let started = Instant::now();
        let total = FLOOD_RATE * FLOOD_FOR.as_secs();
        let mut sent = 0u64;
        while sent < total {
            // Paced by the clock: catch up to FLOOD_RATE a second, then yield a moment.
            let due = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX) * FLOOD_RATE
                / 1000;
            while sent < due.min(total) {
                let _ = flooder.send_to(&queries[usize::try_from(sent % 4000).unwrap_or(0)], addr);
                sent += 1;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        still.store(false, Ordering::Release);
        (sent, started.elapsed())
    });
    let honest = UdpSocket::bind("127.0.0.1:0").expect("bind the honest client");
    honest.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
    let me = NodeId::random();
    let (mut asked, mut answered, mut peak) = (0u32, 0u32, 0u64);
    let mut reply = [0u8; 2048];
    while flooding.load(Ordering::Acquire) {
        asked += 1;
        let transaction = asked.to_be_bytes().to_vec();
        let ping = Message {
            transaction: transaction.clone(),
            body: Body::Query(Query {
                id: me,
                method: Method::Ping,
                want: Want::default(),
                read_only: false,
            }),
        };
        honest.send_to(&ping.encode(), addr).expect("send a ping");
        // The node may ping us back (a stranger worth knowing): skip its queries.
        while let Ok((len, _)) = honest.recv_from(&mut reply) {
            let Ok(message) = Message::decode(&reply[..len]) else { continue };
            if message.transaction == transaction && matches!(message.body, Body::Response(_)) {
                answered += 1;
                break;
            }
        }
        peak = peak.max(resident(node.pid()));
        std::thread::sleep(Duration::from_millis(100));
    }
    let (sent, took) = flood.join().expect("the flood thread");
    let status = node.wait_for(Duration::from_secs(10), |v| {
        v["event"] == "status" && v["queries_dropped"].as_u64() > Some(0)
    });
    println!(
        "flood: {sent} queries sent in {:.1} s; honest pings answered {answered}/{asked}; peak rss {} KiB; node: {status}",
        took.as_secs_f64(),
        peak / 1024
    );
    // A lost datagram on loopback is rare but possible: allow one in ten.
    assert!(answered * 10 >= asked * 9, "honest pings answered: {answered} of {asked}");
    assert!(peak < MEMORY_BOUND, "peak resident memory {peak} bytes");
    node.kill();
}
