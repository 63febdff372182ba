//! Strategies for valid values of both tracker protocols: HTTP announce replies, query
//! strings and request heads, and UDP requests and replies. Each is used twice: round-tripped
//! as a value, and encoded then mutated as a sample of hostile input that is close to valid.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};

use mt::bencode::Value;
use mt::tracker::TrackerEvent;
use mt::tracker::announce::ScrapeStats;
use mt::tracker::udp::{MAX_SCRAPE_HASHES, Request, Response, UdpAnnounce};
use mt::types::url_encode;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

use crate::samples::{info_hash, peer_id};

pub fn v4_peer() -> impl Strategy<Value = SocketAddr> {
    (any::<[u8; 4]>(), any::<u16>())
        .prop_map(|(o, port)| SocketAddr::V4(SocketAddrV4::new(o.into(), port)))
}

/// IPv6 peers that are not IPv4-mapped (those are sent as IPv4).
pub fn v6_peer() -> impl Strategy<Value = SocketAddr> {
    (any::<[u8; 16]>(), any::<u16>())
        .prop_map(|(o, port)| SocketAddr::V6(SocketAddrV6::new(o.into(), port, 0, 0)))
        .prop_filter("not IPv4-mapped", |addr| addr.ip().to_canonical().is_ipv6())
}

fn event() -> impl Strategy<Value = Option<TrackerEvent>> {
    option::of(prop_oneof![
        Just(TrackerEvent::Started),
        Just(TrackerEvent::Completed),
        Just(TrackerEvent::Stopped),
    ])
}

/// UDP tracker requests; `numwant` stays within the `i32` the wire carries.
pub fn udp_request() -> impl Strategy<Value = Request> {
    let numbers = (any::<u64>(), any::<u64>(), any::<u64>(), any::<u32>(), any::<u16>());
    let announce = (
        any::<u64>(),
        any::<u32>(),
        info_hash(),
        peer_id(),
        numbers,
        event(),
        option::of(0..=i32::MAX.unsigned_abs()),
    )
        .prop_map(|(connection_id, transaction_id, info_hash, peer_id, n, event, numwant)| {
            let (downloaded, left, uploaded, key, port) = n;
            Request::Announce(UdpAnnounce {
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
            })
        });
    prop_oneof![
        any::<u32>().prop_map(|transaction_id| Request::Connect { transaction_id }),
        announce,
        (any::<u64>(), any::<u32>(), vec(info_hash(), 1..=MAX_SCRAPE_HASHES)).prop_map(
            |(connection_id, transaction_id, info_hashes)| Request::Scrape {
                connection_id,
                transaction_id,
                info_hashes,
            }
        ),
    ]
}

/// UDP tracker replies and whether they travel over IPv6 (announce peers are of one family).
pub fn udp_response() -> impl Strategy<Value = (Response, bool)> {
    let stats = (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
        |(complete, downloaded, incomplete)| ScrapeStats { complete, downloaded, incomplete },
    );
    let announce = |peers: BoxedStrategy<SocketAddr>| {
        (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>(), vec(peers, 0..40)).prop_map(
            |(transaction_id, interval, leechers, seeders, peers)| Response::Announce {
                transaction_id,
                interval,
                leechers,
                seeders,
                peers,
            },
        )
    };
    prop_oneof![
        (any::<u32>(), any::<u64>(), any::<bool>()).prop_map(
            |(transaction_id, connection_id, v6)| {
                (Response::Connect { transaction_id, connection_id }, v6)
            }
        ),
        announce(v4_peer().boxed()).prop_map(|r| (r, false)),
        announce(v6_peer().boxed()).prop_map(|r| (r, true)),
        (any::<u32>(), vec(stats, 0..20), any::<bool>()).prop_map(|(transaction_id, stats, v6)| (
            Response::Scrape { transaction_id, stats },
            v6
        )),
        (any::<u32>(), "\\PC{0,40}", any::<bool>()).prop_map(|(transaction_id, message, v6)| (
            Response::Error { transaction_id, message },
            v6
        )),
    ]
}

/// A bencoded HTTP announce reply's fields.
#[derive(Clone, Debug)]
pub struct AnnounceReply {
    pub interval: u32,
    pub min_interval: Option<u32>,
    pub complete: Option<u32>,
    pub incomplete: Option<u32>,
    pub warning: Option<String>,
    pub v4: Vec<SocketAddr>,
    pub v6: Vec<SocketAddr>,
    /// Peers as a list of dictionaries instead of compact strings.
    pub dictionaries: bool,
}

