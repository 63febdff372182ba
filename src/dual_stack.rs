//! Dual-stack sockets: binding `[::]` so one socket serves IPv6 and IPv4 peers, and the one
//! way peer addresses are normalised.
//!
//! A socket bound to the unspecified IPv6 address with `IPV6_V6ONLY` off receives IPv4
//! traffic too, from v4-mapped addresses (`::ffff:a.b.c.d`). Such an address names an IPv4
//! peer: [`canonical`] turns it back into the IPv4 form, and every place that stores,
//! compares, shows or passes on a peer address uses that form, so the same peer never
//! counts twice. Sending to an IPv4 address from an IPv6 socket needs the mapped form again:
//! [`for_socket`] gives it.
//!
//! `IPV6_V6ONLY` is set explicitly before `bind` (through `rustix`), so the result does not
//! depend on the system's `net.ipv6.bindv6only` default. Binding an IPv6 address where the
//! machine has no IPv6 fails like any other bind; callers that listen by default fall back to
//! `0.0.0.0` when [`no_ipv6`] says so.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};

use rustix::net::{AddressFamily, SocketFlags, SocketType, sockopt};

/// Connections waiting to be accepted, as the standard library's `TcpListener::bind` asks.
const BACKLOG: i32 = 128;

/// The address every family listens on by default: `[::]`, dual-stack.
pub const UNSPECIFIED: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

/// `addr` with a v4-mapped IPv6 address turned back into IPv4; other addresses unchanged.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// The form of `to` a socket bound to `local` can send to: an IPv4 address is mapped into
/// IPv6 for an IPv6 socket.
pub fn for_socket(local: SocketAddr, to: SocketAddr) -> SocketAddr {
    match (local, to.ip()) {
        (SocketAddr::V6(_), IpAddr::V4(ip)) => {
            SocketAddr::new(ip.to_ipv6_mapped().into(), to.port())
        }
        _ => to,
    }
}

/// True for a socket bound to `[::]`, which (bound here) also carries IPv4.
pub fn is_dual_stack(local: SocketAddr) -> bool {
    local.is_ipv6() && local.ip().is_unspecified()
}

/// The IPv4 address to use instead of `ip` when the machine has no IPv6: `0.0.0.0` for
/// `[::]`, nothing for any other address.
pub fn ipv4_fallback(ip: IpAddr) -> Option<IpAddr> {
    (ip == UNSPECIFIED).then_some(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// True when a bind failed because the machine cannot use IPv6 at all (no IPv6 support, or
/// no such address), not because the port is taken.
pub fn no_ipv6(err: &io::Error) -> bool {
    let code = err.raw_os_error();
    [libc::EAFNOSUPPORT, libc::EADDRNOTAVAIL, libc::EPROTONOSUPPORT]
        .iter()
        .any(|&c| code == Some(c))
}

/// Binds a TCP listener on `addr`; an IPv6 address is bound with `IPV6_V6ONLY` off, so
/// `[::]` accepts IPv4 connections too.
pub fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    if addr.is_ipv4() {
        return TcpListener::bind(addr);
    }
    let fd = rustix::net::socket_with(
        AddressFamily::INET6,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    sockopt::set_ipv6_v6only(&fd, false)?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    rustix::net::bind(&fd, &addr)?;
    rustix::net::listen(&fd, BACKLOG)?;
    Ok(TcpListener::from(fd))
}

/// Binds a UDP socket on `addr`; an IPv6 address is bound with `IPV6_V6ONLY` off.
pub fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    if addr.is_ipv4() {
        return UdpSocket::bind(addr);
    }
    let fd = rustix::net::socket_with(
        AddressFamily::INET6,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    sockopt::set_ipv6_v6only(&fd, false)?;
    rustix::net::bind(&fd, &addr)?;
    Ok(UdpSocket::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    #[test]
    fn mapped_addresses_become_ipv4() {
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:6881".parse().expect("mapped");
        assert_eq!(canonical(mapped), "10.0.0.1:6881".parse().expect("v4"));
        let v6: SocketAddr = "[2001:db8::1]:80".parse().expect("v6");
        assert_eq!(canonical(v6), v6);
        let v4: SocketAddr = "10.0.0.1:1".parse().expect("v4");
        assert_eq!(
            for_socket("[::]:7".parse().expect("local"), v4),
            "[::ffff:10.0.0.1]:1".parse().expect("m")
        );
        assert_eq!(for_socket("0.0.0.0:7".parse().expect("local"), v4), v4);
    }

    #[test]
    fn only_a_missing_ipv6_falls_back_to_ipv4() {
        let missing = io::Error::from_raw_os_error(libc::EAFNOSUPPORT);
        assert!(no_ipv6(&missing));
        assert!(!no_ipv6(&io::Error::from_raw_os_error(libc::EADDRINUSE)));
        assert_eq!(ipv4_fallback(UNSPECIFIED), Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        assert_eq!(ipv4_fallback(IpAddr::V6(Ipv6Addr::LOCALHOST)), None);
    }

    #[test]
    fn the_unspecified_ipv6_address_takes_ipv4_connections() {
        let listener = match bind_tcp(SocketAddr::new(UNSPECIFIED, 0)) {
            Ok(listener) => listener,
            Err(err) if no_ipv6(&err) => return, // this machine has no IPv6
            Err(err) => panic!("bind [::]: {err}"),
        };
        let port = listener.local_addr().expect("local address").port();
        let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connect over IPv4");
        let (mut accepted, from) = listener.accept().expect("accept");
        assert!(matches!(from.ip(), IpAddr::V6(ip) if ip.to_ipv4_mapped().is_some()), "{from}");
        assert_eq!(canonical(from).ip(), IpAddr::from([127, 0, 0, 1]));
        client.write_all(b"x").expect("write");
        let mut byte = [0u8];
        accepted.read_exact(&mut byte).expect("read");
        let udp = bind_udp(SocketAddr::new(UNSPECIFIED, 0)).expect("bind udp [::]");
        let to = udp.local_addr().expect("udp address");
        let sender = UdpSocket::bind("127.0.0.1:0").expect("bind v4 sender");
        sender.send_to(b"y", ("127.0.0.1", to.port())).expect("send over IPv4");
        let mut buf = [0u8; 4];
        let (_, from) = udp.recv_from(&mut buf).expect("receive");
        assert_eq!(canonical(from), sender.local_addr().expect("sender address"));
        udp.send_to(b"z", for_socket(to, canonical(from))).expect("answer over IPv4");
        sender.recv_from(&mut buf).expect("the answer");
    }
}
