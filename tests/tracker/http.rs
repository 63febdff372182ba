//! The HTTP tracker, spoken to with raw requests over loopback, and the HTTP client against it.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use mt::tracker::server::{Server, ServerConfig, ServerHandle};
use mt::tracker::{AnnounceRequest, TrackerError, TrackerEvent};
use mt::types::{InfoHash, PeerId, url_encode};

const HASH: [u8; 20] = *b"\x00\x01\x02 hash&with=odd%20";
const TIMEOUT: Duration = Duration::from_secs(10);

fn start(config: ServerConfig) -> ServerHandle {
    let config =
        ServerConfig { http: Some(SocketAddr::from(([127, 0, 0, 1], 0))), udp: None, ..config };
    Server::spawn(config).expect("tracker starts")
}

fn tracker() -> ServerHandle {
    start(ServerConfig::default())
}

/// Sends raw bytes and returns the status code and body of the reply.
fn send(server: &ServerHandle, request: &[u8]) -> (u16, Vec<u8>) {
    let addr = server.http_addr().expect("http endpoint");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    stream.write_all(request).expect("send request");
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("read reply");
    let split = reply.windows(4).position(|w| w == b"\r\n\r\n").expect("reply head") + 4;
    let head = String::from_utf8_lossy(&reply[..split]).into_owned();
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("status code");
    assert!(head.contains(&format!("Content-Length: {}\r\n", reply.len() - split)), "{head}");
    (status, reply[split..].to_vec())
}

fn get(server: &ServerHandle, target: &str) -> (u16, Vec<u8>) {
    send(server, format!("GET {target} HTTP/1.1\r\nHost: tracker\r\n\r\n").as_bytes())
}

/// An announce target for peer `n` (peer id `n` repeated, port 6880 + n).
fn announce_target(n: u8, left: u64, extra: &str) -> String {
    format!(
        "/announce?info_hash={}&peer_id={}&port={}&uploaded=0&downloaded=0&left={left}{extra}",
        url_encode(&HASH),
        url_encode(&[b'a' + n; 20]),
        6880 + u16::from(n),
    )
}

fn failure(reason: &str) -> Vec<u8> {
    format!("d14:failure reason{}:{reason}e", reason.len()).into_bytes()
}

#[test]
fn first_announce_gets_an_empty_compact_reply() {
    let server = tracker();
    let (status, body) = get(&server, &announce_target(1, 10, "&compact=1&event=started"));
    assert_eq!(status, 200);
    assert_eq!(
        body,
        b"d8:completei0e10:incompletei1e8:intervali1800e12:min intervali900e5:peers0:e"
    );
}

#[test]
fn second_peer_gets_the_first_in_compact_form() {
    let server = tracker();
    get(&server, &announce_target(1, 10, ""));
    let (_, body) = get(&server, &announce_target(2, 0, "&compact=1"));
    let mut expected =
        b"d8:completei1e10:incompletei1e8:intervali1800e12:min intervali900e5:peers6:".to_vec();
    expected.extend_from_slice(&[127, 0, 0, 1, 0x1a, 0xe1]); // 127.0.0.1:6881
    expected.push(b'e');
    assert_eq!(body, expected);
}

#[test]
fn compact_zero_lists_dictionaries_with_peer_ids() {
    let server = tracker();
    get(&server, &announce_target(1, 10, ""));
    let (_, body) = get(&server, &announce_target(2, 10, "&compact=0"));
    let expected = "d8:completei0e10:incompletei2e8:intervali1800e12:min intervali900e\
                    5:peersld2:ip9:127.0.0.17:peer id20:bbbbbbbbbbbbbbbbbbbb4:porti6881eeee";
    assert_eq!(String::from_utf8_lossy(&body), expected);
    let (_, body) = get(&server, &announce_target(2, 10, "&compact=0&no_peer_id=1"));
    assert!(body.ends_with(b"5:peersld2:ip9:127.0.0.14:porti6881eeee"));
}

#[test]
fn scrape_reports_byte_exact_counts() {
    let server = tracker();
    get(&server, &announce_target(1, 10, ""));
    get(&server, &announce_target(2, 0, "&event=completed"));
    let (status, body) = get(&server, &format!("/scrape?info_hash={}", url_encode(&HASH)));
    assert_eq!(status, 200);
    let mut expected = b"d5:filesd20:".to_vec();
    expected.extend_from_slice(&HASH);
    expected.extend_from_slice(b"d8:completei1e10:downloadedi1e10:incompletei1eeee");
    assert_eq!(body, expected);
}

#[test]
fn stopped_peer_leaves_the_swarm() {
    let server = tracker();
    get(&server, &announce_target(1, 10, ""));
    get(&server, &announce_target(1, 10, "&event=stopped"));
    let (_, body) = get(&server, &announce_target(2, 10, ""));
    assert!(body.ends_with(b"5:peers0:e"), "{}", String::from_utf8_lossy(&body));
}

