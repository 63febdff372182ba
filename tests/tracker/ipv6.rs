//! IPv6 through `mt tracker` on `[::1]`: a client that announces over IPv6 is told of IPv6
//! peers (in `peers6` over HTTP, as 18-byte entries over UDP), and `mt seed` and `mt get`
//! meet through it over `::1`, with each other and with libtorrent in both directions. A
//! tracker on `[::]` serves IPv4 and IPv6 clients on one port: over HTTP each hears of the
//! other family's peers too, over UDP only of its own. Every process has its own empty
//! same-host registry, so the tracker is the only way peers meet.
//! On a machine without an IPv6 loopback these tests fail under CI and skip elsewhere.

use std::net::SocketAddr;
use std::time::Duration;

use mt::tracker::client::Client;
use mt::tracker::{AnnounceRequest, TrackerEvent};
use mt::types::{InfoHash, PeerId};

use crate::common::process::Running;
use crate::common::{Output, TestEnv, require_ipv6, require_libtorrent, run_bounded};
use crate::tracker_env::{
    LINE_TIMEOUT, TrackerProcess, libtorrent_peer, run_mt_get_on, start_mt_seed_with,
    start_tracker_on,
};

/// One file of 300,001 bytes in 16 KiB pieces.
const LEN: usize = 300_001;

fn request(peer: u8, port: u16) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash([0x66; 20]),
        peer_id: PeerId([peer; 20]),
        port,
        uploaded: 0,
        downloaded: 0,
        left: 1,
        event: Some(TrackerEvent::Started),
        numwant: Some(50),
    }
}

/// Two IPv6 clients announce to `url`; the second is told of the first at `[::1]:7001`.
fn ipv6_clients_learn_of_ipv6_peers(url: &str) {
    let client = Client::with_retransmit_base(Duration::from_secs(1));
    let timeout = Duration::from_secs(10);
    client.announce(url, &request(1, 7001), timeout).expect("the first announce");
    let reply = client.announce(url, &request(2, 7002), timeout).expect("the second announce");
    let first: SocketAddr = "[::1]:7001".parse().expect("an address");
    assert_eq!(reply.peers, vec![first], "{url}");
}

#[test]
fn the_http_tracker_on_ipv6_names_ipv6_peers_in_peers6() {
    if !require_ipv6() {
        return;
    }
    let env = TestEnv::new();
    let tracker = start_tracker_on(&env, "[::1]");
    assert!(tracker.http.starts_with("http://[::1]:"), "{}", tracker.http);
    ipv6_clients_learn_of_ipv6_peers(&tracker.http);
    // The raw reply: no IPv4 peer, one 18-byte entry in `peers6`.
    let url = mt::tracker::http::announce_url(&tracker.http, &request(3, 7003));
    let body = http_get(&url);
    let reply = mt::bencode::decode(&body).expect("a bencoded reply");
    let v6 = reply.get("peers6").and_then(mt::bencode::Value::as_bytes).expect("peers6");
    assert_eq!(v6.len(), 2 * 18, "two IPv6 peers known before this one");
}

#[test]
fn the_udp_tracker_on_ipv6_answers_with_18_byte_peers() {
    if !require_ipv6() {
        return;
    }
    let env = TestEnv::new();
    let tracker = start_tracker_on(&env, "[::1]");
    assert!(tracker.udp.starts_with("udp://[::1]:"), "{}", tracker.udp);
    ipv6_clients_learn_of_ipv6_peers(&tracker.udp);
}

/// A plain HTTP GET of `url` (`http://[::1]:P/...`), returning the body.
fn http_get(url: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http url");
    let (authority, path) = rest.split_at(rest.find('/').expect("a path"));
    let mut stream = std::net::TcpStream::connect(authority).expect("connect to the tracker");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let head = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).expect("send the request");
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("read the reply");
    let at = reply.windows(4).position(|w| w == b"\r\n\r\n").expect("a header end");
    reply.split_off(at + 4)
}

/// Asserts a download's peer connections include one to `[::1]`.
fn assert_connected_over_ipv6(out: &Output) {
    let connected = out.events("peer_connected");
    assert!(
        connected.iter().any(|e| e["addr"].as_str().is_some_and(|a| a.starts_with("[::1]:"))),
        "connected over IPv6: {out:#?}"
    );
}

/// Writes `video.bin` and a torrent announcing to the tracker's `url`.
fn video_announcing_to(env: &TestEnv, url: &str) {
    env.write_generated("video.bin", LEN, 6);
    env.run(&["create", "-p", "16K", "-t", url, "video.bin"]).expect_code(0);
}

/// The tracker URL of `tracker` for `udp` or HTTP.
fn url(tracker: &TrackerProcess, udp: bool) -> &str {
    if udp { &tracker.udp } else { &tracker.http }
}

