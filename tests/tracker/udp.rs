//! The UDP tracker (BEP 15) spoken to with raw packets over loopback, and the UDP client
//! against it and against scripted fake trackers.

use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use mt::tracker::server::{Server, ServerConfig, ServerHandle};
use mt::tracker::{AnnounceRequest, Client, TrackerError, TrackerEvent};
use mt::types::{InfoHash, PeerId};

const HASH: [u8; 20] = [0x5a; 20];
const TIMEOUT: Duration = Duration::from_secs(10);

fn start(config: ServerConfig) -> ServerHandle {
    let config =
        ServerConfig { http: None, udp: Some(SocketAddr::from(([127, 0, 0, 1], 0))), ..config };
    Server::spawn(config).expect("tracker starts")
}

/// A raw client socket connected to the tracker.
fn socket(server: &ServerHandle) -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    socket.connect(server.udp_addr().expect("udp endpoint")).expect("connect");
    socket
}

fn exchange(socket: &UdpSocket, packet: &[u8]) -> Vec<u8> {
    socket.send(packet).expect("send");
    let mut buf = [0u8; 2048];
    let len = socket.recv(&mut buf).expect("reply");
    buf[..len].to_vec()
}

fn be32(n: u32) -> [u8; 4] {
    n.to_be_bytes()
}

fn connect(socket: &UdpSocket) -> [u8; 8] {
    let mut packet = vec![0, 0, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80];
    packet.extend_from_slice(&be32(0)); // connect
    packet.extend_from_slice(&be32(0xc0ffee));
    let reply = exchange(socket, &packet);
    assert_eq!(reply.len(), 16);
    assert_eq!(&reply[..8], &[0, 0, 0, 0, 0, 0xc0, 0xff, 0xee]);
    reply[8..].try_into().expect("8-byte connection id")
}

/// A 98-byte announce for peer `n` on port 6880 + n.
fn announce_packet(connection_id: [u8; 8], n: u8, left: u64, event: u32) -> Vec<u8> {
    let mut packet = connection_id.to_vec();
    packet.extend_from_slice(&be32(1));
    packet.extend_from_slice(&be32(u32::from(n)));
    packet.extend_from_slice(&HASH);
    packet.extend_from_slice(&[n; 20]);
    packet.extend_from_slice(&0u64.to_be_bytes());
    packet.extend_from_slice(&left.to_be_bytes());
    packet.extend_from_slice(&0u64.to_be_bytes());
    packet.extend_from_slice(&be32(event));
    packet.extend_from_slice(&be32(0)); // ip
    packet.extend_from_slice(&be32(0)); // key
    packet.extend_from_slice(&(-1i32).to_be_bytes());
    packet.extend_from_slice(&(6880 + u16::from(n)).to_be_bytes());
    assert_eq!(packet.len(), 98);
    packet
}

fn error_reply(transaction_id: u32, message: &str) -> Vec<u8> {
    [&be32(3)[..], &be32(transaction_id), message.as_bytes()].concat()
}

#[test]
fn announces_get_byte_exact_replies() {
    let server = start(ServerConfig::default());
    let first = socket(&server);
    let id = connect(&first);
    let reply = exchange(&first, &announce_packet(id, 1, 10, 2));
    let header = [be32(1), be32(1), be32(1800), be32(1), be32(0)].concat();
    assert_eq!(reply, header, "action, transaction, interval, leechers, seeders, no peers");

    let second = socket(&server);
    let id = connect(&second);
    let reply = exchange(&second, &announce_packet(id, 2, 0, 1));
    let mut expected = [be32(1), be32(2), be32(1800), be32(1), be32(1)].concat();
    expected.extend_from_slice(&[127, 0, 0, 1, 0x1a, 0xe1]);
    assert_eq!(reply, expected);
}

