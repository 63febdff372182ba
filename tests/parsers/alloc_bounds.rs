//! No parser allocates more than its input justifies. A counting global allocator (installed
//! only in this test binary) measures the peak bytes live during one call, result included,
//! and each parser must stay within `per_byte * input.len() + fixed` bytes on arbitrary bytes,
//! bencode token soups, mutated valid samples and large crafted inputs. Each bound below says
//! what input costs the most per byte and what that measured, and allows about half as much
//! again, so a bound is broken by a length prefix or count being trusted before it is
//! checked, or by a data structure that grew half again as costly, not by noise.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use mt::bencode::{decode, decode_dict_spans};
use mt::bitfield::Bitfield;
use mt::metainfo::{FileEntry, Metainfo, TorrentBuilder};
use mt::tracker::http::parse_announce_response;
use mt::tracker::server::http::{handle_request, parse_query};
use mt::tracker::server::udp::handle_packet;
use mt::tracker::server::{ServerConfig, Tracker};
use mt::tracker::udp::{Request, Response};
use mt::wire::message;
use mt::wire::{ExtendedHandshake, Handshake, MessageReader, WireError};
use proptest::prelude::*;

use crate::counting::{Counting, peak_during};
use crate::samples::{extended_handshake, message, torrent, value};
use crate::support::{arbitrary_bytes, bencode_soup, bounded, config, large_inputs, mutated};
use crate::tracker_samples::{announce_reply, http_request_head, udp_request};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A parser's allowance: `per_byte * input.len() + fixed` bytes.
#[derive(Clone, Copy, Debug)]
struct Bound {
    per_byte: usize,
    fixed: usize,
}

/// A decoded bencode tree. The costliest input per byte is a list of one-entry dictionaries,
/// `d0:0:e` (6 bytes): each dictionary's vector of entries starts at four slots, and the
/// list's vector doubles as it grows; it measures at 45⅓ bytes per input byte. The bound is
/// half as much again.
const TREE: Bound = Bound { per_byte: 68, fixed: 1024 };

/// A tree plus what `decode_dict_spans` adds only for top-level entries: a second map of
/// spans and a copy of each key. Its worst case is a tree's inside one top-level entry; small
/// dictionaries measure up to 682 bytes above the tree's rate.
const SPANS: Bound = Bound { per_byte: 68, fixed: 2048 };

/// A tree plus the validated torrent: hashes and the raw `info` copy (a byte each), and per
/// file entry of at least 20 input bytes its path strings, the path set of the uniqueness
/// check and the layout, a few dozen bytes. The tree's worst case still dominates; small
/// torrents measure up to 682 bytes above the tree's rate.
const TORRENT: Bound = Bound { per_byte: 68, fixed: 2048 };

/// A tree plus the reply: 32 bytes per peer address for each 6-byte compact peer, below the
/// tree's worst case, which dominates here too.
const ANNOUNCE_REPLY: Bound = Bound { per_byte: 68, fixed: 1024 };

/// A handshake is a fixed array: nothing is allocated at all.
const HANDSHAKE: Bound = Bound { per_byte: 0, fixed: 0 };

/// A message owns at most a copy of its payload.
const MESSAGE: Bound = Bound { per_byte: 1, fixed: 0 };

/// A reader starts with a 64 KiB buffer and doubles it only when one message needs more;
/// on top of that, each message it returns (dropped before the next) is a payload copy. A
/// message one byte longer than the buffer measures at 64 KiB plus 2½ bytes per input byte.
const READER: Bound = Bound { per_byte: 4, fixed: 96 * 1024 };

/// A bitfield is a copy of its bytes.
const BITFIELD: Bound = Bound { per_byte: 1, fixed: 0 };

/// A query is split into pairs of 48 bytes each (two vectors) for every pair of at least two
/// input bytes (`a&`), with the pair list doubling as it grows, plus the decoded bytes.
const QUERY: Bound = Bound { per_byte: 64, fixed: 1024 };

/// A request head: its query, the tracker's record of one peer, and a bencoded reply. A head
/// of one-byte pairs measures at 24½ bytes per input byte, and small heads at up to 332
/// bytes above that.
const HTTP_REQUEST: Bound = Bound { per_byte: 37, fixed: 1024 };

