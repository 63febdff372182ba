//! The listen port's UDP socket: one thread owns it, reads every datagram and routes it by
//! its first bytes.
//!
//! A datagram that starts like a uTP header (version 1, a known type, 20 bytes or more) goes
//! to the uTP responder in [`crate::utp`], whose reply (a reset for a SYN) is sent back from
//! this same socket, so the peer sees it come from the port it dialled. The address of each
//! SYN we reset is also handed to `on_syn` (at most [`SYN_REPORTS_PER_SECOND`] a second, so a
//! flood of forged SYNs cannot turn into a flood of dials): clients send uTP from their TCP
//! listen port, and a client refused over uTP dials again over TCP only at its next
//! connection tick, about a second later, so the session dials it first. A bencoded KRPC
//! message (`d…`) is the Mainline DHT's: it goes to the DHT thread's bounded queue
//! ([`crate::dht`]) when a DHT runs on this port, and is dropped when none does or the queue
//! is full. Anything else is dropped. Nothing here keeps state per sender, so a flood costs
//! only the time to read it. On a dual-stack socket an IPv4 sender arrives v4-mapped: the
//! address handed on is its canonical IPv4 form ([`crate::dual_stack::canonical`]), and the
//! DHT maps it back when it answers.
//!
//! The thread stops within [`POLL`] of the shutdown flag being set.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::dht::{self, Datagram};
use crate::utp;

/// How often the thread looks at the shutdown flag while no datagram comes.
pub const POLL: Duration = Duration::from_millis(100);

/// Largest datagram read; longer ones are truncated (and so not valid for any route).
const MAX_DATAGRAM: usize = 2048;

/// Most SYN addresses handed to `on_syn` in one second.
pub const SYN_REPORTS_PER_SECOND: u32 = 16;

/// What the owner of the socket is told of each uTP SYN it refused: the sender's address.
pub type OnSyn = Box<dyn Fn(SocketAddr) + Send>;

/// Where a datagram goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// A uTP packet: to the responder.
    Utp,
    /// A bencoded dictionary: a KRPC (DHT) message.
    Krpc,
    /// Neither.
    Unknown,
}

/// Routes a datagram by its first bytes.
pub fn route(datagram: &[u8]) -> Route {
    if datagram.first() == Some(&b'd') {
        Route::Krpc
    } else if utp::looks_like_utp(datagram) {
        Route::Utp
    } else {
        Route::Unknown
    }
}

/// Starts the thread that owns `socket` until `shutdown` is set; KRPC datagrams go to `krpc`
/// and the addresses of refused uTP SYNs to `on_syn`, when given.
pub fn spawn(
    socket: UdpSocket,
    shutdown: Arc<AtomicBool>,
    krpc: Option<Sender<Datagram>>,
    on_syn: Option<OnSyn>,
) -> std::io::Result<JoinHandle<()>> {
    socket.set_read_timeout(Some(POLL))?;
    std::thread::Builder::new()
        .name("mt-udp".into())
        .spawn(move || run(&socket, &shutdown, krpc.as_ref(), on_syn.as_ref()))
}

fn run(
    socket: &UdpSocket,
    shutdown: &AtomicBool,
    krpc: Option<&Sender<Datagram>>,
    on_syn: Option<&OnSyn>,
) {
    let started = Instant::now();
    let mut seq_nr = fastrand::u16(..);
    let mut buf = [0u8; MAX_DATAGRAM];
    // (start of the current second, SYNs reported in it)
    let mut reports = (Instant::now(), 0u32);
    while !shutdown.load(Ordering::Acquire) {
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            // Timeouts, and ICMP errors for earlier replies that some kernels report here.
            Err(_) => continue,
        };
        let datagram = &buf[..len];
        match route(datagram) {
            Route::Utp => {
                seq_nr = seq_nr.wrapping_add(1);
                let refused = answer_utp(socket, datagram, from, clock_us(started), seq_nr);
                if let Some(on_syn) = on_syn.filter(|_| refused) {
                    if reports.0.elapsed() >= Duration::from_secs(1) {
                        reports = (Instant::now(), 0);
                    }
                    if reports.1 < SYN_REPORTS_PER_SECOND {
                        reports.1 += 1;
                        on_syn(crate::dual_stack::canonical(from));
                    }
                }
            }
            Route::Krpc => {
                if let Some(krpc) = krpc {
                    dht::offer(krpc, datagram, crate::dual_stack::canonical(from));
                }
            }
            Route::Unknown => {}
        }
    }
}

