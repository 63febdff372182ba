//! The UDP tracker protocol (BEP 15) as matched encode/decode pairs, shared by the client and
//! the server.
//!
//! Every packet starts with a 32-bit action and a 32-bit transaction id, all big-endian.
//! Requests are connect (16 bytes, with the magic protocol id), announce (98 bytes) and scrape
//! (16 bytes and 20 per info hash); replies are connect, announce (20 bytes and one compact
//! peer each, 6 bytes over IPv4 or 18 over IPv6), scrape (8 bytes and 12 per hash) and error
//! (8 bytes and a message). Decoders check every length before reading and never panic;
//! trailing bytes after a fixed-size request (BEP 41 options) are ignored.

use std::net::SocketAddr;

use super::ReplyError;
use super::announce::{
    COMPACT_V4_LEN, COMPACT_V6_LEN, ScrapeStats, TrackerEvent, decode_compact_v4,
    decode_compact_v6, encode_compact,
};
use crate::types::{InfoHash, PeerId};

/// The magic constant a connect request starts with.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;
/// Length of an announce request without options.
pub const ANNOUNCE_LEN: usize = 98;
/// Most info hashes one scrape packet may carry.
pub const MAX_SCRAPE_HASHES: usize = 74;

const CONNECT: u32 = 0;
const ANNOUNCE: u32 = 1;
const SCRAPE: u32 = 2;
const ERROR: u32 = 3;

/// A UDP announce request (BEP 15 field order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpAnnounce {
    /// The id from the connect reply.
    pub connection_id: u64,
    /// Echoed by the tracker.
    pub transaction_id: u32,
    /// The torrent.
    pub info_hash: InfoHash,
    /// The announcing peer.
    pub peer_id: PeerId,
    /// Bytes downloaded.
    pub downloaded: u64,
    /// Bytes left.
    pub left: u64,
    /// Bytes uploaded.
    pub uploaded: u64,
    /// The event, if any.
    pub event: Option<TrackerEvent>,
    /// A random number that stays the same across a client's announces.
    pub key: u32,
    /// Peers wanted; `None` is encoded as -1, "tracker's choice".
    pub numwant: Option<u32>,
    /// The peer's TCP port.
    pub port: u16,
}

/// A packet a client sends to a tracker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Ask for a connection id.
    Connect {
        /// Echoed by the tracker.
        transaction_id: u32,
    },
    /// Announce one torrent.
    Announce(UdpAnnounce),
    /// Ask for counts of up to [`MAX_SCRAPE_HASHES`] torrents.
    Scrape {
        /// The id from the connect reply.
        connection_id: u64,
        /// Echoed by the tracker.
        transaction_id: u32,
        /// The torrents.
        info_hashes: Vec<InfoHash>,
    },
}

/// A packet a tracker sends back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// A fresh connection id.
    Connect {
        /// From the request.
        transaction_id: u32,
        /// To be used in announce and scrape requests.
        connection_id: u64,
    },
    /// Peers for an announce; all of one address family, the family the request came over.
    Announce {
        /// From the request.
        transaction_id: u32,
        /// Seconds until the next announce.
        interval: u32,
        /// Peers still downloading.
        leechers: u32,
        /// Peers with the whole torrent.
        seeders: u32,
        /// The peers.
        peers: Vec<SocketAddr>,
    },
    /// Counts, one per requested hash, in request order.
    Scrape {
        /// From the request.
        transaction_id: u32,
        /// The counts.
        stats: Vec<ScrapeStats>,
    },
    /// The tracker refused the request.
    Error {
        /// From the request.
        transaction_id: u32,
        /// Why.
        message: String,
    },
}

/// Why a request packet was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// Too short to hold an action and a transaction id: there is nobody to answer.
    Unanswerable,
    /// Answerable with an error packet carrying this transaction id and message.
    Invalid {
        /// From the packet.
        transaction_id: u32,
        /// A lowercase reason.
        reason: &'static str,
    },
}

