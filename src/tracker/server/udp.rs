//! The tracker's UDP endpoint (BEP 15): one thread, one socket, one reply per request.
//!
//! Connection ids cost no state: an id is the first 8 bytes of SHA-1 over the server's random
//! secret, the current minute since start, and the client's address. An id is accepted during
//! the minute it was made and the next one, so it expires after one to two minutes. Packets
//! too short to carry a transaction id are dropped silently; every other bad packet gets an
//! error reply. Announce replies use the family the request came over (6-byte peers over
//! IPv4, 18-byte peers over IPv6; an IPv4-mapped sender counts as IPv4) and stay under 1500
//! bytes.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};

use super::swarm::{Family, PeerAnnounce};
use super::{DEFAULT_NUMWANT, MAX_NUMWANT, POLL, Refusal, Tracker};
use crate::tracker::udp::{Request, RequestError, Response, UdpAnnounce};

/// Most IPv4 peers in one reply (20 + 6 · 200 = 1220 bytes).
pub const MAX_PEERS_V4: usize = 200;
/// Most IPv6 peers in one reply (20 + 18 · 80 = 1460 bytes).
pub const MAX_PEERS_V6: usize = 80;
/// How long one connection-id epoch lasts.
const EPOCH: Duration = Duration::from_secs(60);
/// Larger than any request we accept; longer packets are truncated and then refused.
const MAX_REQUEST: usize = 2048;

/// Serves UDP requests until `shutdown` is set.
pub fn serve(socket: &UdpSocket, tracker: &Tracker, shutdown: &AtomicBool) -> io::Result<()> {
    socket.set_read_timeout(Some(POLL))?;
    let mut buf = [0u8; MAX_REQUEST];
    while !shutdown.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buf) {
            Ok((len, from)) => {
                if let Some(reply) = handle_packet(tracker, &buf[..len], from, Instant::now()) {
                    // A reply that cannot be sent is the client's loss, not the tracker's.
                    let _ = socket.send_to(&reply, from);
                }
            }
            Err(err)
                if matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            // ICMP errors from earlier replies and the like: keep serving, without spinning.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
    Ok(())
}

/// The reply to one packet from `from`, or `None` when there is nobody to answer.
pub fn handle_packet(
    tracker: &Tracker,
    packet: &[u8],
    from: SocketAddr,
    now: Instant,
) -> Option<Vec<u8>> {
    let from = SocketAddr::new(from.ip().to_canonical(), from.port());
    let epoch = epoch(tracker, now);
    let error = |transaction_id, message: &str| Response::Error {
        transaction_id,
        message: message.to_string(),
    };
    let valid = |id| {
        id == connection_id(&tracker.secret, from, epoch)
            || epoch
                .checked_sub(1)
                .is_some_and(|prev| id == connection_id(&tracker.secret, from, prev))
    };
    let response = match Request::decode(packet) {
        Err(RequestError::Unanswerable) => return None,
        Err(RequestError::Invalid { transaction_id, reason }) => error(transaction_id, reason),
        Ok(Request::Connect { transaction_id }) => Response::Connect {
            transaction_id,
            connection_id: connection_id(&tracker.secret, from, epoch),
        },
        Ok(Request::Announce(a)) if !valid(a.connection_id) => {
            error(a.transaction_id, "invalid connection id")
        }
        Ok(Request::Scrape { connection_id, transaction_id, .. }) if !valid(connection_id) => {
            error(transaction_id, "invalid connection id")
        }
        Ok(Request::Announce(a)) => announce(tracker, &a, from),
        Ok(Request::Scrape { transaction_id, info_hashes, .. }) => {
            let stats = tracker.scrape(&info_hashes).into_iter().map(Option::unwrap_or_default);
            Response::Scrape { transaction_id, stats: stats.collect() }
        }
    };
    Some(response.encode())
}

fn announce(tracker: &Tracker, a: &UdpAnnounce, from: SocketAddr) -> Response {
    let transaction_id = a.transaction_id;
    if a.port == 0 {
        return Response::Error { transaction_id, message: "invalid port".into() };
    }
    let (family, cap) = match from.ip() {
        IpAddr::V4(_) => (Family::V4, MAX_PEERS_V4),
        IpAddr::V6(_) => (Family::V6, MAX_PEERS_V6),
    };
    let wanted = a.numwant.and_then(|n| usize::try_from(n).ok()).unwrap_or(DEFAULT_NUMWANT);
    let req = PeerAnnounce {
        info_hash: a.info_hash,
        peer_id: a.peer_id,
        addr: SocketAddr::new(from.ip(), a.port),
        left: a.left,
        event: a.event,
        numwant: wanted.min(MAX_NUMWANT).min(cap),
        family,
    };
    match tracker.announce(&req) {
        Ok(reply) => Response::Announce {
            transaction_id,
            interval: tracker.interval_secs(),
            leechers: reply.stats.incomplete,
            seeders: reply.stats.complete,
            peers: reply.peers.into_iter().map(|(addr, _)| addr).collect(),
        },
        Err(refusal) => error_for(transaction_id, refusal),
    }
}

fn error_for(transaction_id: u32, refusal: Refusal) -> Response {
    Response::Error { transaction_id, message: refusal.message().to_string() }
}

