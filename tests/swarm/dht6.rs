//! The DHT over IPv6 (BEP 32) on `::1`: a testnet of `mt dht` nodes bootstrapped from one
//! `mt dht --bind ::1`, where lookups converge on the eight nearest IPv6 nodes, a seed's
//! announce is found at its IPv6 address, and a magnet link naming only the info hash is
//! downloaded through the IPv6 DHT alone; libtorrent on `::1` in the same testnet finds `mt
//! seed` and is found by `mt get`; and a dual-stack node that knows IPv4 and IPv6
//! nodes answers an IPv4 query with `want n4 n6` with both (`nodes` and `nodes6`). Without
//! an IPv6 loopback these tests fail under CI and skip elsewhere.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use mt::dht::NodeId;
use mt::dht::krpc::{Body, Message, Method, Query, Response, Want};

use crate::common::swarm::assert_same_file;
use crate::common::{TestEnv, require_ipv6};
use crate::dht::{Testnet, start_node};

/// Nodes started besides the bootstrap node.
const NODES: usize = 20;
/// Longest wait for the dual-stack node to know nodes of both families.
const SETTLE: Duration = Duration::from_secs(60);

fn peers_of(found: &serde_json::Value) -> Vec<String> {
    found["peers"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

#[test]
fn lookups_in_an_ipv6_testnet_converge_on_the_eight_nearest_nodes() {
    if !require_ipv6() {
        return;
    }
    let env = TestEnv::new();
    let net = Testnet::start_on(&env, "::1", NODES);
    assert!(net.root.starts_with("[::1]:"), "{}", net.root);
    let found =
        net.get_peers_until(&env, "0123456789abcdef0123456789abcdef01234567", |v| v["nodes"] == 8);
    assert_eq!(found["peers"], serde_json::json!([]), "nobody announced this torrent");
}

#[test]
fn a_seed_announced_over_ipv6_is_found_and_a_bare_magnet_link_downloads_from_it() {
    if !require_ipv6() {
        return;
    }
    let env = TestEnv::new();
    let net = Testnet::start_on(&env, "::1", NODES);
    env.write_generated("video.bin", 2 * 1024 * 1024 + 5, 41);
    env.run(&["create", "-p", "64K", "video.bin"]).expect_code(0);
    let info_hash = env.info_hash("video.bin.torrent");
    let dht = ["--dht-bootstrap", net.root.as_str()];
    let seed = env.seed_alone_on("::1", "video.bin.torrent", "video.bin", &dht);
    assert!(seed.addr.starts_with("[::1]:"), "{}", seed.addr);
    // The seed announced itself over IPv6: a lookup returns its IPv6 address.
    let found = net.get_peers_until(&env, &info_hash, |v| peers_of(v).contains(&seed.addr));
    assert_eq!(found["nodes"], 8, "{found}");
    // A magnet link that names nothing but the info hash, on ::1, no tracker, no --peer.
    let magnet = format!("magnet:?xt=urn:btih:{info_hash}");
    let out = env.get(&magnet, "magnet.bin", &[&dht[..], &["--bind", "::1"]].concat());
    out.expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("magnet.bin"));
}

/// Asks `to` for the nodes nearest a random target from `socket`, wanting both families.
fn find_node_both(socket: &UdpSocket, to: SocketAddr, n: u16) -> Option<Response> {
    let query = Message {
        transaction: n.to_be_bytes().to_vec(),
        body: Body::Query(Query {
            id: NodeId::random(),
            method: Method::FindNode { target: NodeId::random() },
            want: Want { n4: true, n6: true },
            read_only: false,
        }),
    };
    socket.send_to(&query.encode(), to).expect("send find_node");
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let Ok((len, _)) = socket.recv_from(&mut buf) else { continue };
        if let Ok(Message { transaction, body: Body::Response(response) }) =
            Message::decode(&buf[..len])
            && transaction == n.to_be_bytes()
        {
            return Some(response);
        }
    }
    None
}