/// Big-endian reader over a packet; every read is length-checked.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_be_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_be_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_be_bytes)
    }
}

fn event_code(event: Option<TrackerEvent>) -> u32 {
    match event {
        None => 0,
        Some(TrackerEvent::Completed) => 1,
        Some(TrackerEvent::Started) => 2,
        Some(TrackerEvent::Stopped) => 3,
    }
}

impl Request {
    /// The packet bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ANNOUNCE_LEN);
        match self {
            Request::Connect { transaction_id } => {
                out.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
                out.extend_from_slice(&CONNECT.to_be_bytes());
                out.extend_from_slice(&transaction_id.to_be_bytes());
            }
            Request::Announce(a) => {
                out.extend_from_slice(&a.connection_id.to_be_bytes());
                out.extend_from_slice(&ANNOUNCE.to_be_bytes());
                out.extend_from_slice(&a.transaction_id.to_be_bytes());
                out.extend_from_slice(&a.info_hash.0);
                out.extend_from_slice(&a.peer_id.0);
                for n in [a.downloaded, a.left, a.uploaded] {
                    out.extend_from_slice(&n.to_be_bytes());
                }
                out.extend_from_slice(&event_code(a.event).to_be_bytes());
                out.extend_from_slice(&0u32.to_be_bytes()); // ip: the sender's address
                out.extend_from_slice(&a.key.to_be_bytes());
                let numwant = a.numwant.map_or(-1, |n| i32::try_from(n).unwrap_or(i32::MAX));
                out.extend_from_slice(&numwant.to_be_bytes());
                out.extend_from_slice(&a.port.to_be_bytes());
            }
            Request::Scrape { connection_id, transaction_id, info_hashes } => {
                out.extend_from_slice(&connection_id.to_be_bytes());
                out.extend_from_slice(&SCRAPE.to_be_bytes());
                out.extend_from_slice(&transaction_id.to_be_bytes());
                info_hashes.iter().for_each(|hash| out.extend_from_slice(&hash.0));
            }
        }
        out
    }

    /// Decodes a request packet. Scrapes beyond [`MAX_SCRAPE_HASHES`] are cut to that many.
    pub fn decode(packet: &[u8]) -> Result<Request, RequestError> {
        let mut r = Reader(packet);
        let (Some(connection_id), Some(action), Some(transaction_id)) = (r.u64(), r.u32(), r.u32())
        else {
            return Err(RequestError::Unanswerable);
        };
        let invalid = |reason| RequestError::Invalid { transaction_id, reason };
        match action {
            CONNECT if connection_id == PROTOCOL_ID => Ok(Request::Connect { transaction_id }),
            CONNECT => Err(invalid("connect without the protocol id")),
            ANNOUNCE => {
                let short = || invalid("announce packet too short");
                let info_hash = InfoHash(r.take().ok_or_else(short)?);
                let peer_id = PeerId(r.take().ok_or_else(short)?);
                let downloaded = r.u64().ok_or_else(short)?;
                let left = r.u64().ok_or_else(short)?;
                let uploaded = r.u64().ok_or_else(short)?;
                let event = match r.u32().ok_or_else(short)? {
                    0 => None,
                    1 => Some(TrackerEvent::Completed),
                    2 => Some(TrackerEvent::Started),
                    3 => Some(TrackerEvent::Stopped),
                    _ => return Err(invalid("unknown event")),
                };
                let _ip = r.u32().ok_or_else(short)?;
                let key = r.u32().ok_or_else(short)?;
                let numwant = u32::try_from(i32::from_be_bytes(r.take().ok_or_else(short)?)).ok();
                let port = r.u16().ok_or_else(short)?;
                Ok(Request::Announce(UdpAnnounce {
                    connection_id,
                    transaction_id,
                    info_hash,
                    peer_id,
                    downloaded,
                    left,
                    uploaded,
                    event,
                    key,
                    numwant,
                    port,
                }))
            }
            SCRAPE => {
                let info_hashes: Vec<InfoHash> =
                    r.0.chunks_exact(20)
                        .take(MAX_SCRAPE_HASHES)
                        .filter_map(|chunk| chunk.try_into().ok().map(InfoHash))
                        .collect();
                if info_hashes.is_empty() {
                    return Err(invalid("scrape without an info hash"));
                }
                Ok(Request::Scrape { connection_id, transaction_id, info_hashes })
            }
            _ => Err(invalid("unknown action")),
        }
    }
}

