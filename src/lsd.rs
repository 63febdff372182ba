//! Local service discovery (BEP 14): finding peers of a torrent on the local network by
//! UDP multicast, with no tracker and no DHT.
//!
//! One thread (`mt-lsd`) owns the multicast sockets: it announces each torrent it follows
//! ([`Lsd::track`]) to 239.192.152.143:6771 at once and every [`REANNOUNCE`], and hands the
//! peers others announce for those torrents to the torrent's callback. It also answers a
//! newcomer with an announce of its own (at most once per [`REPLY_GAP`] per torrent), so a
//! peer that starts later learns of us without waiting out the interval. An announce that no
//! group could send (the network not up yet) is tried again after [`SEND_RETRY`], not after
//! the whole interval. IPv4 is used when
//! we listen on an IPv4 address or on `[::]`, and the IPv6 group `[ff15::efc0:988f]:6771` when
//! we listen on IPv6: an announce tells others to reach us at its source address, so it goes
//! only where we listen. The IPv6 group is joined and sent to on the interface of the address
//! we listen on ([`interfaces`]; with `[::]`, the kernel's pick, else the first interface
//! with IPv6 that can join it). An IPv6 group that cannot be joined or sent to is a debug
//! line only when IPv4 is used too, and an error when it is all there is.
//!
//! Several processes on one host share port 6771 (`SO_REUSEADDR` and `SO_REUSEPORT`, set
//! before bind), and every one of them receives each announce; our own come back through
//! multicast loopback and are known by their cookie, random per [`Lsd`]. What others can
//! make us hold is bounded: announces are rate-limited per source address
//! ([`PER_SOURCE`] a minute, at most [`MAX_SOURCES`] sources tracked), malformed datagrams
//! are dropped ([`message`]), and each torrent remembers at most [`MAX_HEARD`] peers. The
//! caller decides what not to announce: never a private torrent (BEP 27).

pub mod interfaces;
pub mod message;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use rustix::net::{AddressFamily, SocketType, sockopt};

pub use message::{Announce, AnnounceError};

use crate::types::InfoHash;
use crate::worker::Worker;

/// The IPv4 multicast group.
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(239, 192, 152, 143);
/// The IPv6 multicast group.
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff15, 0, 0, 0, 0, 0, 0xefc0, 0x988f);
/// The port of both groups.
pub const PORT: u16 = 6771;
/// How often each torrent is announced.
pub const REANNOUNCE: Duration = Duration::from_secs(5 * 60);
/// How soon an announce that went nowhere (every group's send failed, as on a link that is
/// not up yet) is tried again.
pub const SEND_RETRY: Duration = Duration::from_secs(3);
/// Least time between two announces a torrent makes to answer newcomers.
pub const REPLY_GAP: Duration = Duration::from_secs(60);
/// Announces taken from one source address a minute; more are dropped.
pub const PER_SOURCE: u32 = 20;
/// Most source addresses rate-limited at once.
pub const MAX_SOURCES: usize = 256;
/// Most peers a torrent remembers having heard of (to know newcomers).
pub const MAX_HEARD: usize = 256;
/// How often the thread looks at its commands and timers while nothing arrives.
const POLL: Duration = Duration::from_millis(100);
/// The rate limit's window.
const MINUTE: Duration = Duration::from_secs(60);

/// Whether local discovery has a network to announce to for peers listening at `listen`: not
/// when that is a loopback address, which no other host can reach.
pub fn fits(listen: SocketAddr) -> bool {
    !listen.ip().is_loopback()
}

/// What the service needs besides the listen address.
pub struct LsdConfig {
    /// Told of problems the service survives (a group that cannot be sent to).
    pub warn: Box<dyn Fn(String) + Send>,
    /// Told of what is worth a line only when debugging (no IPv6 multicast here).
    pub debug: Box<dyn Fn(String) + Send>,
}

type PeerSink = Box<dyn FnMut(Vec<SocketAddr>) + Send>;

enum Command {
    Track { info_hash: InfoHash, sink: PeerSink },
}

/// A running service.
pub struct Lsd {
    /// First, so that dropping the service stops the thread while it can still be told things.
    worker: Worker,
    commands: Sender<Command>,
}

