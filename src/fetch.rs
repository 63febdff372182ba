//! Fetching a torrent's `info` dictionary from peers, for a magnet link (BEP 9).
//!
//! A magnet link names only the info hash (and maybe trackers and peers). [`fetch_info`]
//! asks the given peers, those a DHT lookup finds as they come, then those the link's
//! trackers name (asking them again every few
//! seconds while no peer has answered), one at a time (each up to
//! `TRIES_PER_PEER` times, as a peer may still be starting) until one of them hands over
//! the dictionary: it connects, sends our extended handshake naming
//! `ut_metadata`, reads the peer's to learn its message id and the dictionary's size, asks
//! for every 16 KiB piece at once and puts the answers together. The result is accepted only
//! if its SHA-1 is the info hash (and, for a link with a v2 hash, its SHA-256 is that hash),
//! so a lying peer costs time, never correctness. A v2 torrent's piece layers are not in
//! the dictionary: [`fetch_piece_layers`] asks peers for them with BEP 52 hash requests and
//! proves each against its file's `pieces root`. Every step
//! is bounded by the per-peer timeout and the overall deadline.

mod piece_layers;

pub use piece_layers::fetch_piece_layers;

use std::collections::VecDeque;
use std::fmt;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};
use sha2::Sha256;

use crate::bencode::Value;
use crate::merkle::Node;
use crate::peer;
use crate::tracker::{AnnounceRequest, Client, TrackerEvent};
use crate::types::{InfoHash, InfoHashV2, PeerId};
use crate::wire::metadata::{self, MetadataMessage};
use crate::wire::{ExtendedHandshake, Handshake, Message, MessageReader, write_message};

/// The extended message id we receive `ut_metadata` on while fetching.
const OUR_UT_METADATA: u8 = 2;

/// Longest we spend on one peer.
const PER_PEER: Duration = Duration::from_secs(15);

/// Times we try one peer (it may still be starting, or busy).
const TRIES_PER_PEER: u32 = 5;

/// Least time between two rounds of asking the trackers for peers.
const TRACKERS_AGAIN: Duration = Duration::from_secs(3);

/// Pause before trying a peer again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Where to look for the dictionary, and for how long.
pub struct FetchOptions {
    /// Peers to ask first (from the link's `x.pe`, the command line, this host).
    pub peers: Vec<SocketAddr>,
    /// Trackers to ask for more peers (the link's `tr`).
    pub trackers: Vec<String>,
    /// Our peer id.
    pub peer_id: PeerId,
    /// The port we will listen on, for the trackers.
    pub port: u16,
    /// When to give up.
    pub timeout: Duration,
    /// Peers found while the fetch goes on (by a DHT lookup), if anyone looks.
    pub found: Option<crossbeam_channel::Receiver<Vec<SocketAddr>>>,
    /// The torrent's hashes: which of them the dictionary must match.
    pub hashes: Hashes,
}

/// The hashes a magnet link names, which the fetched dictionary must match: SHA-1 for a v1
/// hash (`btih`), SHA-256 for a v2 one (`btmh`), both when it names both.
#[derive(Clone, Copy, Debug)]
pub struct Hashes {
    /// The v1 info hash, if the link names one.
    pub v1: Option<InfoHash>,
    /// The v2 info hash, if the link names one.
    pub v2: Option<InfoHashV2>,
}

impl Hashes {
    /// True when `info` hashes to every hash named, and at least one is.
    pub fn matches(&self, info: &[u8]) -> bool {
        let v1 = self.v1.is_none_or(|want| InfoHash(Sha1::digest(info).into()) == want);
        let v2 = self.v2.is_none_or(|want| InfoHashV2(Sha256::digest(info).into()) == want);
        v1 && v2 && (self.v1.is_some() || self.v2.is_some())
    }
}

/// Why no peer gave us the dictionary.
#[derive(Debug)]
pub struct FetchError {
    /// What went wrong with each peer tried, and with each tracker.
    pub attempts: Vec<String>,
    /// True when the deadline passed.
    pub timed_out: bool,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.attempts.is_empty() {
            return f.write_str("no peers to ask for the torrent's metadata");
        }
        let how = if self.timed_out { "in time " } else { "" };
        write!(f, "no peer gave the torrent's metadata {how}({})", self.attempts.join("; "))
    }
}

impl std::error::Error for FetchError {}

