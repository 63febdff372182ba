//! Strategies for valid values of the formats peers and files bring: bencode trees, torrents,
//! peer wire messages and handshakes, extended handshakes and bitfields. Each is used twice:
//! round-tripped as a value, and encoded then mutated as a sample of hostile input that is
//! close to valid. Tracker formats are in `tracker_samples.rs`.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mt::bencode::Value;
use mt::metainfo::{FileEntry, TorrentBuilder};
use mt::types::{InfoHash, PeerId};
use mt::wire::{BlockInfo, ExtendedHandshake, Handshake, HashRequest, MAX_BLOCK_LEN, Message};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;

/// Integers with the edges of `i64` over-represented.
fn int() -> impl Strategy<Value = i64> {
    prop_oneof![any::<i64>(), -20..20i64, Just(i64::MIN), Just(i64::MAX)]
}

/// Bencode trees up to six levels deep with small strings, lists and dictionaries.
pub fn value() -> impl Strategy<Value = Value> {
    let leaf =
        prop_oneof![int().prop_map(Value::Int), vec(any::<u8>(), 0..24).prop_map(Value::Bytes)];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::List),
            btree_map(vec(any::<u8>(), 0..8), inner, 0..6).prop_map(|map| Value::Dict(map.into())),
        ]
    })
}

/// Bencode dictionaries, the top level of a torrent, a tracker reply or an extended handshake.
pub fn dict_value() -> impl Strategy<Value = Value> {
    btree_map(vec(any::<u8>(), 0..8), value(), 0..8).prop_map(|map| Value::Dict(map.into()))
}

/// A path component `check_component` accepts: ASCII or any printable text, with separators
/// and colons (a drive prefix) replaced and `.` or `..` extended. Built rather than filtered,
/// so no case is ever rejected.
pub fn component() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9 _.-]{1,10}", "\\PC{1,6}"].prop_map(|text| {
        let mut part = text.replace(['/', '\\', ':'], "_");
        if part == "." || part == ".." {
            part.push('_');
        }
        part
    })
}

/// File paths with no repeats and no file that is also a folder of another.
pub fn paths() -> impl Strategy<Value = Vec<Vec<String>>> {
    vec(vec(component(), 1..=3), 1..=6).prop_map(|candidates| {
        let mut kept: Vec<Vec<String>> = Vec::new();
        for path in candidates {
            let clash = |other: &Vec<String>| path.starts_with(other) || other.starts_with(&path);
            if !kept.iter().any(clash) {
                kept.push(path);
            }
        }
        kept
    })
}

fn url() -> impl Strategy<Value = String> {
    "(http|https|udp)://[a-z]{1,10}\\.example(:[0-9]{1,5})?/[a-z]{0,8}"
}

/// The files of a single-file or multi-file torrent, with at least one byte in all.
fn files() -> impl Strategy<Value = Vec<FileEntry>> {
    prop_oneof![
        (1..=100_000u64).prop_map(|length| vec![FileEntry::new(Vec::new(), length)]),
        (paths(), vec(0..=5000u64, 6)).prop_map(|(paths, lengths)| {
            let mut files: Vec<FileEntry> = paths
                .into_iter()
                .zip(lengths)
                .map(|(path, length)| FileEntry::new(path, length))
                .collect();
            if files.iter().all(|f| f.length == 0) {
                files[0].length = 1;
            }
            files
        }),
    ]
}

/// Valid torrents: safe names and paths, a piece length that keeps the piece count at 64 or
/// fewer, one hash per piece, and optional trackers, web seeds, comment and date.
pub fn torrent() -> impl Strategy<Value = TorrentBuilder> {
    let meta = (
        vec(url(), 0..4),
        vec(url(), 0..3),
        option::of("\\PC{0,20}"),
        option::of(int()),
        any::<bool>(),
    );
    (
        component(),
        prop_oneof![1..=64u32, Just(16384u32), Just(1 << 18)],
        files(),
        any::<u64>(),
        meta,
    )
        .prop_map(|(name, piece_length, files, seed, meta)| {
            let (trackers, web_seeds, comment, creation_date, private) = meta;
            let total: u64 = files.iter().map(|f| f.length).sum();
            let floor = u32::try_from(total.div_ceil(64)).expect("small torrent");
            let piece_length = piece_length.max(floor);
            let count = total.div_ceil(u64::from(piece_length));
            let pieces = (0..count).map(|i| hash_like(seed ^ i)).collect();
            TorrentBuilder {
                name,
                piece_length,
                pieces,
                files,
                private,
                trackers,
                web_seeds,
                comment,
                creation_date,
                ..TorrentBuilder::default()
            }
        })
}

