//! Making connections: the listening sockets, the accept loop, and outgoing connects.
//!
//! The listen port is bound for TCP (peer connections) and UDP (where uTP dialers are turned
//! away, see [`crate::udp`]) together: a port is used only when both are free on it. The
//! default address, `[::]`, is bound dual-stack ([`crate::dual_stack`]), so IPv4 and IPv6
//! peers reach the same port; on a machine without IPv6 it falls back to `0.0.0.0`. Accepted
//! connections carry the canonical address of the peer (IPv4 for a v4-mapped one).
//!
//! Both sides finish the BEP 3 handshake on their own short-lived thread, then hand the
//! connection to the session thread over the control channel. The number of handshakes in
//! flight is capped, so a flood of connections costs bounded threads and memory.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::Sender;

use super::channels::Control;
use crate::dual_stack;
use crate::error::Error;
use crate::peer;
use crate::types::{InfoHash, PeerId};
use crate::wire::Handshake;

/// Most handshakes (incoming and outgoing together) in flight at once.
pub const MAX_HANDSHAKES: usize = 64;

/// Time allowed for a connect plus both handshakes.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Tries for a port free for both TCP and UDP when the port is chosen for us (port 0).
const ANY_PORT_TRIES: u16 = 20;

/// Binds `addr` for TCP and UDP on the same port; with `next_free`, a port taken for either
/// moves on to the next ones. Port 0 picks a port free for both. `[::]` falls back to
/// `0.0.0.0` when the machine has no IPv6.
pub fn bind(addr: SocketAddr, next_free: bool) -> Result<(TcpListener, UdpSocket), Error> {
    match bind_family(addr, next_free) {
        Err(Some(err)) if dual_stack::no_ipv6(&err) => {
            if let Some(v4) = dual_stack::ipv4_fallback(addr.ip()) {
                return bind(SocketAddr::new(v4, addr.port()), next_free);
            }
            Err(cannot_listen(addr, Some(err)))
        }
        Err(err) => Err(cannot_listen(addr, err)),
        Ok(pair) => Ok(pair),
    }
}

fn cannot_listen(addr: SocketAddr, err: Option<std::io::Error>) -> Error {
    let reason = err.map_or_else(String::new, |e| crate::error::lower_io(&e));
    Error::Network(format!("cannot listen on {addr}: {reason}"))
}

/// [`bind`] within one family; the last error when no port worked.
fn bind_family(
    addr: SocketAddr,
    next_free: bool,
) -> Result<(TcpListener, UdpSocket), Option<std::io::Error>> {
    let tries = if addr.port() == 0 {
        ANY_PORT_TRIES
    } else if next_free {
        50
    } else {
        1
    };
    let mut last = None;
    for offset in 0..tries {
        let mut candidate = addr;
        if addr.port() != 0 {
            candidate.set_port(addr.port().saturating_add(offset));
        }
        match bind_both(candidate) {
            Ok(pair) => return Ok(pair),
            Err(e) if dual_stack::no_ipv6(&e) => return Err(Some(e)),
            Err(e) => last = Some(e),
        }
    }
    Err(last)
}

/// Binds TCP on `addr`, then UDP on the port TCP got.
fn bind_both(addr: SocketAddr) -> std::io::Result<(TcpListener, UdpSocket)> {
    let listener = dual_stack::bind_tcp(addr)?;
    let udp = dual_stack::bind_udp(listener.local_addr()?)?;
    Ok((listener, udp))
}

/// What the connection threads share.
#[derive(Clone)]
pub struct Dialer {
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    pub control: Sender<Control>,
    pub shutdown: Arc<AtomicBool>,
    pub in_flight: Arc<AtomicUsize>,
    /// Whether a DHT node runs on our port (the handshake says so).
    pub dht: bool,
    /// Whether the torrent has v2 metadata (the handshake says so, BEP 52).
    pub v2: bool,
    /// A hybrid torrent's v2 info hash truncated to 20 bytes: peers may name the torrent by
    /// it, or answer our v1 hash with it (BEP 52's upgrade to v2).
    pub v2_hash: Option<InfoHash>,
}

impl Dialer {
    /// The handshake we send.
    fn handshake(&self) -> Handshake {
        Handshake::new(self.info_hash, self.peer_id).with_dht(self.dht).with_v2(self.v2)
    }

    fn claim(&self) -> bool {
        let now = self.in_flight.fetch_add(1, Ordering::AcqRel);
        if now >= MAX_HANDSHAKES {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Starts connecting to `addr` on its own thread; false when too many are in flight.
    pub fn connect(&self, addr: SocketAddr) -> bool {
        if !self.claim() {
            return false;
        }
        let dialer = self.clone();
        let spawned =
            std::thread::Builder::new().name(format!("mt-connect-{addr}")).spawn(move || {
                let result =
                    peer::connect(addr, dialer.handshake(), dialer.v2_hash, HANDSHAKE_TIMEOUT);
                dialer.in_flight.fetch_sub(1, Ordering::AcqRel);
                let message = match result {
                    Ok(connected) => Control::Connected(Box::new(connected)),
                    Err(err) => Control::ConnectFailed(addr, err.to_string()),
                };
                let _ = dialer.control.send(message);
            });
        if spawned.is_err() {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }
}

/// Accepts connections until shutdown, handshaking each on its own thread.
pub fn accept_loop(listener: TcpListener, dialer: Dialer) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    while !dialer.shutdown.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, addr)) => {
                let _ = stream.set_nonblocking(false);
                if !dialer.claim() {
                    continue; // too many handshakes in flight: drop this one
                }
                let worker = dialer.clone();
                let spawned = std::thread::Builder::new().name(format!("mt-accept-{addr}")).spawn(
                    move || {
                        let result = peer::accept(
                            stream,
                            worker.handshake(),
                            worker.v2_hash,
                            HANDSHAKE_TIMEOUT,
                        );
                        worker.in_flight.fetch_sub(1, Ordering::AcqRel);
                        if let Ok(connected) = result {
                            let _ = worker.control.send(Control::Connected(Box::new(connected)));
                        }
                    },
                );
                if spawned.is_err() {
                    dialer.in_flight.fetch_sub(1, Ordering::AcqRel);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}
