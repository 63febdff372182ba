//! IPv6 between `mt` processes on `::1`: a download dials `--peer [::1]:PORT` and a magnet
//! link's `x.pe=[::1]:PORT`; by default a
//! seed listens dual-stack on `[::]`, where an IPv4 peer shows as its plain IPv4 address and
//! a same-host download finds it through the registry; and a download told of one IPv6 seed
//! learns of a second one through peer exchange alone (`added6`, BEP 11). The DHT keeps
//! working (over IPv4) on the dual-stack listener, and so does the uTP refusal. On a machine
//! without an IPv6 loopback these tests fail under CI and skip elsewhere.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use crate::common::swarm::{GET_LIMIT, STARTUP, assert_same_file};
use crate::common::{TestEnv, require_ipv6};
use crate::dht::Testnet;
use crate::support::raw_peer::RawListener;
use crate::utp_refusal::SYN;
use mt::metainfo::Metainfo;

/// 1 MiB in 32 KiB pieces.
const LEN: usize = 1024 * 1024;

/// Writes `video.bin` (`len` bytes) and its torrent.
fn video(env: &TestEnv, len: usize) {
    env.write_generated("video.bin", len, 16);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
}

#[test]
fn a_download_dials_a_bracketed_ipv6_peer() {
    if !require_ipv6() {
        return;
    }
    let env = TestEnv::new();
    video(&env, LEN);
    let seed = env.seed_alone_on("::1", "video.bin.torrent", "video.bin", &[]);
    assert!(seed.addr.starts_with("[::1]:"), "{}", seed.addr);
    let out = env.get("video.bin.torrent", "copy.bin", &["--bind", "::1", "--peer", &seed.addr]);
    out.expect_code(0);
    let connected = out.event("peer_connected");
    assert_eq!(connected["addr"], seed.addr.as_str(), "{out:#?}");
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}

#[test]
fn the_default_listener_takes_ipv4_and_ipv6_peers_and_names_ipv4_ones_plainly() {
    if !require_ipv6() {
        return;
    }
    let env = TestEnv::new();
    video(&env, LEN);
    let mut seed = env.seed_on(None, "video.bin.torrent", "video.bin", &[]);
    let port = seed.addr.strip_prefix("[::]:").expect("listening on [::]").to_string();
    // Over IPv4: the seed sees 127.0.0.1, never ::ffff:127.0.0.1.
    let v4 = format!("127.0.0.1:{port}");
    env.get("video.bin.torrent", "v4.bin", &["--peer", &v4]).expect_code(0);
    let accepted = seed.process.wait_for(STARTUP, |e| e["event"] == "peer_connected");
    let from = accepted["addr"].as_str().expect("an address");
    assert!(from.starts_with("127.0.0.1:"), "{accepted}");
    // Over IPv6, to the same port.
    let v6 = format!("[::1]:{port}");
    env.get("video.bin.torrent", "v6.bin", &["--bind", "::1", "--peer", &v6]).expect_code(0);
    let accepted = seed.process.wait_for(STARTUP, |e| {
        e["event"] == "peer_connected" && e["addr"].as_str().is_some_and(|a| a.starts_with("[::1]"))
    });
    assert_eq!(accepted["outgoing"], false, "{accepted}");
    // Through the same-host registry, with no --peer.
    env.get_discovering("video.bin.torrent", "found.bin", &[]).expect_code(0);
    for copy in ["v4.bin", "v6.bin", "found.bin"] {
        assert_same_file(&env.path("video.bin"), &env.path(copy));
    }
}

#[test]
fn a_download_learns_of_an_ipv6_seed_through_pex() {
    if !require_ipv6() {
        return;
    }
    let env = TestEnv::new();
    video(&env, 2 * LEN);
    // Both seeds upload at a quarter of the file a second, so C is still downloading when
    // it hears of B.
    let limit = ["--max-up", "512K"];
    let b = env.seed_alone_on("::1", "video.bin.torrent", "video.bin", &limit);
    let with_b = [&limit[..], &["--peer", &b.addr]].concat();
    let mut a = env.seed_alone_on("::1", "video.bin.torrent", "video.bin", &with_b);
    a.process.wait_for(STARTUP, |e| {
        e["event"] == "peer_closed" && e["reason"] == "both sides are seeds"
    });
    let told = ["--bind", "::1", "--peer", &a.addr];
    let mut c = env.start_get("video.bin.torrent", "copy.bin", &told);
    let b_addr = b.addr.clone();
    let connected = c.wait_for(Duration::from_secs(20), |e| {
        e["event"] == "peer_connected" && e["addr"] == b_addr.as_str()
    });
    assert_eq!(connected["outgoing"], true, "C dials B: {connected}");
    a.process.kill();
    c.wait(GET_LIMIT).expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}