impl Lsd {
    /// Joins the groups that fit `listen` (our peer listen address: its port is announced)
    /// and starts the thread. An error when no group could be joined.
    pub fn start(listen: SocketAddr, config: LsdConfig) -> std::io::Result<Lsd> {
        let mut sockets = Vec::new();
        let mut first_error = None;
        let use_v4 = listen.is_ipv4() || listen.ip().is_unspecified();
        if use_v4 {
            let iface = match listen.ip() {
                IpAddr::V4(ip) => ip,
                IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
            };
            match bind_v4(iface) {
                Ok(socket) => sockets.push(Group::v4(socket)),
                Err(e) => first_error = Some(e),
            }
        }
        if let IpAddr::V6(ip) = listen.ip() {
            match bind_v6(ip) {
                Ok(socket) => sockets.push(Group::v6(socket)),
                Err(e) if use_v4 => (config.debug)(format!("lsd: no ipv6 multicast: {e}")),
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        if sockets.is_empty() {
            return Err(first_error.unwrap_or_else(|| std::io::Error::other("no group")));
        }
        let (commands, command_rx) = crossbeam_channel::unbounded();
        let service = Service {
            port: listen.port(),
            cookie: format!("mt{:08x}", fastrand::u32(..)),
            groups: sockets,
            torrents: Vec::new(),
            limit: HashMap::new(),
            config,
        };
        let worker = Worker::spawn("mt-lsd", move |stop| service.run(&command_rx, stop))?;
        Ok(Lsd { worker, commands })
    }

    /// Announces `info_hash` now and again, and calls `sink` with the peers others announce
    /// for it.
    pub fn track(&self, info_hash: InfoHash, sink: impl FnMut(Vec<SocketAddr>) + Send + 'static) {
        let _ = self.commands.send(Command::Track { info_hash, sink: Box::new(sink) });
    }

    /// Stops the service.
    pub fn stop(mut self) {
        self.worker.stop();
    }
}

/// A socket joined to one group.
struct Group {
    socket: UdpSocket,
    to: SocketAddr,
    host: String,
    /// Whether a failed send is worth a warning (IPv4) or a debug line (IPv6).
    warn: bool,
    /// A send failure was reported already.
    reported: bool,
}

impl Group {
    fn v4(socket: UdpSocket) -> Group {
        let to = SocketAddr::from((GROUP_V4, PORT));
        Group { socket, to, host: to.to_string(), warn: true, reported: false }
    }

    fn v6(socket: UdpSocket) -> Group {
        let to = SocketAddr::from((GROUP_V6, PORT));
        Group { socket, to, host: to.to_string(), warn: false, reported: false }
    }
}

/// A socket on port 6771 that others may share, joined to the IPv4 group on `iface` (any
/// interface the routes pick when unspecified).
fn bind_v4(iface: Ipv4Addr) -> std::io::Result<UdpSocket> {
    let fd = rustix::net::socket(AddressFamily::INET, SocketType::DGRAM, None)?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    sockopt::set_socket_reuseport(&fd, true)?;
    rustix::net::bind(&fd, &SocketAddr::from((Ipv4Addr::UNSPECIFIED, PORT)))?;
    let socket = UdpSocket::from(fd);
    socket.join_multicast_v4(&GROUP_V4, &iface)?;
    if !iface.is_unspecified() {
        sockopt::set_ip_multicast_if(&socket, &iface)?;
    }
    socket.set_multicast_loop_v4(true)?;
    socket.set_read_timeout(Some(POLL / 2))?;
    Ok(socket)
}

/// The same for the IPv6 group, on the interface that holds `listen` (with `[::]`, the
/// kernel's pick, else the first interface with IPv6 that can join).
fn bind_v6(listen: Ipv6Addr) -> std::io::Result<UdpSocket> {
    let fd = rustix::net::socket(AddressFamily::INET6, SocketType::DGRAM, None)?;
    sockopt::set_ipv6_v6only(&fd, true)?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    sockopt::set_socket_reuseport(&fd, true)?;
    rustix::net::bind(&fd, &SocketAddr::from((Ipv6Addr::UNSPECIFIED, PORT)))?;
    let socket = UdpSocket::from(fd);
    let tries: Vec<u32> = match interfaces::index_of(&listen) {
        Some(index) if !listen.is_unspecified() => vec![index],
        _ => std::iter::once(0).chain(interfaces::with_ipv6()).collect(),
    };
    let mut joined = Err(std::io::Error::other("no interface has ipv6"));
    for index in tries {
        joined = socket.join_multicast_v6(&GROUP_V6, index).map(|()| index);
        if joined.is_ok() {
            break;
        }
    }
    let index = joined?;
    if index != 0 {
        sockopt::set_ipv6_multicast_if(&socket, index)?;
    }
    socket.set_multicast_loop_v6(true)?;
    socket.set_read_timeout(Some(POLL / 2))?;
    Ok(socket)
}

/// A torrent followed.
struct Torrent {
    info_hash: InfoHash,
    sink: PeerSink,
    next_announce: Instant,
    last_reply: Option<Instant>,
    /// Peers heard of, and when last.
    heard: HashMap<SocketAddr, Instant>,
}

/// The thread's state.
struct Service {
    port: u16,
    cookie: String,
    groups: Vec<Group>,
    torrents: Vec<Torrent>,
    /// Per source address: the start of its window and the announces taken in it.
    limit: HashMap<IpAddr, (Instant, u32)>,
    config: LsdConfig,
}

impl Service {
    fn run(mut self, commands: &Receiver<Command>, shutdown: &AtomicBool) {
        let mut buffer = vec![0u8; message::MAX_DATAGRAM + 1];
        while !shutdown.load(Ordering::Acquire) {
            for command in commands.try_iter() {
                match command {
                    Command::Track { info_hash, sink } => self.torrents.push(Torrent {
                        info_hash,
                        sink,
                        next_announce: Instant::now(),
                        last_reply: None,
                        heard: HashMap::new(),
                    }),
                }
            }
            self.announce_due(Instant::now());
            for index in 0..self.groups.len() {
                // Each read waits at most half a poll, so the loop comes round every poll.
                let Ok((len, from)) = self.groups[index].socket.recv_from(&mut buffer) else {
                    continue;
                };
                if let Some(datagram) = buffer.get(..len) {
                    self.receive(datagram, from, Instant::now());
                }
            }
        }
    }

    /// Sends one announce of every torrent due, in as few datagrams as fit.
    fn announce_due(&mut self, now: Instant) {
        let due: Vec<InfoHash> = self
            .torrents
            .iter_mut()
            .filter(|t| t.next_announce <= now)
            .map(|t| {
                t.next_announce = now + REANNOUNCE;
                t.info_hash
            })
            .collect();
        if due.is_empty() {
            return;
        }
        let announce =
            Announce { port: self.port, info_hashes: due, cookie: Some(self.cookie.clone()) };
        let mut sent = false;
        for group in &mut self.groups {
            for datagram in announce.encode(&group.host) {
                match group.socket.send_to(&datagram, group.to) {
                    Ok(_) => sent = true,
                    Err(e) => {
                        let line = format!("lsd: cannot announce to {}: {e}", group.to);
                        match (group.warn, group.reported) {
                            (true, false) => (self.config.warn)(line),
                            (false, false) => (self.config.debug)(line),
                            _ => {}
                        }
                        group.reported = true;
                    }
                }
            }
        }
        if !sent {
            for torrent in &mut self.torrents {
                if announce.info_hashes.contains(&torrent.info_hash) {
                    torrent.next_announce = now + SEND_RETRY;
                }
            }
        }
    }

    /// Takes in one datagram from `from`.
    fn receive(&mut self, datagram: &[u8], from: SocketAddr, now: Instant) {
        if !allow(&mut self.limit, from.ip(), now) {
            return;
        }
        let Ok(announce) = Announce::decode(datagram) else { return };
        if announce.cookie.as_deref() == Some(self.cookie.as_str()) {
            return;
        }
        let peer = SocketAddr::new(from.ip(), announce.port);
        for torrent in &mut self.torrents {
            if !announce.info_hashes.contains(&torrent.info_hash) {
                continue;
            }
            let known =
                torrent.heard.get(&peer).is_some_and(|at| now.duration_since(*at) < REANNOUNCE);
            if torrent.heard.len() >= MAX_HEARD && !torrent.heard.contains_key(&peer) {
                torrent.heard.retain(|_, at| now.duration_since(*at) < REANNOUNCE);
                if torrent.heard.len() >= MAX_HEARD {
                    torrent.heard.clear();
                }
            }
            torrent.heard.insert(peer, now);
            (torrent.sink)(vec![peer]);
            if !known && torrent.last_reply.is_none_or(|at| now.duration_since(at) >= REPLY_GAP) {
                torrent.last_reply = Some(now);
                torrent.next_announce = now;
            }
        }
    }
}

/// True when an announce from `ip` may be taken now (and counts it): at most [`PER_SOURCE`]
/// a minute, with at most [`MAX_SOURCES`] addresses tracked (past that, expired windows are
/// forgotten, and if none has, the table starts again).
fn allow(limit: &mut HashMap<IpAddr, (Instant, u32)>, ip: IpAddr, now: Instant) -> bool {
    if !limit.contains_key(&ip) && limit.len() >= MAX_SOURCES {
        limit.retain(|_, (start, _)| now.duration_since(*start) < MINUTE);
        if limit.len() >= MAX_SOURCES {
            limit.clear();
        }
    }
    let (start, count) = limit.entry(ip).or_insert((now, 0));
    if now.duration_since(*start) >= MINUTE {
        *start = now;
        *count = 0;
    }
    *count += 1;
    *count <= PER_SOURCE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> (Service, Receiver<Vec<SocketAddr>>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut service = Service {
            port: 6881,
            cookie: "ours".into(),
            groups: Vec::new(),
            torrents: Vec::new(),
            limit: HashMap::new(),
            config: LsdConfig { warn: Box::new(|_| {}), debug: Box::new(|_| {}) },
        };
        let later = Instant::now() + REANNOUNCE;
        service.torrents.push(Torrent {
            info_hash: InfoHash([1; 20]),
            sink: Box::new(move |peers| {
                let _ = tx.send(peers);
            }),
            next_announce: later,
            last_reply: None,
            heard: HashMap::new(),
        });
        (service, rx)
    }

    fn datagram(hash: u8, port: u16, cookie: &str) -> Vec<u8> {
        let announce =
            Announce { port, info_hashes: vec![InfoHash([hash; 20])], cookie: Some(cookie.into()) };
        announce.encode("239.192.152.143:6771").remove(0)
    }

    const FROM: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 6771);

    #[test]
    fn peers_of_followed_torrents_are_handed_on_and_our_own_ignored() {
        let (mut service, peers) = service();
        let now = Instant::now();
        service.receive(&datagram(1, 51413, "ours"), FROM, now);
        service.receive(&datagram(2, 51413, "theirs"), FROM, now);
        service.receive(b"garbage", FROM, now);
        assert!(peers.try_recv().is_err(), "our own, another torrent's and garbage give none");
        service.receive(&datagram(1, 51413, "theirs"), FROM, now);
        let want = SocketAddr::new(FROM.ip(), 51413);
        assert_eq!(peers.try_recv().ok(), Some(vec![want]));
        assert!(service.torrents[0].next_announce <= now, "a newcomer is answered");
    }

    #[test]
    fn only_addresses_other_hosts_can_reach_are_announced() {
        assert!(!fits(SocketAddr::from(([127, 0, 0, 1], 6881))));
        assert!(!fits(SocketAddr::from((Ipv6Addr::LOCALHOST, 6881))));
        assert!(fits(SocketAddr::from(([0, 0, 0, 0], 6881))));
        assert!(fits(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 6881))));
        assert!(fits(SocketAddr::from(([10, 0, 0, 1], 6881))));
    }

    #[test]
    fn an_announce_that_went_nowhere_is_tried_again_soon() {
        // No group at all: nothing can be sent, as when every send fails.
        let (mut service, _peers) = service();
        let now = Instant::now();
        service.torrents[0].next_announce = now;
        service.announce_due(now);
        assert_eq!(service.torrents[0].next_announce, now + SEND_RETRY);
    }

    #[test]
    fn a_newcomer_is_answered_at_most_once_per_gap() {
        let (mut service, _peers) = service();
        let now = Instant::now();
        service.receive(&datagram(1, 1000, "a"), FROM, now);
        service.torrents[0].next_announce = now + REANNOUNCE;
        service.receive(&datagram(1, 1001, "b"), FROM, now + Duration::from_secs(1));
        assert!(service.torrents[0].next_announce > now + Duration::from_secs(1));
    }

    #[test]
    fn each_source_is_rate_limited_and_the_sources_bounded() {
        let (mut service, peers) = service();
        let now = Instant::now();
        for _ in 0..PER_SOURCE * 3 {
            service.receive(&datagram(1, 51413, "theirs"), FROM, now);
        }
        assert_eq!(peers.try_iter().count(), usize::try_from(PER_SOURCE).unwrap_or(0));
        for n in 0..2000u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n));
            service.receive(b"x", SocketAddr::new(ip, 6771), now);
            assert!(service.limit.len() <= MAX_SOURCES);
        }
        for n in 0..2000u16 {
            let [high, low] = n.to_be_bytes();
            let ip = IpAddr::V4(Ipv4Addr::new(10, 1, high, low));
            service.limit.clear();
            service.receive(&datagram(1, n.max(1), "theirs"), SocketAddr::new(ip, 6771), now);
            assert!(service.torrents[0].heard.len() <= MAX_HEARD);
        }
    }
}
