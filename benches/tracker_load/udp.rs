//! The UDP side of the tracker load benchmark (BEP 15), and what both sides share: the peers
//! that announce and the tally of answers. One simulated client is one socket that connects
//! once and then keeps [`UDP_WINDOW`] announces outstanding; a reply counts only when it is a
//! well-formed announce reply to one of them, matched by transaction id, and only once.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Distinct peers (peer id and port) announcing.
pub const PEERS: u32 = 20_000;
/// Peers asked for per announce.
pub const NUMWANT: u32 = 50;
/// Announces each simulated UDP client keeps outstanding.
pub const UDP_WINDOW: usize = 16;
/// How long a reply may take before it counts as lost.
pub const REPLY_TIMEOUT: Duration = Duration::from_millis(500);

/// What one run achieved.
#[derive(Clone, Copy, Default)]
pub struct Tally {
    /// Well-formed announce replies.
    pub ok: u64,
    /// Refusals, timeouts, broken connections and malformed replies.
    pub errors: u64,
}

impl Tally {
    /// Both tallies summed.
    pub fn add(self, other: Tally) -> Tally {
        Tally { ok: self.ok + other.ok, errors: self.errors + other.errors }
    }
}

/// Peer number `n`'s id, port and remaining bytes (odd peers are seeders).
pub fn peer(n: u32) -> ([u8; 20], u16, u64) {
    let mut id = *b"-LD0001-000000000000";
    id[8..].copy_from_slice(format!("{n:012}").as_bytes());
    let port = u16::try_from(1024 + n % 60_000).unwrap_or(u16::MAX);
    (id, port, if n % 2 == 1 { 0 } else { 1 << 20 })
}

/// One simulated client: connect once, then keep [`UDP_WINDOW`] announces in flight.
pub fn udp_client(
    tracker: SocketAddr,
    stop: Instant,
    hashes: &[[u8; 20]],
    rng: &mut fastrand::Rng,
) -> Tally {
    let mut tally = Tally::default();
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a udp socket");
    socket.connect(tracker).expect("connect the udp socket");
    socket.set_read_timeout(Some(REPLY_TIMEOUT)).expect("read timeout");
    let mut buf = [0u8; 2048];
    let connection_id = loop {
        if Instant::now() >= stop {
            return tally;
        }
        let mut packet = 0x0417_2710_1980u64.to_be_bytes().to_vec();
        packet.extend_from_slice(&[0, 0, 0, 0, 0xc0, 0xff, 0xee, 0]);
        socket.send(&packet).expect("send connect");
        match socket.recv(&mut buf) {
            Ok(16) if buf[..8] == [0, 0, 0, 0, 0xc0, 0xff, 0xee, 0] => {
                break u64::from_be_bytes(buf[8..16].try_into().expect("8 bytes"));
            }
            _ => tally.errors += 1,
        }
    };
    // The transaction ids of the announces in flight: a reply counts only for one of them,
    // once, so a duplicated reply or one that comes after its announce was given up is ignored.
    let mut outstanding: Vec<u32> = Vec::with_capacity(UDP_WINDOW);
    let mut transaction: u32 = 0;
    while Instant::now() < stop {
        while outstanding.len() < UDP_WINDOW {
            transaction = transaction.wrapping_add(1);
            let hash = &hashes[rng.usize(..hashes.len())];
            let packet = udp_announce(connection_id, transaction, hash, rng.u32(..PEERS));
            if socket.send(&packet).is_err() {
                tally.errors += 1;
                break;
            }
            outstanding.push(transaction);
        }
        match socket.recv(&mut buf) {
            Ok(len) if len >= 8 => {
                let id = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                let Some(at) = outstanding.iter().position(|&t| t == id) else { continue };
                outstanding.swap_remove(at);
                if len >= 20 && buf[..4] == [0, 0, 0, 1] {
                    tally.ok += 1;
                } else {
                    tally.errors += 1;
                }
            }
            Ok(_) => tally.errors += 1,
            Err(_) => {
                // Every reply in the window is overdue: count them lost and refill.
                tally.errors += u64::try_from(outstanding.len()).unwrap_or(0);
                outstanding.clear();
            }
        }
    }
    tally
}

fn udp_announce(connection_id: u64, transaction: u32, hash: &[u8; 20], n: u32) -> Vec<u8> {
    let (peer_id, port, left) = peer(n);
    let mut packet = Vec::with_capacity(98);
    packet.extend_from_slice(&connection_id.to_be_bytes());
    packet.extend_from_slice(&1u32.to_be_bytes());
    packet.extend_from_slice(&transaction.to_be_bytes());
    packet.extend_from_slice(hash);
    packet.extend_from_slice(&peer_id);
    packet.extend_from_slice(&0u64.to_be_bytes()); // downloaded
    packet.extend_from_slice(&left.to_be_bytes());
    packet.extend_from_slice(&0u64.to_be_bytes()); // uploaded
    packet.extend_from_slice(&0u32.to_be_bytes()); // event: none
    packet.extend_from_slice(&0u32.to_be_bytes()); // ip: the sender's
    packet.extend_from_slice(&n.to_be_bytes()); // key
    packet.extend_from_slice(&NUMWANT.to_be_bytes());
    packet.extend_from_slice(&port.to_be_bytes());
    packet
}