impl Response {
    /// The transaction id the response echoes.
    pub fn transaction_id(&self) -> u32 {
        match self {
            Response::Connect { transaction_id, .. }
            | Response::Announce { transaction_id, .. }
            | Response::Scrape { transaction_id, .. }
            | Response::Error { transaction_id, .. } => *transaction_id,
        }
    }

    /// The packet bytes. Announce peers are written in their own family's compact form; the
    /// sender keeps them to one family.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        let mut header = |action: u32, transaction_id: u32| {
            out.extend_from_slice(&action.to_be_bytes());
            out.extend_from_slice(&transaction_id.to_be_bytes());
        };
        match self {
            Response::Connect { transaction_id, connection_id } => {
                header(CONNECT, *transaction_id);
                out.extend_from_slice(&connection_id.to_be_bytes());
            }
            Response::Announce { transaction_id, interval, leechers, seeders, peers } => {
                header(ANNOUNCE, *transaction_id);
                for n in [interval, leechers, seeders] {
                    out.extend_from_slice(&n.to_be_bytes());
                }
                let mut v6 = Vec::new();
                encode_compact(peers, &mut out, &mut v6);
                out.extend_from_slice(&v6);
            }
            Response::Scrape { transaction_id, stats } => {
                header(SCRAPE, *transaction_id);
                for s in stats {
                    for n in [s.complete, s.downloaded, s.incomplete] {
                        out.extend_from_slice(&n.to_be_bytes());
                    }
                }
            }
            Response::Error { transaction_id, message } => {
                header(ERROR, *transaction_id);
                out.extend_from_slice(message.as_bytes());
            }
        }
        out
    }

    /// Decodes a reply; `ipv6` says which compact peer size an announce reply uses.
    pub fn decode(packet: &[u8], ipv6: bool) -> Result<Response, ReplyError> {
        let malformed = |reason: &str| ReplyError::Malformed(reason.to_string());
        let mut r = Reader(packet);
        let (Some(action), Some(transaction_id)) = (r.u32(), r.u32()) else {
            return Err(malformed("packet shorter than 8 bytes"));
        };
        match action {
            CONNECT => {
                let connection_id = r.u64().ok_or_else(|| malformed("connect reply too short"))?;
                Ok(Response::Connect { transaction_id, connection_id })
            }
            ANNOUNCE => {
                let short = || malformed("announce reply too short");
                let interval = r.u32().ok_or_else(short)?;
                let leechers = r.u32().ok_or_else(short)?;
                let seeders = r.u32().ok_or_else(short)?;
                let peers = if ipv6 { decode_compact_v6(r.0) } else { decode_compact_v4(r.0) };
                let size = if ipv6 { COMPACT_V6_LEN } else { COMPACT_V4_LEN };
                let peers = peers.ok_or_else(|| {
                    ReplyError::Malformed(format!("peer list is not a multiple of {size} bytes"))
                })?;
                Ok(Response::Announce { transaction_id, interval, leechers, seeders, peers })
            }
            SCRAPE => {
                if !r.0.len().is_multiple_of(12) {
                    return Err(malformed("scrape reply is not a multiple of 12 bytes"));
                }
                let stats =
                    r.0.chunks_exact(12)
                        .map(|chunk| {
                            let mut c = Reader(chunk);
                            let mut next = || c.u32().unwrap_or_default();
                            ScrapeStats { complete: next(), downloaded: next(), incomplete: next() }
                        })
                        .collect();
                Ok(Response::Scrape { transaction_id, stats })
            }
            ERROR => {
                let message = String::from_utf8_lossy(r.0).into_owned();
                Ok(Response::Error { transaction_id, message })
            }
            _ => Err(malformed("unknown action")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announce() -> UdpAnnounce {
        UdpAnnounce {
            connection_id: 0x0102_0304_0506_0708,
            transaction_id: 9,
            info_hash: InfoHash([0xaa; 20]),
            peer_id: PeerId([0xbb; 20]),
            downloaded: 1,
            left: 2,
            uploaded: 3,
            event: Some(TrackerEvent::Started),
            key: 0xdead_beef,
            numwant: None,
            port: 6881,
        }
    }

    #[test]
    fn connect_request_matches_the_spec_bytes() {
        let bytes = Request::Connect { transaction_id: 0x1234_5678 }.encode();
        assert_eq!(
            bytes,
            [0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78]
        );
        assert_eq!(Request::decode(&bytes), Ok(Request::Connect { transaction_id: 0x1234_5678 }));
    }

    #[test]
    fn announce_request_round_trips_with_spec_layout() {
        let bytes = Request::Announce(announce()).encode();
        assert_eq!(bytes.len(), ANNOUNCE_LEN);
        assert_eq!(&bytes[80..84], &[0, 0, 0, 2], "started is event 2");
        assert_eq!(&bytes[92..96], &[0xff; 4], "numwant -1");
        assert_eq!(&bytes[96..], &[0x1a, 0xe1]);
        assert_eq!(Request::decode(&bytes), Ok(Request::Announce(announce())));
    }

    #[test]
    fn truncated_requests_are_refused_not_misread() {
        let bytes = Request::Announce(announce()).encode();
        assert_eq!(Request::decode(&bytes[..15]), Err(RequestError::Unanswerable));
        for end in 16..ANNOUNCE_LEN {
            assert!(
                matches!(
                    Request::decode(&bytes[..end]),
                    Err(RequestError::Invalid { transaction_id: 9, .. })
                ),
                "{end}"
            );
        }
    }

    #[test]
    fn scrape_request_is_capped() {
        let many = Request::Scrape {
            connection_id: 1,
            transaction_id: 2,
            info_hashes: vec![InfoHash([7; 20]); 100],
        };
        let Ok(Request::Scrape { info_hashes, .. }) = Request::decode(&many.encode()) else {
            panic!("scrape should decode");
        };
        assert_eq!(info_hashes.len(), MAX_SCRAPE_HASHES);
    }

    #[test]
    fn responses_round_trip() {
        let v4 = vec!["1.2.3.4:5".parse().expect("v4")];
        let v6 = vec!["[::1]:6".parse().expect("v6")];
        let stats = vec![ScrapeStats { complete: 1, downloaded: 2, incomplete: 3 }];
        let cases = [
            (Response::Connect { transaction_id: 1, connection_id: 2 }, false),
            (
                Response::Announce {
                    transaction_id: 1,
                    interval: 2,
                    leechers: 3,
                    seeders: 4,
                    peers: v4,
                },
                false,
            ),
            (
                Response::Announce {
                    transaction_id: 1,
                    interval: 2,
                    leechers: 3,
                    seeders: 4,
                    peers: v6,
                },
                true,
            ),
            (Response::Scrape { transaction_id: 5, stats }, false),
            (Response::Error { transaction_id: 6, message: "no".into() }, false),
        ];
        for (response, ipv6) in cases {
            assert_eq!(Response::decode(&response.encode(), ipv6), Ok(response));
        }
    }

    #[test]
    fn ragged_replies_are_malformed() {
        let mut bytes = Response::Announce {
            transaction_id: 1,
            interval: 2,
            leechers: 3,
            seeders: 4,
            peers: vec![],
        }
        .encode();
        bytes.push(0);
        assert!(Response::decode(&bytes, false).is_err());
        assert!(Response::decode(&[0, 0, 0, 2, 0, 0, 0, 1, 0], false).is_err());
        assert!(Response::decode(&[0, 0, 0, 0, 0, 0, 0, 1], false).is_err());
    }
}