/// Twenty bytes that differ for every `seed`.
pub fn hash_like(seed: u64) -> [u8; 20] {
    let mut out = [0u8; 20];
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for byte in &mut out {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state.to_be_bytes()[0];
    }
    out
}

pub fn info_hash() -> impl Strategy<Value = InfoHash> {
    any::<[u8; 20]>().prop_map(InfoHash)
}

pub fn peer_id() -> impl Strategy<Value = PeerId> {
    any::<[u8; 20]>().prop_map(PeerId)
}

/// Any handshake: every reserved bit pattern, hash and peer id.
pub fn handshake() -> impl Strategy<Value = Handshake> {
    (any::<[u8; 8]>(), info_hash(), peer_id())
        .prop_map(|(reserved, info_hash, peer_id)| Handshake { reserved, info_hash, peer_id })
}

fn block() -> impl Strategy<Value = BlockInfo> {
    (any::<u32>(), any::<u32>(), prop_oneof![1..=MAX_BLOCK_LEN, Just(MAX_BLOCK_LEN), Just(1)])
        .prop_map(|(piece, begin, length)| BlockInfo { piece, begin, length })
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..512)
}

/// One message of every kind the codec knows, with valid field values.
pub fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::KeepAlive),
        Just(Message::Choke),
        Just(Message::Unchoke),
        Just(Message::Interested),
        Just(Message::NotInterested),
        any::<u32>().prop_map(|piece| Message::Have { piece }),
        payload().prop_map(Message::Bitfield),
        block().prop_map(Message::Request),
        (any::<u32>(), any::<u32>(), payload()).prop_map(|(piece, begin, data)| Message::Piece {
            piece,
            begin,
            data
        }),
        block().prop_map(Message::Cancel),
        any::<u16>().prop_map(Message::Port),
        any::<u32>().prop_map(|piece| Message::Suggest { piece }),
        Just(Message::HaveAll),
        Just(Message::HaveNone),
        block().prop_map(Message::Reject),
        any::<u32>().prop_map(|piece| Message::AllowedFast { piece }),
        (any::<u8>(), payload()).prop_map(|(id, payload)| Message::Extended { id, payload }),
        hash_request().prop_map(Message::HashRequest),
        (hash_request(), vec(any::<[u8; 32]>(), 0..40))
            .prop_map(|(request, hashes)| Message::Hashes { request, hashes }),
        hash_request().prop_map(Message::HashReject),
    ]
}

/// BEP 52 hash requests with any fields.
pub fn hash_request() -> impl Strategy<Value = HashRequest> {
    (any::<[u8; 32]>(), any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
        |(pieces_root, base_layer, index, length, proof_layers)| HashRequest {
            pieces_root,
            base_layer,
            index,
            length,
            proof_layers,
        },
    )
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o))),
    ]
}

/// Extended handshakes with every field present or absent; a port of 0 means "absent".
pub fn extended_handshake() -> impl Strategy<Value = ExtendedHandshake> {
    (
        btree_map("\\PC{0,12}", any::<u8>(), 0..6),
        option::of("\\PC{0,16}"),
        option::of(any::<u32>()),
        option::of(1..=u16::MAX),
        option::of(ip()),
        option::of(0..=u64::try_from(i64::MAX).unwrap_or(u64::MAX)),
    )
        .prop_map(|(extensions, client, reqq, listen_port, your_ip, metadata_size)| {
            ExtendedHandshake { extensions, client, reqq, listen_port, your_ip, metadata_size }
        })
}

/// A piece count and a valid bitfield payload for it (spare bits clear).
pub fn bitfield() -> impl Strategy<Value = (u32, Vec<u8>)> {
    (0..4096u32, any::<u64>()).prop_map(|(len, seed)| {
        let mut bytes: Vec<u8> = (0..len.div_ceil(8))
            .flat_map(|i| hash_like(seed ^ u64::from(i))[..1].to_vec())
            .collect();
        if let Some(last) = bytes.last_mut()
            && len % 8 != 0
        {
            *last &= !(0xffu8 >> (len % 8));
        }
        (len, bytes)
    })
}