#[test]
fn scrape_reports_counts_in_request_order() {
    let server = start(ServerConfig::default());
    let client = socket(&server);
    let id = connect(&client);
    exchange(&client, &announce_packet(id, 1, 0, 1));
    let mut packet = id.to_vec();
    packet.extend_from_slice(&be32(2));
    packet.extend_from_slice(&be32(77));
    packet.extend_from_slice(&[0; 20]);
    packet.extend_from_slice(&HASH);
    let expected = [be32(2), be32(77), be32(0), be32(0), be32(0), be32(1), be32(1), be32(0)];
    assert_eq!(exchange(&client, &packet), expected.concat());
}

#[test]
fn wrong_connection_id_gets_an_error() {
    let server = start(ServerConfig::default());
    let client = socket(&server);
    let id = connect(&client);
    let mut wrong = id;
    wrong[0] ^= 0xff;
    let reply = exchange(&client, &announce_packet(wrong, 4, 10, 0));
    assert_eq!(reply, error_reply(4, "invalid connection id"));
}

#[test]
fn garbage_is_dropped_or_answered_and_never_stops_the_tracker() {
    let server = start(ServerConfig::default());
    let client = socket(&server);
    let id = connect(&client);
    // Too short to answer: dropped silently, so the next reply is the connect's.
    for junk in [&b""[..], b"x", &[0xff; 15]] {
        client.send(junk).expect("send junk");
    }
    connect(&client);
    let unknown_action = [&[0u8; 8][..], &be32(9), &be32(5)].concat();
    assert_eq!(exchange(&client, &unknown_action), error_reply(5, "unknown action"));
    let bad_connect = [&[1u8; 8][..], &be32(0), &be32(6)].concat();
    assert_eq!(exchange(&client, &bad_connect), error_reply(6, "connect without the protocol id"));
    let short = &announce_packet(id, 7, 10, 0)[..60];
    assert_eq!(exchange(&client, short), error_reply(7, "announce packet too short"));
    let mut bad_event = announce_packet(id, 8, 10, 0);
    bad_event[80..84].copy_from_slice(&be32(42));
    assert_eq!(exchange(&client, &bad_event), error_reply(8, "unknown event"));
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..200 {
        let len = rng.usize(0..200);
        let junk: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        client.send(&junk).expect("send junk");
    }
    // Replies to the junk may be queued; the tracker must still answer a fresh connect.
    let fresh = socket(&server);
    connect(&fresh);
}

#[test]
fn allow_list_refuses_other_torrents() {
    let server = start(ServerConfig {
        allow: Some(HashSet::from([InfoHash([1; 20])])),
        ..Default::default()
    });
    let client = socket(&server);
    let id = connect(&client);
    assert_eq!(
        exchange(&client, &announce_packet(id, 3, 10, 0)),
        error_reply(3, "unregistered torrent")
    );
}

fn request(n: u8) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash(HASH),
        peer_id: PeerId([n; 20]),
        port: 6880 + u16::from(n),
        uploaded: 0,
        downloaded: 0,
        left: 10,
        event: Some(TrackerEvent::Started),
        numwant: None,
    }
}

#[test]
fn udp_client_announces_to_our_tracker() {
    let server = start(ServerConfig::default());
    let url = format!("udp://{}", server.udp_addr().expect("udp endpoint"));
    let client = Client::new();
    assert!(client.announce(&url, &request(1), TIMEOUT).expect("first").peers.is_empty());
    let reply = client.announce(&format!("{url}/announce"), &request(2), TIMEOUT).expect("second");
    assert_eq!(reply.peers, vec![SocketAddr::from(([127, 0, 0, 1], 6881))]);
    assert_eq!(reply.interval, Duration::from_secs(1800));
    assert_eq!((reply.complete, reply.incomplete), (Some(0), Some(2)));
}

