//! The tracker's HTTP endpoint: `/announce` (BEP 3 with BEP 23 compact and BEP 7 `peers6`
//! replies) and `/scrape` (BEP 48), one request per connection.
//!
//! The accept loop waits on a non-blocking listener with a timeout so it sees shutdown, and
//! queues each connection for a pool of at most [`MAX_HTTP_CONNECTIONS`] worker threads; a
//! connection that finds the queue full is closed unanswered. A request head must arrive within [`HTTP_REQUEST_TIMEOUT`] and fit in
//! [`MAX_HEAD`] bytes. Every reply body is bencode; refusals are a `failure reason`, with
//! status 200 for tracker-level refusals (what BEP 3 clients expect) and a 4xx status for
//! requests that are not tracker requests at all. The `ip` parameter is ignored: peers are
//! recorded at the address they connect from.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};

use super::swarm::{Family, PeerAnnounce};
use super::{
    DEFAULT_NUMWANT, HTTP_REQUEST_TIMEOUT, MAX_HTTP_CONNECTIONS, MAX_NUMWANT, POLL, Tracker,
};
use crate::bencode::{Value, dict};
use crate::tracker::announce::{TrackerEvent, encode_compact};
use crate::types::{InfoHash, PeerId};

/// Largest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 8192;
/// How long the accept loop pauses after an accept error (out of descriptors, say).
const ACCEPT_IDLE: Duration = Duration::from_millis(20);

/// Accepts connections until `shutdown` is set and hands them to a pool of scoped workers.
///
/// A worker is started only when none is idle, up to [`MAX_HTTP_CONNECTIONS`]; workers live
/// until shutdown, so a busy tracker pays for thread creation once rather than per request.
/// At most [`MAX_HTTP_CONNECTIONS`] accepted connections wait for a worker; further ones are
/// closed at once.
pub fn serve<'scope, 'env>(
    scope: &'scope thread::Scope<'scope, 'env>,
    listener: &'env TcpListener,
    tracker: &'env Tracker,
    shutdown: &'env AtomicBool,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let (queue, work) = crossbeam_channel::bounded::<(TcpStream, SocketAddr)>(MAX_HTTP_CONNECTIONS);
    let idle = Arc::new(AtomicUsize::new(0));
    let mut workers = 0;
    while !shutdown.load(Ordering::Relaxed) {
        let accepted = match listener.accept() {
            Ok(accepted) => accepted,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                wait_for_connection(listener, POLL);
                continue;
            }
            // Out of descriptors for a moment: try again shortly.
            Err(_) => {
                thread::sleep(ACCEPT_IDLE);
                continue;
            }
        };
        if idle.load(Ordering::SeqCst) == 0 && workers < MAX_HTTP_CONNECTIONS {
            let (work, idle) = (work.clone(), Arc::clone(&idle));
            let spawned = thread::Builder::new()
                .name("tracker-http".into())
                .spawn_scoped(scope, move || worker(&work, &idle, tracker, shutdown));
            // Without a new thread the existing workers carry on.
            workers += usize::from(spawned.is_ok());
        }
        // A full queue (or no worker at all) closes the connection unanswered.
        drop(queue.try_send(accepted));
    }
    // Dropping the sender ends every idle worker's wait.
    Ok(())
}

/// Serves queued connections one at a time until the queue is closed.
fn worker(
    work: &crossbeam_channel::Receiver<(TcpStream, SocketAddr)>,
    idle: &AtomicUsize,
    tracker: &Tracker,
    shutdown: &AtomicBool,
) {
    loop {
        idle.fetch_add(1, Ordering::SeqCst);
        let next = work.recv();
        idle.fetch_sub(1, Ordering::SeqCst);
        let Ok((stream, peer)) = next else { return };
        // A connection that fails mid-way concerns only that client.
        let _ = serve_connection(stream, peer, tracker, shutdown);
    }
}

/// Blocks until a connection is waiting on `listener` or `timeout` has passed.
fn wait_for_connection(listener: &TcpListener, timeout: Duration) {
    let mut fds = [PollFd::new(listener, PollFlags::IN)];
    let timeout = Timespec::try_from(timeout).unwrap_or(Timespec { tv_sec: 0, tv_nsec: 0 });
    if rustix::event::poll(&mut fds, Some(&timeout)).is_err() {
        // poll itself failed (EINTR, ENOMEM): do not spin.
        thread::sleep(ACCEPT_IDLE);
    }
}

/// What arrived on a connection before the deadline.
enum Head {
    Complete(Vec<u8>),
    TooLarge,
    Abandoned,
}

fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    tracker: &Tracker,
    shutdown: &AtomicBool,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(POLL))?;
    stream.set_write_timeout(Some(HTTP_REQUEST_TIMEOUT))?;
    let (status, body) = match read_head(&mut stream, shutdown)? {
        Head::Complete(head) => handle_request(tracker, &head, peer.ip()),
        Head::TooLarge => (414, failure("request is too large")),
        Head::Abandoned => return Ok(()),
    };
    stream.write_all(&http_response(status, &body))?;
    stream.shutdown(Shutdown::Write)?;
    // Drain what the client still sends so closing does not reset the reply away.
    let deadline = Instant::now() + POLL;
    let mut sink = [0u8; 4096];
    while Instant::now() < deadline && matches!(stream.read(&mut sink), Ok(1..)) {}
    Ok(())
}

fn read_head(stream: &mut TcpStream, shutdown: &AtomicBool) -> io::Result<Head> {
    let deadline = Instant::now() + HTTP_REQUEST_TIMEOUT;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(end) = find_head_end(&head) {
            head.truncate(end);
            return Ok(Head::Complete(head));
        }
        if head.len() > MAX_HEAD {
            return Ok(Head::TooLarge);
        }
        if shutdown.load(Ordering::Relaxed) || Instant::now() >= deadline {
            return Ok(Head::Abandoned);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(Head::Abandoned),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(err) => return Err(err),
        }
    }
}

/// Where the head ends: after the first blank line (`\r\n\r\n`, or `\n\n` from sloppy clients).
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|at| at + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn http_response(status: u16, body: &[u8]) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        414 => "URI Too Long",
        _ => "Error",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A bencoded `failure reason` body.
pub fn failure(reason: &str) -> Vec<u8> {
    dict([("failure reason", Value::bytes(reason))]).encode()
}

/// The status and bencoded body for one request head from `ip`.
pub fn handle_request(tracker: &Tracker, head: &[u8], ip: IpAddr) -> (u16, Vec<u8>) {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(_version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return (400, failure("malformed request line"));
    };
    if method != b"GET" {
        return (405, failure("only GET is supported"));
    }
    let (path, query) = match target.iter().position(|&b| b == b'?') {
        Some(at) => (&target[..at], &target[at + 1..]),
        None => (target, &b""[..]),
    };
    let Some(params) = parse_query(query) else {
        return (200, failure("malformed query string"));
    };
    let body = match path {
        b"/announce" => announce(tracker, &params, ip),
        b"/scrape" => scrape(tracker, &params),
        _ => return (404, failure("unknown path; use /announce or /scrape")),
    };
    (200, body.unwrap_or_else(|reason| failure(&reason)))
}

/// Decoded `key=value` pairs in order; `None` for a bad percent escape.
pub fn parse_query(query: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    query
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &b""[..]),
            };
            Some((percent_decode(key)?, percent_decode(value)?))
        })
        .collect()
}

fn percent_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let digits = tail.get(..2)?;
            if !digits.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(digits).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            out.push(byte);
            rest = tail;
        }
    }
    Some(out)
}

/// The last value given for `key`.
fn param<'a>(params: &'a [(Vec<u8>, Vec<u8>)], key: &str) -> Option<&'a [u8]> {
    params.iter().rev().find(|(k, _)| k == key.as_bytes()).map(|(_, v)| v.as_slice())
}

/// An optional unsigned number parameter; an unparsable one is an error naming the field.
fn number<T: std::str::FromStr>(
    params: &[(Vec<u8>, Vec<u8>)],
    key: &str,
) -> Result<Option<T>, String> {
    match param(params, key) {
        None => Ok(None),
        Some(text) => std::str::from_utf8(text)
            .ok()
            .and_then(|text| text.parse().ok())
            .map(Some)
            .ok_or_else(|| format!("invalid {key}")),
    }
}

fn twenty_bytes(params: &[(Vec<u8>, Vec<u8>)], key: &str) -> Result<[u8; 20], String> {
    let value = param(params, key).ok_or_else(|| format!("missing {key}"))?;
    value.try_into().map_err(|_| format!("invalid {key}: must be 20 bytes, got {}", value.len()))
}

