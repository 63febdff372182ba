//! The announcing client: picks the transport from the URL scheme and, for UDP trackers, runs
//! the BEP 15 exchange and remembers connection ids.
//!
//! A tracker host name with addresses in both families is announced to over each at once,
//! and the replies merged ([`super::families`]).
//!
//! A UDP announce is connect (unless a connection id younger than a minute is cached for that
//! address), then announce. A packet with no answer is sent again after `base · 2ⁿ`, n = 0..=8,
//! where the base is 15 s, or `MT_UDP_TIMEOUT_MS` milliseconds when that variable is set; the
//! caller's timeout cuts the whole exchange short. Replies from other addresses never arrive
//! (the socket is connected) and replies with another transaction id are dropped. A
//! [`Client`] is shared by reference between threads; its one lock guards only the
//! connection-id map and is never held across I/O.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::announce::{AnnounceRequest, AnnounceResponse};
use super::http::IpFamily;
use super::udp::{Request, Response, UdpAnnounce};
use super::{ReplyError, TrackerError, families, http};
use crate::error::lower_io;

/// How long a client may keep using a connection id (BEP 15).
pub const CONNECTION_ID_LIFETIME: Duration = Duration::from_secs(60);
/// The exponent of the last retransmission (BEP 15: 15 · 2⁸ s, about an hour).
const MAX_BACKOFF_EXPONENT: u32 = 8;
/// Replies are at most 20 bytes plus 18 per peer; anything near this is more than we asked.
const MAX_PACKET: usize = 65_536;

/// An announcing client. Keeps UDP connection ids per tracker address while they are valid.
#[derive(Debug)]
pub struct Client {
    key: u32,
    retransmit_base: Duration,
    connection_ids: Mutex<HashMap<SocketAddr, (u64, Instant)>>,
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

impl Client {
    /// A client with a fresh random UDP `key` and no cached connection ids. UDP packets are
    /// resent after 15 s, 30 s, 60 s... or from `MT_UDP_TIMEOUT_MS` when that is set.
    pub fn new() -> Client {
        Client::with_retransmit_base(base_timeout())
    }

    /// A client whose first UDP retransmission comes after `base`, doubling each time.
    pub fn with_retransmit_base(base: Duration) -> Client {
        Client {
            key: fastrand::u32(..),
            retransmit_base: base,
            connection_ids: Mutex::new(HashMap::new()),
        }
    }

    /// Announces to one tracker (`http://`, `https://` or `udp://`) within `timeout`.
    pub fn announce(
        &self,
        url: &str,
        req: &AnnounceRequest,
        timeout: Duration,
    ) -> Result<AnnounceResponse, TrackerError> {
        let scheme = url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("http" | "https") => {
                let families = match http_families(url) {
                    both if both.len() == 2 => both,
                    _ => vec![IpFamily::Any],
                };
                each(families, |family| http::announce(url, req, timeout, family))
            }
            Some("udp") => {
                let targets = families::one_per_family(resolve_udp_all(url)?);
                each(targets, |target| self.announce_udp(url, target, req, timeout))
            }
            _ => Err(TrackerError::UnsupportedScheme { url: url.to_string() }),
        }
    }

    fn cached_id(&self, tracker: SocketAddr) -> Option<u64> {
        let mut ids = self.connection_ids.lock().unwrap_or_else(PoisonError::into_inner);
        match ids.get(&tracker) {
            Some(&(id, at)) if at.elapsed() < CONNECTION_ID_LIFETIME => Some(id),
            Some(_) => {
                ids.remove(&tracker);
                None
            }
            None => None,
        }
    }

    fn store_id(&self, tracker: SocketAddr, id: Option<u64>) {
        let mut ids = self.connection_ids.lock().unwrap_or_else(PoisonError::into_inner);
        match id {
            Some(id) => ids.insert(tracker, (id, Instant::now())),
            None => ids.remove(&tracker),
        };
    }

