//! The announce itself, independent of transport: the request a client sends, the reply it
//! gets, the event it reports, and the compact peer formats of BEP 23 (IPv4, 6 bytes a peer)
//! and BEP 7 (IPv6, 18 bytes a peer), which HTTP and UDP trackers share.
//!
//! Decoding a compact list never fails halfway: a list whose length is not a multiple of the
//! entry size is rejected whole, so a truncated reply cannot yield a half-parsed peer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::Duration;

use crate::types::{InfoHash, PeerId};

/// Bytes of one IPv4 peer in a compact list: 4 address bytes and a big-endian port.
pub const COMPACT_V4_LEN: usize = 6;
/// Bytes of one IPv6 peer in a compact list: 16 address bytes and a big-endian port.
pub const COMPACT_V6_LEN: usize = 18;

/// What a client tells a tracker about itself and one torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// The torrent.
    pub info_hash: InfoHash,
    /// Our peer id.
    pub peer_id: PeerId,
    /// The TCP port we accept peers on.
    pub port: u16,
    /// Bytes sent to peers since the `started` event.
    pub uploaded: u64,
    /// Bytes received from peers since the `started` event.
    pub downloaded: u64,
    /// Bytes we still need; zero makes us a seeder.
    pub left: u64,
    /// `None` for a regular, periodic announce.
    pub event: Option<TrackerEvent>,
    /// How many peers we would like; `None` lets the tracker choose.
    pub numwant: Option<u32>,
}

/// The events of BEP 3. A periodic announce has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrackerEvent {
    /// The first announce of a download.
    Started,
    /// The download just finished (not sent when starting complete).
    Completed,
    /// We are leaving the swarm.
    Stopped,
}

impl TrackerEvent {
    /// The value of the HTTP `event` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackerEvent::Started => "started",
            TrackerEvent::Completed => "completed",
            TrackerEvent::Stopped => "stopped",
        }
    }

    /// Parses the HTTP `event` parameter; the empty string and `empty` mean no event.
    pub(crate) fn parse(text: &[u8]) -> Result<Option<TrackerEvent>, ()> {
        match text {
            b"" | b"empty" => Ok(None),
            b"started" => Ok(Some(TrackerEvent::Started)),
            b"completed" => Ok(Some(TrackerEvent::Completed)),
            b"stopped" => Ok(Some(TrackerEvent::Stopped)),
            _ => Err(()),
        }
    }
}

/// What a tracker answered to an announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceResponse {
    /// How long to wait before the next regular announce.
    pub interval: Duration,
    /// The tracker's floor for announce spacing, if it gave one.
    pub min_interval: Option<Duration>,
    /// Peers to try, IPv4 and IPv6 together.
    pub peers: Vec<SocketAddr>,
    /// A `warning message` to show the user; the announce still succeeded.
    pub warning: Option<String>,
    /// Seeders, if the tracker said.
    pub complete: Option<u32>,
    /// Leechers, if the tracker said.
    pub incomplete: Option<u32>,
}

/// One torrent's counts in a scrape reply (BEP 48 names; BEP 15 calls them seeders,
/// completed and leechers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScrapeStats {
    /// Peers with the whole torrent.
    pub complete: u32,
    /// Peers that ever reported `completed`.
    pub downloaded: u32,
    /// Peers still downloading.
    pub incomplete: u32,
}

/// Appends peers in the compact form: IPv4 peers as 6 bytes to `v4`, IPv6 peers as 18 bytes
/// to `v6`. IPv4-mapped IPv6 addresses count as IPv4.
pub fn encode_compact(peers: &[SocketAddr], v4: &mut Vec<u8>, v6: &mut Vec<u8>) {
    for peer in peers {
        match peer.ip().to_canonical() {
            IpAddr::V4(ip) => {
                v4.extend_from_slice(&ip.octets());
                v4.extend_from_slice(&peer.port().to_be_bytes());
            }
            IpAddr::V6(ip) => {
                v6.extend_from_slice(&ip.octets());
                v6.extend_from_slice(&peer.port().to_be_bytes());
            }
        }
    }
}