/// A UDP request holds at most 74 info hashes whatever the packet's length; collecting them
/// doubles the vector up to 128 slots of 20 bytes (2,560 bytes, as measured).
const UDP_REQUEST: Bound = Bound { per_byte: 0, fixed: 4096 };

/// A UDP reply: 32 bytes per 6-byte peer (5⅓ per byte), 12 bytes per 12-byte scrape entry,
/// and an error message decoded lossily (up to 3 bytes per invalid byte).
const UDP_RESPONSE: Bound = Bound { per_byte: 6, fixed: 1024 };

/// The UDP server decodes a capped request and records one peer: independent of the packet,
/// and measured at up to 2,581 bytes.
const UDP_SERVER: Bound = Bound { per_byte: 0, fixed: 4096 };

/// Measures one call and checks it against `bound`.
fn within<T>(
    what: &'static str,
    input: &[u8],
    bound: Bound,
    call: impl FnOnce() -> T,
) -> Result<(), TestCaseError> {
    let (_, peak) = bounded(what, input, || peak_during(call))?;
    let allowed = bound.per_byte * input.len() + bound.fixed;
    prop_assert!(
        peak <= allowed,
        "{} allocated {} bytes on a {}-byte input, over its bound of {}",
        what,
        peak,
        input.len(),
        allowed
    );
    Ok(())
}

/// Every parser that reads bencode.
fn bencode_parsers(input: &[u8]) -> Result<(), TestCaseError> {
    within("bencode::decode", input, TREE, || decode(input))?;
    within("bencode::decode_dict_spans", input, SPANS, || decode_dict_spans(input))?;
    within("Metainfo::from_bytes", input, TORRENT, || Metainfo::from_bytes(input))?;
    within("ExtendedHandshake::decode", input, TREE, || ExtendedHandshake::decode(input))?;
    within("parse_announce_response", input, ANNOUNCE_REPLY, || parse_announce_response(input))
}

/// Every parser of binary peer-wire and UDP tracker packets.
fn binary_parsers(input: &[u8]) -> Result<(), TestCaseError> {
    within("Handshake::decode", input, HANDSHAKE, || Handshake::decode(input))?;
    within("message::decode", input, MESSAGE, || message::decode(input))?;
    within("MessageReader::read_message", input, READER, || {
        let mut reader = MessageReader::new(input);
        while let Ok(_) | Err(WireError::UnknownMessage { .. }) = reader.read_message() {}
    })?;
    let pieces = u32::try_from(input.len() * 8).unwrap_or(u32::MAX);
    within("Bitfield::from_bytes", input, BITFIELD, || Bitfield::from_bytes(input, pieces))?;
    within("udp::Request::decode", input, UDP_REQUEST, || Request::decode(input))?;
    for ipv6 in [false, true] {
        within("udp::Response::decode", input, UDP_RESPONSE, || Response::decode(input, ipv6))?;
    }
    for from in
        [SocketAddr::from(([10, 0, 0, 1], 1)), SocketAddr::from(([0xfe80, 0, 0, 0, 0, 0, 0, 1], 1))]
    {
        let tracker = Tracker::new(&ServerConfig::default());
        let now = Instant::now();
        within("udp::handle_packet", input, UDP_SERVER, || {
            handle_packet(&tracker, input, from, now)
        })?;
    }
    Ok(())
}

/// The HTTP tracker's request parsing.
fn http_parsers(input: &[u8]) -> Result<(), TestCaseError> {
    within("parse_query", input, QUERY, || parse_query(input))?;
    let tracker = Tracker::new(&ServerConfig::default());
    let ip = IpAddr::from([10, 0, 0, 1]);
    within("handle_request", input, HTTP_REQUEST, || handle_request(&tracker, input, ip))
}