#[test]
fn a_dual_stack_node_answers_want_n4_n6_with_both_families() {
    if !require_ipv6() {
        return;
    }
    let env = TestEnv::new();
    let (mut node, listening) = start_node(&env, "::", &["--no-bootstrap"]);
    let addr = listening["addr"].as_str().expect("an address").to_string();
    let port = addr.strip_prefix("[::]:").expect("listening on [::]").to_string();
    let v4 = format!("127.0.0.1:{port}");
    let v6 = format!("[::1]:{port}");
    // Nodes of each family join through it, and it learns of them.
    let (mut a, _) = start_node(&env, "127.0.0.1", &["--dht-bootstrap", &v4]);
    let (mut b, _) = start_node(&env, "::1", &["--dht-bootstrap", &v6]);
    node.wait_for(SETTLE, |v| {
        v["event"] == "status" && v["nodes"].as_u64() >= Some(1) && v["nodes6"].as_u64() >= Some(1)
    });
    // An IPv4 querier that wants both gets both.
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let to: SocketAddr = v4.parse().expect("address");
    let response = (0..20u16)
        .find_map(|n| find_node_both(&socket, to, n))
        .expect("the dual-stack node answers find_node");
    assert!(!response.nodes.is_empty(), "{response:?}");
    assert!(!response.nodes6.is_empty(), "{response:?}");
    assert!(response.nodes.iter().all(|n| n.addr.is_ipv4()), "{response:?}");
    assert!(response.nodes6.iter().all(|n| n.addr.is_ipv6()), "{response:?}");
    // Without `want`, an IPv4 querier gets IPv4 nodes only.
    let query = Message {
        transaction: b"zz".to_vec(),
        body: Body::Query(Query {
            id: NodeId::random(),
            method: Method::FindNode { target: NodeId::random() },
            want: Want::default(),
            read_only: false,
        }),
    };
    socket.send_to(&query.encode(), to).expect("send find_node");
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(10);
    let plain = loop {
        assert!(Instant::now() < deadline, "no answer to a plain find_node");
        let Ok((len, _)) = socket.recv_from(&mut buf) else { continue };
        if let Ok(Message { transaction, body: Body::Response(r) }) = Message::decode(&buf[..len])
            && transaction == b"zz"
        {
            break r;
        }
    };
    assert!(!plain.nodes.is_empty() && plain.nodes6.is_empty(), "{plain:?}");
    for running in [&mut a, &mut b, &mut node] {
        running.kill();
    }
}

/// libtorrent on `::1`, bootstrapped from the IPv6 testnet's `mt dht` node, seeds a torrent
/// with no tracker: a lookup finds it at its IPv6 address, and `mt get --bind ::1` downloads
/// from it through the IPv6 DHT alone.
#[test]
fn mt_get_downloads_from_a_libtorrent_seed_found_through_the_ipv6_dht() {
    if !require_ipv6() || !crate::common::require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    let net = Testnet::start_on(&env, "::1", NODES);
    env.write_generated("video.bin", 2 * 1024 * 1024 + 333, 43);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    let info_hash = env.info_hash("video.bin.torrent");
    let root = env.root().display().to_string();
    let extra = ["--listen", "[::1]:0", "--dht-bootstrap", net.root.as_str()];
    let seed = env.libtorrent("seed", "video.bin.torrent", &root, &extra);
    let port = seed.addr.rsplit(':').next().expect("a port");
    let seed_addr = format!("[::1]:{port}");
    net.get_peers_until(&env, &info_hash, |v| peers_of(v).contains(&seed_addr));
    let dht = ["--bind", "::1", "--dht-bootstrap", net.root.as_str()];
    env.get("video.bin.torrent", "copy.bin", &dht).expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}

/// The reverse: `mt seed` on `::1` announces to the IPv6 testnet, and libtorrent on `::1`,
/// bootstrapped from its `mt dht` node, downloads a magnet link naming only the info hash.
#[test]
fn libtorrent_downloads_from_mt_seed_found_through_the_ipv6_dht() {
    if !require_ipv6() || !crate::common::require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    let net = Testnet::start_on(&env, "::1", NODES);
    env.write_generated("video.bin", 2 * 1024 * 1024 + 333, 47);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    let info_hash = env.info_hash("video.bin.torrent");
    let dht = ["--dht-bootstrap", net.root.as_str()];
    let seed = env.seed_alone_on("::1", "video.bin.torrent", "video.bin", &dht);
    net.get_peers_until(&env, &info_hash, |v| peers_of(v).contains(&seed.addr));
    let magnet = format!("magnet:?xt=urn:btih:{info_hash}");
    let extra = ["--listen", "[::1]:0", "--dht-bootstrap", net.root.as_str()];
    let get = env.libtorrent("get", &magnet, "lt", &extra);
    get.process.wait(crate::common::swarm::GET_LIMIT).expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("lt/video.bin"));
}