/// Fetches and checks the raw `info` dictionary of `info_hash` (the v2 hash truncated, for
/// a link with only that); returns it with the peer that gave it.
pub fn fetch_info(
    info_hash: InfoHash,
    options: &FetchOptions,
) -> Result<(Vec<u8>, SocketAddr), FetchError> {
    let deadline = Instant::now() + options.timeout;
    // (address, attempts so far): a peer that is still starting may refuse us at first.
    let mut queue: VecDeque<(SocketAddr, u32)> = VecDeque::new();
    let mut known = Vec::new();
    let mut add = |queue: &mut VecDeque<(SocketAddr, u32)>, addr: SocketAddr| {
        if !known.contains(&addr) {
            known.push(addr);
            queue.push_back((addr, 0));
        }
    };
    for &addr in &options.peers {
        add(&mut queue, addr);
    }
    let mut attempts = Vec::new();
    let mut trackers_asked: Option<Instant> = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(FetchError { attempts, timed_out: true });
        }
        if let Some(found) = &options.found {
            for addr in found.try_iter().flatten() {
                add(&mut queue, addr);
            }
        }
        let Some((addr, tries)) = queue.pop_front() else {
            if options.trackers.is_empty() {
                // Nothing more to ask but the DHT: wait for what it finds.
                let wait = options.found.as_ref().map(|f| f.recv_timeout(left.min(TRACKERS_AGAIN)));
                match wait {
                    Some(Ok(peers)) => peers.into_iter().for_each(|addr| add(&mut queue, addr)),
                    Some(Err(crossbeam_channel::RecvTimeoutError::Timeout)) => {}
                    _ => return Err(FetchError { attempts, timed_out: false }),
                }
                continue;
            }
            // Out of peers: ask the trackers (again, at most every few seconds, as a peer
            // may announce after us).
            if let Some(asked) = trackers_asked {
                std::thread::sleep(TRACKERS_AGAIN.saturating_sub(asked.elapsed()).min(left));
            }
            trackers_asked = Some(Instant::now());
            let left = deadline.saturating_duration_since(Instant::now());
            for addr in ask_trackers(info_hash, options, left, &mut attempts) {
                add(&mut queue, addr);
            }
            continue;
        };
        if tries > 0 {
            std::thread::sleep(RETRY_AFTER.min(left));
        }
        match from_peer(addr, info_hash, options, left.min(PER_PEER)) {
            Ok(info) => return Ok((info, addr)),
            Err(reason) if tries + 1 < TRIES_PER_PEER => {
                queue.push_back((addr, tries + 1));
                if tries == 0 {
                    attempts.push(format!("peer {addr}: {reason}"));
                }
            }
            Err(reason) => {
                if let Some(last) =
                    attempts.iter_mut().find(|a| a.starts_with(&format!("peer {addr}:")))
                {
                    *last = format!("peer {addr}: {reason}");
                }
            }
        }
    }
}

/// Peers the trackers name for `info_hash`; failures are noted in `attempts`.
fn ask_trackers(
    info_hash: InfoHash,
    options: &FetchOptions,
    left: Duration,
    attempts: &mut Vec<String>,
) -> Vec<SocketAddr> {
    let client = Client::new();
    let request = AnnounceRequest {
        info_hash,
        peer_id: options.peer_id,
        port: options.port,
        uploaded: 0,
        downloaded: 0,
        // Unknown until we have the metadata; any non-zero value says we are not a seed.
        left: 1,
        event: Some(TrackerEvent::Started),
        numwant: Some(50),
    };
    let mut peers = Vec::new();
    for url in &options.trackers {
        match client.announce(url, &request, left.min(PER_PEER)) {
            Ok(reply) => peers.extend(reply.peers),
            Err(err) => {
                let line = format!("tracker {url}: {err}");
                if !attempts.contains(&line) {
                    attempts.push(line);
                }
            }
        }
    }
    peers
}