impl AnnounceReply {
    /// The reply body a tracker would send.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = BTreeMap::new();
        let mut put = |key: &str, value| body.insert(key.as_bytes().to_vec(), value);
        put("interval", Value::Int(i64::from(self.interval)));
        let ints = [
            ("min interval", self.min_interval),
            ("complete", self.complete),
            ("incomplete", self.incomplete),
        ];
        for (key, n) in ints {
            if let Some(n) = n {
                put(key, Value::Int(i64::from(n)));
            }
        }
        if let Some(warning) = &self.warning {
            put("warning message", Value::bytes(warning));
        }
        if self.dictionaries {
            let peers = self.v4.iter().chain(&self.v6).map(|addr| {
                mt::bencode::dict([
                    ("ip", Value::bytes(addr.ip().to_string())),
                    ("port", Value::Int(i64::from(addr.port()))),
                ])
            });
            put("peers", Value::List(peers.collect()));
        } else {
            let (mut v4, mut v6) = (Vec::new(), Vec::new());
            mt::tracker::announce::encode_compact(&self.v4, &mut v4, &mut v6);
            mt::tracker::announce::encode_compact(&self.v6, &mut v4, &mut v6);
            put("peers", Value::Bytes(v4));
            if !v6.is_empty() {
                put("peers6", Value::Bytes(v6));
            }
        }
        Value::Dict(body.into()).encode()
    }
}

/// Announce replies; peers have a non-zero port, since port 0 peers are skipped.
pub fn announce_reply() -> impl Strategy<Value = AnnounceReply> {
    let counts = (option::of(any::<u32>()), option::of(any::<u32>()), option::of(any::<u32>()));
    let nonzero_port = |mut peer: SocketAddr| {
        peer.set_port(peer.port().max(1));
        peer
    };
    (
        any::<u32>(),
        counts,
        option::of("\\PC{0,20}"),
        vec(v4_peer().prop_map(nonzero_port), 0..20),
        vec(v6_peer().prop_map(nonzero_port), 0..8),
        any::<bool>(),
    )
        .prop_map(
            |(interval, (min_interval, complete, incomplete), warning, v4, v6, dictionaries)| {
                AnnounceReply {
                    interval,
                    min_interval,
                    complete,
                    incomplete,
                    warning,
                    v4,
                    v6,
                    dictionaries,
                }
            },
        )
}

/// Query parameters with any bytes in keys and values.
pub fn query_pairs() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
    vec((vec(any::<u8>(), 0..12), vec(any::<u8>(), 0..30)), 0..8)
}

/// The query string for `pairs`, every byte escaped the way clients do.
pub fn query_string(pairs: &[(Vec<u8>, Vec<u8>)]) -> String {
    let pairs: Vec<String> =
        pairs.iter().map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v))).collect();
    pairs.join("&")
}

/// HTTP tracker request heads: announces and scrapes with valid and random parameters.
pub fn http_request_head() -> impl Strategy<Value = Vec<u8>> {
    let announce = (info_hash(), peer_id(), 0..=u16::MAX, any::<u64>(), option::of(0..500usize), event(), any::<bool>())
        .prop_map(|(hash, id, port, left, numwant, event, compact)| {
            let mut q = format!(
                "info_hash={}&peer_id={}&port={port}&left={left}&uploaded=0&downloaded=0&compact={}",
                url_encode(&hash.0),
                url_encode(&id.0),
                u8::from(compact)
            );
            if let Some(n) = numwant {
                q.push_str(&format!("&numwant={n}"));
            }
            if let Some(e) = event {
                q.push_str(&format!("&event={}", e.as_str()));
            }
            format!("/announce?{q}")
        });
    let scrape = vec(info_hash(), 1..4).prop_map(|hashes| {
        let q: Vec<String> =
            hashes.iter().map(|h| format!("info_hash={}", url_encode(&h.0))).collect();
        format!("/scrape?{}", q.join("&"))
    });
    let random = query_pairs().prop_map(|pairs| format!("/announce?{}", query_string(&pairs)));
    prop_oneof![announce, scrape, random]
        .prop_map(|target| format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes())
}