fn announce(
    tracker: &Tracker,
    params: &[(Vec<u8>, Vec<u8>)],
    ip: IpAddr,
) -> Result<Vec<u8>, String> {
    let info_hash = InfoHash(twenty_bytes(params, "info_hash")?);
    let peer_id = PeerId(twenty_bytes(params, "peer_id")?);
    let port: u16 = number(params, "port")?.ok_or("missing port")?;
    if port == 0 {
        return Err("invalid port".into());
    }
    let left: u64 = number(params, "left")?.unwrap_or(u64::MAX);
    number::<u64>(params, "uploaded")?;
    number::<u64>(params, "downloaded")?;
    let numwant: Option<usize> = number(params, "numwant")?;
    let event = TrackerEvent::parse(param(params, "event").unwrap_or_default())
        .map_err(|()| "invalid event".to_string())?;
    let compact = param(params, "compact") != Some(b"0");
    let with_ids = param(params, "no_peer_id") != Some(b"1");

    let req = PeerAnnounce {
        info_hash,
        peer_id,
        addr: SocketAddr::new(ip.to_canonical(), port),
        left,
        event,
        numwant: numwant.unwrap_or(DEFAULT_NUMWANT).min(MAX_NUMWANT),
        family: Family::Any,
    };
    let reply = tracker.announce(&req).map_err(|refusal| refusal.message().to_string())?;
    let mut body = vec![
        ("interval", Value::Int(i64::from(tracker.interval_secs()))),
        ("min interval", Value::Int(i64::from(tracker.min_interval_secs()))),
        ("complete", Value::Int(i64::from(reply.stats.complete))),
        ("incomplete", Value::Int(i64::from(reply.stats.incomplete))),
    ];
    if compact {
        let addrs: Vec<SocketAddr> = reply.peers.iter().map(|(addr, _)| *addr).collect();
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        encode_compact(&addrs, &mut v4, &mut v6);
        body.push(("peers", Value::Bytes(v4)));
        if !v6.is_empty() {
            body.push(("peers6", Value::Bytes(v6)));
        }
    } else {
        let peers = reply.peers.iter().map(|(addr, id)| {
            let mut entry = vec![
                ("ip", Value::bytes(addr.ip().to_string())),
                ("port", Value::Int(i64::from(addr.port()))),
            ];
            if with_ids {
                entry.push(("peer id", Value::bytes(id.0)));
            }
            dict(entry)
        });
        body.push(("peers", Value::List(peers.collect())));
    }
    Ok(dict(body).encode())
}

fn scrape(tracker: &Tracker, params: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<u8>, String> {
    let mut hashes = Vec::new();
    for (key, value) in params.iter().filter(|(key, _)| key == b"info_hash") {
        let hash: [u8; 20] = value.as_slice().try_into().map_err(|_| {
            format!(
                "invalid {}: must be 20 bytes, got {}",
                String::from_utf8_lossy(key),
                value.len()
            )
        })?;
        hashes.push(InfoHash(hash));
    }
    if hashes.is_empty() {
        return Err("missing info_hash (full scrapes are not served)".into());
    }
    let files = hashes.iter().zip(tracker.scrape(&hashes)).filter_map(|(hash, stats)| {
        let stats = stats?;
        let counts = dict([
            ("complete", Value::Int(i64::from(stats.complete))),
            ("downloaded", Value::Int(i64::from(stats.downloaded))),
            ("incomplete", Value::Int(i64::from(stats.incomplete))),
        ]);
        Some((hash.0.to_vec(), counts))
    });
    Ok(dict([("files", Value::Dict(files.collect()))]).encode())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::server::ServerConfig;

    #[test]
    fn queries_decode_binary_values() {
        let params = parse_query(b"info_hash=%00%FFab&flag&x=").expect("valid");
        assert_eq!(params[0], (b"info_hash".to_vec(), vec![0, 0xff, b'a', b'b']));
        assert_eq!(params[1], (b"flag".to_vec(), vec![]));
        assert_eq!(parse_query(b"a=%G0"), None);
        assert_eq!(parse_query(b"a=%0"), None);
    }

    #[test]
    fn head_ends_at_the_first_blank_line() {
        assert_eq!(find_head_end(b"GET / HTTP/1.0\r\n\r\nbody"), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.0\n\n"), Some(16));
        assert_eq!(find_head_end(b"GET / HTTP/1.0\r\n"), None);
    }

    #[test]
    fn ipv6_peers_arrive_in_peers6() {
        let tracker = Tracker::new(&ServerConfig::default());
        let target = |n: u8| {
            let hash = crate::types::url_encode(&[1; 20]);
            format!(
                "GET /announce?info_hash={hash}&peer_id={}&port=80 HTTP/1.1\r\n\r\n",
                "p".repeat(19) + &n.to_string()
            )
        };
        let v6 = IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
        handle_request(&tracker, target(1).as_bytes(), v6);
        let (_, body) = handle_request(&tracker, target(2).as_bytes(), IpAddr::from([10, 0, 0, 2]));
        let mut expected = b"5:peers0:6:peers618:".to_vec();
        expected.extend_from_slice(&[
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 80,
        ]);
        expected.push(b'e');
        assert!(body.ends_with(&expected), "{}", String::from_utf8_lossy(&body));
    }

    #[test]
    fn bad_request_lines_are_refused() {
        let tracker = Tracker::new(&ServerConfig::default());
        let ip = IpAddr::from([127, 0, 0, 1]);
        assert_eq!(handle_request(&tracker, b"\r\n\r\n", ip).0, 400);
        assert_eq!(handle_request(&tracker, b"POST /announce HTTP/1.1\r\n\r\n", ip).0, 405);
        assert_eq!(handle_request(&tracker, b"GET /x HTTP/1.1\r\n\r\n", ip).0, 404);
        let (status, body) = handle_request(&tracker, b"GET /announce?port=1 HTTP/1.1\r\n\r\n", ip);
        assert_eq!((status, body), (200, failure("missing info_hash")));
    }
}