/// Answers a uTP packet; true when it was a SYN, refused with a reset.
fn answer_utp(
    socket: &UdpSocket,
    packet: &[u8],
    from: SocketAddr,
    now_us: u32,
    seq_nr: u16,
) -> bool {
    let Some(reply) = utp::reply(packet, now_us, seq_nr) else { return false };
    // A lost reply costs the peer only its SYN timeout, as if we were not here.
    let _ = socket.send_to(&reply, from);
    true
}

/// Microseconds since `started`, wrapping as uTP timestamps do.
fn clock_us(started: Instant) -> u32 {
    let micros = started.elapsed().as_micros() % (u128::from(u32::MAX) + 1);
    u32::try_from(micros).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_the_first_bytes() {
        let syn = [0x41, 0, 0xa0, 0x9d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0c, 0x94, 0, 0];
        assert_eq!(route(&syn), Route::Utp);
        assert_eq!(route(b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"), Route::Krpc);
        assert_eq!(route(b""), Route::Unknown);
        assert_eq!(route(&syn[..19]), Route::Unknown);
        assert_eq!(route(b"\x00\x00\x04\x17\x27\x10\x19\x80"), Route::Unknown);
    }

    #[test]
    fn answers_a_syn_from_the_same_socket() {
        let shutdown = Arc::new(AtomicBool::new(false));
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = socket.local_addr().expect("local address");
        let thread = spawn(socket, shutdown.clone(), None, None).expect("spawn");
        let probe = UdpSocket::bind("127.0.0.1:0").expect("bind the probe");
        probe.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let syn = [0x41, 0, 0xa0, 0x9d, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0x0c, 0x94, 0, 0];
        probe.send_to(b"d1:y1:qe", addr).expect("send krpc");
        probe.send_to(&syn, addr).expect("send syn");
        let mut reply = [0u8; 64];
        let (len, from) = probe.recv_from(&mut reply).expect("a reset");
        assert_eq!(from, addr);
        let header = utp::Header::decode(&reply[..len]).expect("a utp header");
        assert_eq!(header.packet_type, utp::PacketType::Reset);
        assert_eq!((header.connection_id, header.ack_nr), (0xa09d, 0x0c94));
        shutdown.store(true, Ordering::Release);
        thread.join().expect("the thread ends");
    }

    #[test]
    fn tells_of_each_refused_syn_but_at_most_so_many_a_second() {
        let shutdown = Arc::new(AtomicBool::new(false));
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = socket.local_addr().expect("local address");
        let (told, heard) = crossbeam_channel::unbounded();
        let on_syn: OnSyn = Box::new(move |from| {
            let _ = told.send(from);
        });
        let thread = spawn(socket, shutdown.clone(), None, Some(on_syn)).expect("spawn");
        let probe = UdpSocket::bind("127.0.0.1:0").expect("bind the probe");
        probe.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let syn = [0x41, 0, 0xa0, 0x9d, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0x0c, 0x94, 0, 0];
        let mut reply = [0u8; 64];
        for _ in 0..SYN_REPORTS_PER_SECOND + 10 {
            probe.send_to(&syn, addr).expect("send syn");
            probe.recv_from(&mut reply).expect("a reset for every syn");
        }
        // A data packet (ST_DATA) is no SYN: no reset, nothing told.
        probe
            .send_to(&[0x01, 0, 0xa0, 0x9d, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0], addr)
            .expect("send data");
        shutdown.store(true, Ordering::Release);
        thread.join().expect("the thread ends");
        let reported: Vec<SocketAddr> = heard.try_iter().collect();
        let probe_addr = probe.local_addr().expect("the probe's address");
        assert!(reported.iter().all(|&from| from == probe_addr), "{reported:?}");
        let most = usize::try_from(SYN_REPORTS_PER_SECOND).expect("small");
        // The burst fits in one second, or spills into a second one on a slow machine.
        assert!(reported.len() >= most && reported.len() <= 2 * most, "{}", reported.len());
    }
}