    fn announce_udp(
        &self,
        url: &str,
        target: SocketAddr,
        req: &AnnounceRequest,
        timeout: Duration,
    ) -> Result<AnnounceResponse, TrackerError> {
        let network =
            |err: io::Error| TrackerError::Network { url: url.into(), reason: lower_io(&err) };
        let local: SocketAddr =
            if target.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
        let socket = UdpSocket::bind(local).map_err(network)?;
        socket.connect(target).map_err(network)?;

        let deadline = Instant::now() + timeout;
        let base = self.retransmit_base;
        let (mut attempts, mut exponent) = (0u32, 0u32);
        // An id cached by an earlier exchange may have been forgotten by the tracker (it
        // restarted, or its clock runs faster): an error to it earns one reconnect.
        let mut may_reconnect = self.cached_id(target).is_some();
        loop {
            let now = Instant::now();
            if now >= deadline || exponent > MAX_BACKOFF_EXPONENT {
                return Err(TrackerError::NoReply { url: url.into(), attempts });
            }
            let transaction_id = fastrand::u32(..);
            let cached = self.cached_id(target);
            let packet = match cached {
                None => Request::Connect { transaction_id },
                Some(connection_id) => Request::Announce(UdpAnnounce {
                    connection_id,
                    transaction_id,
                    info_hash: req.info_hash,
                    peer_id: req.peer_id,
                    downloaded: req.downloaded,
                    left: req.left,
                    uploaded: req.uploaded,
                    event: req.event,
                    key: self.key,
                    numwant: req.numwant,
                    port: req.port,
                }),
            };
            socket.send(&packet.encode()).map_err(network)?;
            attempts += 1;
            let wait = base.saturating_mul(1 << exponent);
            let until = deadline.min(now + wait);
            let Some(reply) =
                receive(&socket, transaction_id, target.is_ipv6(), until).map_err(network)?
            else {
                exponent += 1;
                continue;
            };
            match (cached, reply) {
                (None, Response::Connect { connection_id, .. }) => {
                    self.store_id(target, Some(connection_id));
                    may_reconnect = false;
                    exponent = 0;
                }
                (Some(_), Response::Announce { interval, leechers, seeders, peers, .. }) => {
                    return Ok(AnnounceResponse {
                        interval: Duration::from_secs(u64::from(interval)),
                        min_interval: None,
                        peers,
                        warning: None,
                        complete: Some(seeders),
                        incomplete: Some(leechers),
                    });
                }
                (Some(_), Response::Error { .. }) if may_reconnect => {
                    may_reconnect = false;
                    self.store_id(target, None);
                }
                (_, Response::Error { message, .. }) => {
                    return Err(ReplyError::Failure(message).at(url));
                }
                (_, other) => {
                    let reason = format!("unexpected reply {other:?}");
                    return Err(ReplyError::Malformed(reason).at(url));
                }
            }
        }
    }
}