fn epoch(tracker: &Tracker, now: Instant) -> u64 {
    now.saturating_duration_since(tracker.started).as_secs() / EPOCH.as_secs()
}

/// The connection id for `addr` during `epoch`: a keyed hash, so no state is kept.
pub fn connection_id(secret: &[u8; 16], addr: SocketAddr, epoch: u64) -> u64 {
    let ip = match addr.ip() {
        IpAddr::V4(ip) => ip.to_ipv6_mapped().octets(),
        IpAddr::V6(ip) => ip.octets(),
    };
    let digest = Sha1::new()
        .chain_update(secret)
        .chain_update(epoch.to_be_bytes())
        .chain_update(ip)
        .chain_update(addr.port().to_be_bytes())
        .finalize();
    let mut id = [0u8; 8];
    id.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::server::ServerConfig;
    use crate::types::{InfoHash, PeerId};

    fn connect(tracker: &Tracker, from: SocketAddr, now: Instant) -> u64 {
        let packet = Request::Connect { transaction_id: 1 }.encode();
        let reply = handle_packet(tracker, &packet, from, now).expect("reply");
        match Response::decode(&reply, false) {
            Ok(Response::Connect { connection_id, .. }) => connection_id,
            other => panic!("not a connect reply: {other:?}"),
        }
    }

    fn announce_with(connection_id: u64) -> Vec<u8> {
        Request::Announce(UdpAnnounce {
            connection_id,
            transaction_id: 7,
            info_hash: InfoHash([3; 20]),
            peer_id: PeerId([4; 20]),
            downloaded: 0,
            left: 10,
            uploaded: 0,
            event: None,
            key: 0,
            numwant: None,
            port: 6881,
        })
        .encode()
    }

    #[test]
    fn connection_ids_expire_within_two_minutes() {
        let tracker = Tracker::new(&ServerConfig::default());
        let from: SocketAddr = "127.0.0.1:4000".parse().expect("addr");
        let start = tracker.started;
        let id = connect(&tracker, from, start);
        let is_error = |now| {
            let reply = handle_packet(&tracker, &announce_with(id), from, now).expect("reply");
            matches!(Response::decode(&reply, false), Ok(Response::Error { .. }))
        };
        assert!(!is_error(start + Duration::from_secs(119)));
        assert!(is_error(start + Duration::from_secs(120)));
    }

    #[test]
    fn ids_are_bound_to_the_sender_address() {
        let tracker = Tracker::new(&ServerConfig::default());
        let now = tracker.started;
        let id = connect(&tracker, "127.0.0.1:4000".parse().expect("addr"), now);
        let other: SocketAddr = "127.0.0.1:4001".parse().expect("addr");
        let reply = handle_packet(&tracker, &announce_with(id), other, now).expect("reply");
        let expected =
            Response::Error { transaction_id: 7, message: "invalid connection id".into() };
        assert_eq!(Response::decode(&reply, false), Ok(expected));
    }

    /// Announces `peer` from `from` and returns the raw reply.
    fn announce_from(tracker: &Tracker, from: SocketAddr, peer: u8) -> Vec<u8> {
        let now = tracker.started;
        let id = connect(tracker, from, now);
        let mut packet = announce_with(id);
        packet[36..56].copy_from_slice(&[peer; 20]); // the peer id
        handle_packet(tracker, &packet, from, now).expect("reply")
    }

    #[test]
    fn ipv6_senders_get_18_byte_peers_and_mapped_senders_6_byte_ones() {
        let tracker = Tracker::new(&ServerConfig::default());
        let v6: SocketAddr = "[2001:db8::1]:4000".parse().expect("addr");
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:4000".parse().expect("addr");
        announce_from(&tracker, v6, 1);
        announce_from(&tracker, mapped, 2);
        // A second IPv6 peer hears of the first in 18 bytes: 20 + 18.
        let reply = announce_from(&tracker, "[2001:db8::2]:4000".parse().expect("addr"), 3);
        assert_eq!(reply.len(), 20 + 18);
        let Ok(Response::Announce { peers, .. }) = Response::decode(&reply, true) else {
            panic!("not an announce reply: {reply:02x?}");
        };
        assert_eq!(peers, ["[2001:db8::1]:6881".parse::<SocketAddr>().expect("addr")]);
        // The mapped sender was recorded as IPv4: an IPv4 peer hears of it in 6 bytes.
        let reply = announce_from(&tracker, "10.0.0.3:4000".parse().expect("addr"), 4);
        let Ok(Response::Announce { peers, .. }) = Response::decode(&reply, false) else {
            panic!("not an announce reply: {reply:02x?}");
        };
        assert_eq!(peers, ["10.0.0.1:6881".parse::<SocketAddr>().expect("addr")]);
    }

    #[test]
    fn short_garbage_is_ignored_and_longer_garbage_answered() {
        let tracker = Tracker::new(&ServerConfig::default());
        let from: SocketAddr = "127.0.0.1:4000".parse().expect("addr");
        let now = tracker.started;
        assert_eq!(handle_packet(&tracker, b"hello", from, now), None);
        let reply = handle_packet(&tracker, &[0xff; 40], from, now).expect("reply");
        assert!(matches!(Response::decode(&reply, false), Ok(Response::Error { .. })));
    }
}