#[test]
fn a_magnet_link_names_an_ipv6_peer() {
    if !require_ipv6() {
        return;
    }
    let env = TestEnv::new();
    video(&env, LEN);
    let magnet =
        env.show_json("video.bin.torrent")["magnet"].as_str().expect("a magnet").to_string();
    let seed = env.seed_alone_on("::1", "video.bin.torrent", "video.bin", &[]);
    let link = format!("{magnet}&x.pe={}", seed.addr);
    env.get(&link, "copy.bin", &["--bind", "::1"]).expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}

/// On the default dual-stack listener the DHT speaks IPv4 too (through the mapped form):
/// a seed there announces into an IPv4 testnet, and a download there, of the torrent or of
/// a bare magnet link, finds it through the DHT alone.
#[test]
fn the_dht_works_on_the_dual_stack_listener() {
    if !require_ipv6() {
        return;
    }
    let env = TestEnv::new();
    let net = Testnet::start(&env, 8);
    video(&env, LEN);
    let info_hash = env.info_hash("video.bin.torrent");
    let dht = ["--dht-bootstrap", net.root.as_str()];
    let seed = env.seed_on(None, "video.bin.torrent", "video.bin", &dht);
    let port = seed.addr.strip_prefix("[::]:").expect("listening on [::]").to_string();
    // The testnet knows the seed by its IPv4 address.
    let seen = format!("127.0.0.1:{port}");
    net.get_peers_until(&env, &info_hash, |v| {
        v["peers"].as_array().is_some_and(|peers| peers.iter().any(|p| p == seen.as_str()))
    });
    // A download on the default listener, with a discovery folder of its own and no --peer.
    let default_listener = [&dht[..], &["--bind", "::"]].concat();
    env.get("video.bin.torrent", "copy.bin", &default_listener).expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
    // So does a magnet link that names nothing but the info hash: its metadata lookup runs
    // on [::] before the download binds it on the same port.
    let magnet = format!("magnet:?xt=urn:btih:{info_hash}");
    env.get(&magnet, "magnet.bin", &default_listener).expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("magnet.bin"));
}

/// An IPv4 uTP dialer reaches the dual-stack listener v4-mapped: it gets its reset from the
/// port it dialled, and is dialled back over TCP at its plain IPv4 address.
#[test]
fn the_dual_stack_listener_refuses_ipv4_utp_and_dials_back_over_tcp() {
    if !require_ipv6() {
        return;
    }
    let env = TestEnv::new();
    video(&env, LEN);
    let info_hash = Metainfo::load(&env.path("video.bin.torrent")).expect("torrent").info_hash;
    let seed = env.seed_on(None, "video.bin.torrent", "video.bin", &[]);
    let port = seed.addr.strip_prefix("[::]:").expect("listening on [::]");
    let seed_v4: SocketAddr = format!("127.0.0.1:{port}").parse().expect("an address");
    let listener = RawListener::bind();
    let tcp_addr: SocketAddr = listener.addr().parse().expect("the listener's address");
    let probe = UdpSocket::bind(tcp_addr).expect("bind udp on the same port");
    probe.set_read_timeout(Some(Duration::from_secs(5))).expect("set a read timeout");
    probe.send_to(&SYN, seed_v4).expect("send the syn");
    let mut reply = [0u8; 1500];
    let (len, from) = probe.recv_from(&mut reply).expect("a reset");
    assert_eq!(from, seed_v4, "the reset comes from the port dialled");
    assert_eq!(reply[..len].first(), Some(&0x31), "ST_RESET: {:02x?}", &reply[..len]);
    let mut peer = listener
        .accept(Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("mt seed did not dial 127.0.0.1 back over tcp: {e}"));
    let theirs = peer.read_handshake(Duration::from_secs(5)).expect("mt's handshake");
    assert_eq!(theirs.info_hash, info_hash);
}