/// What a scripted tracker does with each packet it receives, in order.
#[derive(Clone, Copy)]
enum Step {
    /// Say nothing.
    Drop,
    /// Answer a connect with connection id 42, or an announce with one peer.
    Answer,
    /// Answer with an error packet.
    Fail(&'static str),
}

/// A fake tracker that follows `script`, one step per packet, and returns the packets it
/// saw once the script is done or ten seconds have passed.
fn fake_tracker(script: Vec<Step>) -> (String, thread::JoinHandle<Vec<Vec<u8>>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let url = format!("udp://{}", socket.local_addr().expect("addr"));
    socket.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
    let handle = thread::spawn(move || {
        let deadline = Instant::now() + TIMEOUT;
        let mut seen = Vec::new();
        let mut buf = [0u8; 2048];
        while seen.len() < script.len() && Instant::now() < deadline {
            let Ok((len, from)) = socket.recv_from(&mut buf) else { continue };
            let packet = buf[..len].to_vec();
            let transaction = &packet[12..16];
            let reply = match (script[seen.len()], packet[11]) {
                (Step::Drop, _) => None,
                (Step::Fail(message), _) => {
                    Some([&be32(3)[..], transaction, message.as_bytes()].concat())
                }
                (Step::Answer, 0) => {
                    Some([&be32(0)[..], transaction, &42u64.to_be_bytes()].concat())
                }
                (Step::Answer, _) => Some(
                    [
                        &be32(1)[..],
                        transaction,
                        &be32(60),
                        &be32(0),
                        &be32(1),
                        &[10, 0, 0, 1, 0, 80],
                    ]
                    .concat(),
                ),
            };
            if let Some(reply) = reply {
                socket.send_to(&reply, from).expect("reply");
            }
            seen.push(packet);
        }
        seen
    });
    (url, handle)
}

fn actions(seen: &[Vec<u8>]) -> Vec<u8> {
    seen.iter().map(|packet| packet[11]).collect()
}

#[test]
fn udp_client_reuses_its_connection_id() {
    let (url, tracker) = fake_tracker(vec![Step::Answer; 3]);
    let client = Client::new();
    for _ in 0..2 {
        let reply = client.announce(&url, &request(1), TIMEOUT).expect("announce");
        assert_eq!(reply.peers, vec![SocketAddr::from(([10, 0, 0, 1], 80))]);
        assert_eq!(reply.interval, Duration::from_secs(60));
    }
    let seen = tracker.join().expect("fake tracker");
    assert_eq!(actions(&seen), [0, 1, 1], "one connect, then two announces");
    assert!(seen[1..].iter().all(|packet| packet[..8] == 42u64.to_be_bytes()));
}

#[test]
fn udp_client_reconnects_once_when_its_cached_id_is_refused() {
    let script = [Step::Answer, Step::Answer, Step::Fail("stale"), Step::Answer, Step::Answer];
    let (url, tracker) = fake_tracker(script.to_vec());
    let client = Client::new();
    client.announce(&url, &request(1), TIMEOUT).expect("first announce");
    client.announce(&url, &request(1), TIMEOUT).expect("second announce, after reconnecting");
    assert_eq!(actions(&tracker.join().expect("fake tracker")), [0, 1, 1, 0, 1]);
}

#[test]
fn udp_client_retransmits_unanswered_packets() {
    let (url, tracker) = fake_tracker(vec![Step::Drop, Step::Answer, Step::Answer]);
    let client = Client::with_retransmit_base(Duration::from_millis(100));
    client.announce(&url, &request(1), TIMEOUT).expect("answered on the second try");
    assert_eq!(actions(&tracker.join().expect("fake tracker")), [0, 0, 1], "connect sent again");
}

#[test]
fn udp_client_reports_tracker_errors() {
    let (url, tracker) = fake_tracker(vec![Step::Answer, Step::Fail("torrent banned")]);
    let err = Client::new().announce(&url, &request(1), TIMEOUT).expect_err("refused");
    assert_eq!(err.to_string(), format!("tracker {url}: failure reason: torrent banned"));
    tracker.join().expect("fake tracker");
}

#[test]
fn udp_client_gives_up_on_a_silent_tracker_within_its_timeout() {
    let (url, tracker) = fake_tracker(vec![Step::Drop; 4]);
    let client = Client::with_retransmit_base(Duration::from_millis(50));
    let err = client.announce(&url, &request(1), Duration::from_millis(400)).expect_err("silent");
    assert!(matches!(err, TrackerError::NoReply { attempts: 2.., .. }), "{err:?}");
    assert!(err.to_string().ends_with(" attempts"), "{err}");
    drop(tracker); // its loop ends by its own deadline
}