/// `mt seed` listening on `[::]` (dual-stack, the default) and `mt get` on `::1` meet through
/// the tracker on `[::1]`: the download connects to the seed's IPv6 address.
fn mt_meets_mt_over_ipv6(udp: bool) {
    let env = TestEnv::new();
    let tracker = start_tracker_on(&env, "[::1]");
    video_announcing_to(&env, url(&tracker, udp));
    let _seed = start_mt_seed_with(&env, "video.bin.torrent", "video.bin", &[]);
    let out = run_mt_get_on(&env, "video.bin.torrent", "copy.bin", "::1");
    out.expect_code(0);
    assert_connected_over_ipv6(&out);
    assert!(env.read("copy.bin") == env.read("video.bin"), "the copy differs");
}

#[test]
fn mt_get_downloads_from_mt_seed_over_ipv6_through_the_http_tracker() {
    if require_ipv6() {
        mt_meets_mt_over_ipv6(false);
    }
}

#[test]
fn mt_get_downloads_from_mt_seed_over_ipv6_through_the_udp_tracker() {
    if require_ipv6() {
        mt_meets_mt_over_ipv6(true);
    }
}

#[test]
fn mt_get_downloads_from_libtorrent_over_ipv6_through_the_tracker() {
    if !require_ipv6() || !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    let tracker = start_tracker_on(&env, "[::1]");
    video_announcing_to(&env, &tracker.http);
    let torrent = env.path("video.bin.torrent");
    let mut seed = libtorrent_peer("seed", &torrent, env.root());
    seed.args(["--listen", "[::1]:0"]);
    let mut seed = Running::spawn(seed);
    seed.wait_for_event("listening", LINE_TIMEOUT);
    let out = run_mt_get_on(&env, "video.bin.torrent", "copy.bin", "::1");
    out.expect_code(0);
    assert_connected_over_ipv6(&out);
    assert!(env.read("copy.bin") == env.read("video.bin"), "the copy differs");
}

#[test]
fn libtorrent_downloads_from_mt_seed_over_ipv6_through_the_tracker() {
    if !require_ipv6() || !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    let tracker = start_tracker_on(&env, "[::1]");
    video_announcing_to(&env, &tracker.http);
    let _seed = start_mt_seed_with(&env, "video.bin.torrent", "video.bin", &["--bind", "::1"]);
    let mut get = libtorrent_peer("get", &env.path("video.bin.torrent"), &env.path("lt"));
    get.args(["--listen", "[::1]:0"]);
    let out = run_bounded(get);
    out.expect_code(0);
    assert!(out.stdout.contains(r#""event": "done""#), "{out:#?}");
    assert!(env.read("lt/video.bin") == env.read("video.bin"), "the copy differs");
}

#[test]
fn a_tracker_on_the_unspecified_ipv6_address_serves_both_families() {
    if !require_ipv6() {
        return;
    }
    let env = TestEnv::new();
    let tracker = start_tracker_on(&env, "[::]");
    let port = |url: &str| {
        let after = url.rsplit_once(':').expect("a port").1;
        after.split('/').next().expect("digits").to_string()
    };
    let (http, udp) = (port(&tracker.http), port(&tracker.udp));
    let client = Client::with_retransmit_base(Duration::from_secs(1));
    let timeout = Duration::from_secs(10);
    // Each endpoint gets a torrent of its own.
    for (torrent, v4_url, v6_url) in [
        (1, format!("http://127.0.0.1:{http}/announce"), format!("http://[::1]:{http}/announce")),
        (2, format!("udp://127.0.0.1:{udp}"), format!("udp://[::1]:{udp}")),
    ] {
        let mut v4 = request(1, 7001);
        let mut v6 = request(2, 7002);
        (v4.info_hash, v6.info_hash) = (InfoHash([torrent; 20]), InfoHash([torrent; 20]));
        client.announce(&v4_url, &v4, timeout).expect("an IPv4 announce");
        let reply = client.announce(&v6_url, &v6, timeout).expect("an IPv6 announce");
        let ipv4_peer: SocketAddr = "127.0.0.1:7001".parse().expect("an address");
        if v6_url.starts_with("http") {
            // HTTP names every family: the IPv4 peer in `peers`.
            assert_eq!(reply.peers, vec![ipv4_peer], "{v6_url}");
            let reply = client.announce(&v4_url, &v4, timeout).expect("again over IPv4");
            let ipv6_peer: SocketAddr = "[::1]:7002".parse().expect("an address");
            assert_eq!(reply.peers, vec![ipv6_peer], "{v4_url}: the IPv6 peer in peers6");
        } else {
            // UDP names the sender's family only.
            assert!(reply.peers.is_empty(), "{v6_url}: {:?}", reply.peers);
            let reply = client.announce(&v4_url, &v4, timeout).expect("again over IPv4");
            assert!(reply.peers.is_empty(), "{v4_url}: {:?}", reply.peers);
        }
    }
}