/// The retransmission base: 15 s, or `MT_UDP_TIMEOUT_MS` when set to a positive number.
fn base_timeout() -> Duration {
    std::env::var("MT_UDP_TIMEOUT_MS")
        .ok()
        .and_then(|ms| ms.trim().parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map_or(Duration::from_secs(15), Duration::from_millis)
}

/// Waits until `until` for a reply carrying `transaction_id`; `Ok(None)` on timeout.
/// Packets that do not decode or belong to another exchange are skipped.
fn receive(
    socket: &UdpSocket,
    transaction_id: u32,
    ipv6: bool,
    until: Instant,
) -> io::Result<Option<Response>> {
    let mut buf = vec![0u8; MAX_PACKET];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        socket.set_read_timeout(Some(left))?;
        match socket.recv(&mut buf) {
            Ok(len) => {
                if let Ok(reply) = Response::decode(&buf[..len], ipv6)
                    && reply.transaction_id() == transaction_id
                {
                    return Ok(Some(reply));
                }
            }
            Err(err)
                if matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
            {
                return Ok(None);
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

/// Runs `announce` for each of `over` (families or addresses), at the same time when there
/// are two, and merges the replies ([`families::merge`]).
fn each<T: Send>(
    over: Vec<T>,
    announce: impl Fn(T) -> Result<AnnounceResponse, TrackerError> + Sync,
) -> Result<AnnounceResponse, TrackerError> {
    if over.len() <= 1 {
        let replies = over.into_iter().map(&announce).collect();
        return families::merge(replies);
    }
    let announce = &announce;
    std::thread::scope(|scope| {
        let running: Vec<_> =
            over.into_iter().map(|one| scope.spawn(move || announce(one))).collect();
        let replies = running.into_iter().filter_map(|thread| thread.join().ok()).collect();
        families::merge(replies)
    })
}

/// The families an HTTP tracker's host name resolves to: both when it has addresses of
/// each, else none (then the connection takes whatever the name gives).
fn http_families(url: &str) -> Vec<IpFamily> {
    let Some(host) = families::http_host(url) else { return Vec::new() };
    let Ok(addrs) = host.to_socket_addrs() else { return Vec::new() };
    let found = families::one_per_family(addrs);
    found
        .iter()
        .map(|a| if a.is_ipv4() { IpFamily::Ipv4Only } else { IpFamily::Ipv6Only })
        .collect()
}

/// The tracker address of a `udp://host:port[/path]` URL (the first its host resolves to).
pub fn resolve_udp(url: &str) -> Result<SocketAddr, TrackerError> {
    let invalid =
        |reason: &str| TrackerError::InvalidUrl { url: url.into(), reason: reason.into() };
    resolve_udp_all(url)?.into_iter().next().ok_or_else(|| invalid("host has no address"))
}

/// Every address the host of a `udp://host:port[/path]` URL resolves to (at least one).
fn resolve_udp_all(url: &str) -> Result<Vec<SocketAddr>, TrackerError> {
    let invalid =
        |reason: &str| TrackerError::InvalidUrl { url: url.into(), reason: reason.into() };
    let rest = url.get("udp://".len()..).ok_or_else(|| invalid("not a udp url"))?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']').ok_or_else(|| invalid("unclosed ["))?;
            (host, after.strip_prefix(':').ok_or_else(|| invalid("missing port"))?)
        }
        None => authority.rsplit_once(':').ok_or_else(|| invalid("missing port"))?,
    };
    let port: u16 = port.parse().ok().filter(|&p| p != 0).ok_or_else(|| invalid("invalid port"))?;
    if host.is_empty() {
        return Err(invalid("missing host"));
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|err| TrackerError::Network {
            url: url.into(),
            reason: format!("cannot resolve {host}: {}", lower_io(&err)),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(invalid("host has no address"));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_urls_resolve_with_and_without_paths() {
        let v4: SocketAddr = "127.0.0.1:6969".parse().expect("v4");
        assert_eq!(resolve_udp("udp://127.0.0.1:6969"), Ok(v4));
        assert_eq!(resolve_udp("udp://127.0.0.1:6969/announce"), Ok(v4));
        let v6: SocketAddr = "[::1]:80".parse().expect("v6");
        assert_eq!(resolve_udp("udp://[::1]:80/announce?x=1"), Ok(v6));
    }

    #[test]
    fn bad_udp_urls_say_what_is_wrong() {
        for (url, reason) in [
            ("udp://127.0.0.1", "missing port"),
            ("udp://127.0.0.1:0", "invalid port"),
            ("udp://:80", "missing host"),
            ("udp://[::1:80", "unclosed ["),
        ] {
            let err = resolve_udp(url).expect_err(url);
            assert_eq!(err.to_string(), format!("tracker {url}: {reason}"));
        }
    }

    #[test]
    fn silent_tracker_gives_no_reply_error_within_the_timeout() {
        let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let url = format!("udp://{}", silent.local_addr().expect("addr"));
        let req = AnnounceRequest::example();
        let err =
            Client::new().announce(&url, &req, Duration::from_millis(300)).expect_err("silent");
        assert!(matches!(err, TrackerError::NoReply { attempts: 1.., .. }), "{err}");
    }
}