/// Decodes a compact IPv4 list (BEP 23). `None` when the length is not a multiple of 6.
pub fn decode_compact_v4(bytes: &[u8]) -> Option<Vec<SocketAddr>> {
    if !bytes.len().is_multiple_of(COMPACT_V4_LEN) {
        return None;
    }
    let peers = bytes.chunks_exact(COMPACT_V4_LEN).map(|entry| {
        let ip = Ipv4Addr::new(entry[0], entry[1], entry[2], entry[3]);
        let port = u16::from_be_bytes([entry[4], entry[5]]);
        SocketAddr::V4(SocketAddrV4::new(ip, port))
    });
    Some(peers.collect())
}

/// Decodes a compact IPv6 list (BEP 7). `None` when the length is not a multiple of 18.
pub fn decode_compact_v6(bytes: &[u8]) -> Option<Vec<SocketAddr>> {
    if !bytes.len().is_multiple_of(COMPACT_V6_LEN) {
        return None;
    }
    let peers = bytes.chunks_exact(COMPACT_V6_LEN).map(|entry| {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&entry[..16]);
        let port = u16::from_be_bytes([entry[16], entry[17]]);
        SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(octets), port, 0, 0))
    });
    Some(peers.collect())
}

/// Seconds as a `Duration`, for interval fields that arrive as signed integers.
pub(crate) fn seconds(value: i64) -> Option<Duration> {
    u64::try_from(value).ok().map(Duration::from_secs)
}

#[cfg(test)]
impl AnnounceRequest {
    /// A plausible request for unit tests.
    pub(crate) fn example() -> AnnounceRequest {
        AnnounceRequest {
            info_hash: InfoHash([0x11; 20]),
            peer_id: PeerId(*b"-MT0100-abcdefghijkl"),
            port: 6881,
            uploaded: 1,
            downloaded: 2,
            left: 3,
            event: Some(TrackerEvent::Started),
            numwant: Some(50),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_lists_round_trip_both_families() {
        let peers: Vec<SocketAddr> =
            vec!["10.0.0.1:6881".parse().expect("v4"), "[2001:db8::1]:51413".parse().expect("v6")];
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        encode_compact(&peers, &mut v4, &mut v6);
        assert_eq!(v4, [10, 0, 0, 1, 0x1a, 0xe1]);
        assert_eq!(v6.len(), 18);
        assert_eq!(decode_compact_v4(&v4), Some(vec![peers[0]]));
        assert_eq!(decode_compact_v6(&v6), Some(vec![peers[1]]));
    }

    #[test]
    fn mapped_addresses_are_compacted_as_ipv4() {
        let mapped: SocketAddr = "[::ffff:1.2.3.4]:80".parse().expect("mapped");
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        encode_compact(&[mapped], &mut v4, &mut v6);
        assert_eq!(v4, [1, 2, 3, 4, 0, 80]);
        assert!(v6.is_empty());
    }

    #[test]
    fn ragged_compact_lists_are_rejected() {
        assert_eq!(decode_compact_v4(&[1, 2, 3, 4, 5]), None);
        assert_eq!(decode_compact_v6(&[0; 19]), None);
        assert_eq!(decode_compact_v4(&[]), Some(vec![]));
    }

    #[test]
    fn events_parse_their_http_names() {
        for event in [TrackerEvent::Started, TrackerEvent::Completed, TrackerEvent::Stopped] {
            assert_eq!(TrackerEvent::parse(event.as_str().as_bytes()), Ok(Some(event)));
        }
        assert_eq!(TrackerEvent::parse(b"empty"), Ok(None));
        assert_eq!(TrackerEvent::parse(b"paused"), Err(()));
    }
}