/// Asks one peer for the dictionary.
fn from_peer(
    addr: SocketAddr,
    info_hash: InfoHash,
    options: &FetchOptions,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + timeout;
    let ours = Handshake::new(info_hash, options.peer_id).with_v2(options.hashes.v2.is_some());
    let connected = peer::connect(addr, ours, None, timeout).map_err(|e| e.to_string())?;
    if !connected.handshake.supports_extensions() {
        return Err("does not speak the extension protocol".into());
    }
    let mut reader = connected.reader;
    let ours = ExtendedHandshake {
        extensions: [(metadata::UT_METADATA.to_string(), OUR_UT_METADATA)].into(),
        client: Some(format!("mt {}", env!("CARGO_PKG_VERSION"))),
        ..ExtendedHandshake::default()
    };
    send(&mut reader, &ours.to_message())?;
    let (their_id, size) = loop {
        if let Message::Extended { id: 0, payload } = next(&mut reader, deadline)? {
            let theirs = ExtendedHandshake::decode(&payload).map_err(|e| e.to_string())?;
            let id = theirs.extensions.get(metadata::UT_METADATA).copied().filter(|&id| id != 0);
            let id = id.ok_or("does not offer the metadata (no ut_metadata)")?;
            let size = theirs.metadata_size.ok_or("does not say the metadata's size")?;
            let size = i64::try_from(size).map_err(|_| "gives an absurd metadata size")?;
            break (id, metadata::check_size(size).map_err(|e| e.to_string())?);
        }
    };
    let count = metadata::piece_count(size);
    for piece in 0..count {
        let request = MetadataMessage::Request { piece }.encode();
        send(&mut reader, &Message::Extended { id: their_id, payload: request })?;
    }
    let mut pieces: Vec<Option<Vec<u8>>> = vec![None; usize::try_from(count).unwrap_or(0)];
    while pieces.iter().any(Option::is_none) {
        let Message::Extended { id: OUR_UT_METADATA, payload } = next(&mut reader, deadline)?
        else {
            continue;
        };
        match MetadataMessage::decode(&payload).map_err(|e| e.to_string())? {
            MetadataMessage::Data { piece, total_size, data } if total_size == size => {
                if let Some(slot) = usize::try_from(piece).ok().and_then(|i| pieces.get_mut(i)) {
                    *slot = Some(data);
                }
            }
            MetadataMessage::Data { total_size, .. } => {
                return Err(format!("sent metadata of {total_size} bytes after saying {size}"));
            }
            MetadataMessage::Reject { piece } => {
                return Err(format!("refused metadata piece {piece}"));
            }
            MetadataMessage::Request { .. } => {} // we have nothing to give yet
        }
    }
    let info: Vec<u8> = pieces.into_iter().flatten().flatten().collect();
    if !options.hashes.matches(&info) {
        return Err("sent metadata that does not match the info hash".into());
    }
    Ok(info)
}

fn send(reader: &mut MessageReader<TcpStream>, message: &Message) -> Result<(), String> {
    write_message(reader.get_mut(), message).map_err(|e| format!("cannot send: {e}"))
}

/// The next message, within `deadline`.
fn next(reader: &mut MessageReader<TcpStream>, deadline: Instant) -> Result<Message, String> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("timed out".into());
        }
        let _ = reader.get_ref().set_read_timeout(Some(left));
        match reader.read_message() {
            Ok(message) => return Ok(message),
            Err(crate::wire::WireError::UnknownMessage { .. }) => {}
            Err(err) => return Err(err.to_string()),
        }
    }
}

/// The bytes of a `.torrent` holding `info`, if any `trackers` (one tier each, in order),
/// and a v2 torrent's piece `layers` (by pieces root), so a magnet download runs like any
/// other.
pub fn torrent_bytes(info: &[u8], trackers: &[String], layers: &[(Node, Vec<Node>)]) -> Vec<u8> {
    let mut out = vec![b'd'];
    if let Some(first) = trackers.first() {
        out.extend(Value::bytes("announce").encode());
        out.extend(Value::bytes(first).encode());
        let tiers = trackers.iter().map(|url| Value::List(vec![Value::bytes(url)])).collect();
        out.extend(Value::bytes("announce-list").encode());
        out.extend(Value::List(tiers).encode());
    }
    out.extend(Value::bytes("info").encode());
    out.extend_from_slice(info);
    if !layers.is_empty() {
        let dict = layers
            .iter()
            .map(|(root, layer)| (root.to_vec(), Value::Bytes(layer.concat())))
            .collect();
        out.extend(Value::bytes("piece layers").encode());
        out.extend(Value::Dict(dict).encode());
    }
    out.push(b'e');
    out
}

#[cfg(test)]
mod tests {
    use super::FetchError;

    #[test]
    fn a_timed_out_fetch_error_reads_as_a_sentence() {
        let attempts = vec!["127.0.0.1:6881: connection refused".to_string()];
        let late = FetchError { attempts: attempts.clone(), timed_out: true };
        let message =
            "no peer gave the torrent's metadata in time (127.0.0.1:6881: connection refused)";
        assert_eq!(late.to_string(), message);
        let failed = FetchError { attempts, timed_out: false };
        let message = "no peer gave the torrent's metadata (127.0.0.1:6881: connection refused)";
        assert_eq!(failed.to_string(), message);
    }
}