#[test]
fn malformed_announces_get_failure_reasons() {
    let server = tracker();
    let hash = url_encode(&HASH);
    let id = "&peer_id=aaaaaaaaaaaaaaaaaaaa";
    let cases = [
        (format!("/announce?port=1{id}"), "missing info_hash"),
        (
            format!("/announce?info_hash={}&port=1{id}", url_encode(&HASH[..19])),
            "invalid info_hash: must be 20 bytes, got 19",
        ),
        (format!("/announce?info_hash={hash}&port=1"), "missing peer_id"),
        (format!("/announce?info_hash={hash}{id}"), "missing port"),
        (format!("/announce?info_hash={hash}{id}&port=99999"), "invalid port"),
        (format!("/announce?info_hash={hash}{id}&port=0"), "invalid port"),
        (format!("/announce?info_hash={hash}{id}&port=1&left=-1"), "invalid left"),
        (format!("/announce?info_hash={hash}{id}&port=1&event=paused"), "invalid event"),
        (format!("/announce?info_hash=%zz{id}&port=1"), "malformed query string"),
        (
            format!("/scrape?info_hash={}", url_encode(&HASH[..19])),
            "invalid info_hash: must be 20 bytes, got 19",
        ),
    ];
    for (target, reason) in cases {
        assert_eq!(get(&server, &target), (200, failure(reason)), "{target}");
    }
    let (_, body) = get(&server, &announce_target(1, 10, ""));
    assert!(body.starts_with(b"d8:complete"), "still serving after bad requests");
}

#[test]
fn non_tracker_requests_get_http_errors_with_a_reason() {
    let server = tracker();
    assert_eq!(get(&server, "/index.html").0, 404);
    assert_eq!(send(&server, b"POST /announce HTTP/1.1\r\n\r\n").0, 405);
    assert_eq!(send(&server, b"nonsense\r\n\r\n"), (400, failure("malformed request line")));
}

#[test]
fn oversized_query_is_refused_and_the_tracker_keeps_serving() {
    let server = tracker();
    let target = format!("/announce?junk={}", "x".repeat(20_000));
    assert_eq!(get(&server, &target), (414, failure("request is too large")));
    assert_eq!(get(&server, &announce_target(1, 10, "")).0, 200);
}

#[test]
fn a_silent_connection_does_not_stall_other_clients() {
    let server = tracker();
    let addr = server.http_addr().expect("http endpoint");
    let mut idle = TcpStream::connect(addr).expect("connect");
    idle.write_all(b"GET /announce?info").expect("partial request");
    let (status, _) = get(&server, &announce_target(1, 10, ""));
    assert_eq!(status, 200);
    drop(idle);
}

#[test]
fn allow_list_refuses_other_torrents() {
    let other = [9u8; 20];
    let server =
        start(ServerConfig { allow: Some(HashSet::from([InfoHash(other)])), ..Default::default() });
    assert_eq!(get(&server, &announce_target(1, 10, "")), (200, failure("unregistered torrent")));
    let target =
        format!("/scrape?info_hash={}&info_hash={}", url_encode(&HASH), url_encode(&other));
    let mut expected = b"d5:filesd20:".to_vec();
    expected.extend_from_slice(&other);
    expected.extend_from_slice(b"d8:completei0e10:downloadedi0e10:incompletei0eeee");
    assert_eq!(get(&server, &target), (200, expected));
}

#[test]
fn peers_expire_after_two_silent_intervals() {
    let server = start(ServerConfig { interval: Duration::from_secs(1), ..Default::default() });
    get(&server, &announce_target(1, 10, ""));
    // Peer 2 keeps the swarm alive; peer 1 stays silent past its two-second lifetime.
    thread::sleep(Duration::from_millis(2100));
    let (_, body) = get(&server, &announce_target(2, 10, ""));
    assert!(body.ends_with(b"5:peers0:e"), "{}", String::from_utf8_lossy(&body));
}

fn request(n: u8, event: Option<TrackerEvent>) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash(HASH),
        peer_id: PeerId([b'a' + n; 20]),
        port: 6880 + u16::from(n),
        uploaded: 0,
        downloaded: 0,
        left: 10,
        event,
        numwant: Some(10),
    }
}

#[test]
fn http_client_announces_to_our_tracker() {
    let server = tracker();
    let url = format!("http://{}/announce", server.http_addr().expect("http endpoint"));
    let first = mt::tracker::announce(&url, &request(1, Some(TrackerEvent::Started)), TIMEOUT)
        .expect("first announce");
    assert!(first.peers.is_empty());
    let second = mt::tracker::announce(&url, &request(2, None), TIMEOUT).expect("second announce");
    assert_eq!(second.interval, Duration::from_secs(1800));
    assert_eq!(second.min_interval, Some(Duration::from_secs(900)));
    assert_eq!(second.peers, vec![SocketAddr::from(([127, 0, 0, 1], 6881))]);
    assert_eq!((second.complete, second.incomplete), (Some(0), Some(2)));
}

#[test]
fn http_client_reports_failure_reasons_and_refused_connections() {
    let server = start(ServerConfig { allow: Some(HashSet::new()), ..Default::default() });
    let url = format!("http://{}/announce", server.http_addr().expect("http endpoint"));
    let err = mt::tracker::announce(&url, &request(1, None), TIMEOUT).expect_err("not allowed");
    assert_eq!(err.to_string(), format!("tracker {url}: failure reason: unregistered torrent"));
    server.stop().expect("clean stop");

    let err = mt::tracker::announce(&url, &request(1, None), TIMEOUT).expect_err("stopped");
    assert!(matches!(err, TrackerError::Network { .. }), "{err:?}");
    assert_eq!(err.to_string(), format!("tracker {url}: connection refused"));
}