fn all_parsers(input: &[u8]) -> Result<(), TestCaseError> {
    bencode_parsers(input)?;
    binary_parsers(input)?;
    http_parsers(input)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_parser_stays_within_its_allocation_bound_on_arbitrary_bytes(input in arbitrary_bytes()) {
        all_parsers(&input)?;
    }

    #[test]
    fn bencode_parsers_stay_within_their_allocation_bounds_on_token_soup(input in bencode_soup()) {
        bencode_parsers(&input)?;
    }

    #[test]
    fn bencode_parsers_stay_within_their_allocation_bounds_on_mutated_values(
        input in mutated(prop_oneof![
            value().prop_map(|v| v.encode()),
            torrent().prop_map(|t| t.to_bytes()),
            extended_handshake().prop_map(|h| h.encode()),
            announce_reply().prop_map(|r| r.encode()),
        ])
    ) {
        bencode_parsers(&input)?;
    }

    #[test]
    fn binary_parsers_stay_within_their_allocation_bounds_on_mutated_packets(
        input in mutated(prop_oneof![
            proptest::collection::vec(message(), 1..6)
                .prop_map(|m| m.iter().flat_map(mt::wire::Message::encode).collect()),
            udp_request().prop_map(|r| r.encode()),
        ])
    ) {
        binary_parsers(&input)?;
    }

    #[test]
    fn http_parsers_stay_within_their_allocation_bounds_on_mutated_requests(
        input in mutated(http_request_head())
    ) {
        http_parsers(&input)?;
    }
}

/// Valid or nearly valid inputs that cost each parser the most per byte.
fn costliest_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let n = 1 << 16;
    let info = TorrentBuilder {
        name: "a".into(),
        piece_length: 1 << 20,
        pieces: vec![[1; 20]],
        files: (0..n).map(|i| FileEntry::new(vec![format!("{i}")], 1)).collect(),
        ..TorrentBuilder::default()
    }
    .info_bytes();
    let many_dicts = [&b"l"[..], &b"d0:0:e".repeat(n), b"e"].concat();
    let two_byte_keys: Vec<u8> =
        (0..=u16::MAX).flat_map(|k| [&b"2:"[..], &k.to_be_bytes(), b"0:"].concat()).collect();
    let compact = vec![7u8; 6 * n];
    let udp_peers = [&[0, 0, 0, 1][..], &[0; 16], &compact].concat();
    // A bitfield message one byte too long for the reader's buffer, which then doubles.
    let bitfield_over = |buffer: usize| {
        let len = u32::try_from(buffer - 4 + 1).expect("small");
        [&len.to_be_bytes()[..], &[5], &vec![0xff; buffer - 4]].concat()
    };
    vec![
        ("torrent with many files", [&b"d4:info"[..], &info, b"e"].concat()),
        (
            "torrent with one-entry dictionaries",
            [&b"d4:info"[..], &info, b"1:x", &many_dicts, b"e"].concat(),
        ),
        ("dictionary of two-byte keys", [&b"d"[..], &two_byte_keys, b"e"].concat()),
        ("query of one-byte pairs", b"a&".repeat(n)),
        (
            "request of one-byte pairs",
            [&b"GET /announce?"[..], &b"a&".repeat(n), b" HTTP/1.1\r\n\r\n"].concat(),
        ),
        (
            "compact peers",
            [format!("d8:intervali1e5:peers{}:", compact.len()).as_bytes(), &compact, b"e"]
                .concat(),
        ),
        (
            "dictionary peers",
            [&b"d8:intervali1e5:peersl"[..], &b"d2:ip7:1.2.3.44:porti1ee".repeat(n), b"ee"]
                .concat(),
        ),
        ("udp announce reply", udp_peers),
        ("message just over the first read buffer", bitfield_over(64 * 1024)),
        ("message just over the doubled read buffer", bitfield_over(128 * 1024)),
        (
            "udp error reply that is not utf-8",
            [&[0, 0, 0, 3][..], &[0; 4], &vec![0xff; n]].concat(),
        ),
    ]
}

#[test]
fn every_parser_stays_within_its_allocation_bound_on_large_inputs() {
    for (name, input) in large_inputs(1 << 20).into_iter().chain(costliest_inputs()) {
        if let Err(err) = all_parsers(&input) {
            panic!("{name}: {err}");
        }
    }
}
