//! Getting a v2 torrent's piece layers from peers with BEP 52 hash requests, for a magnet
//! link: its metadata carries each file's `pieces root` but not the `piece layers`, which
//! live outside the info dictionary.
//!
//! For each file longer than a piece we ask for its piece layer, padded to a power of two,
//! in runs of up to [`RUN`] hashes whose proof reaches the file's root, and accept a run
//! only if its hashes fold with their uncles to that root: a lying peer costs time, never
//! correctness. Peers are asked one at a time until one answers every run; every wait is
//! bounded by the deadline.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{next, send};
use crate::merkle::{Node, Span, check_answer, leaves_per_piece};
use crate::metainfo::Info;
use crate::peer;
use crate::types::{InfoHash, PeerId};
use crate::wire::{Handshake, HashRequest, Message};

/// Most hashes we ask for at once (BEP 52: a length SHOULD NOT pass 512).
pub const RUN: u32 = 512;

/// One run of one file's layer that we ask for.
struct Wanted {
    /// Index in the list of files that need a layer.
    file: usize,
    span: Span,
    /// Levels from the piece layer to the root.
    height: u32,
}

/// Fetches the piece layer of every file of `info` longer than a piece, from the first of
/// `peers` that gives them all; returns `(pieces root, layer)` pairs, each layer proven.
pub fn fetch_piece_layers(
    info: &Info,
    info_hash: InfoHash,
    peer_id: PeerId,
    peers: &[SocketAddr],
    timeout: Duration,
) -> Result<Vec<(Node, Vec<Node>)>, String> {
    let deadline = Instant::now() + timeout;
    let files = info.files_with_piece_layers();
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let piece_length = u64::from(info.piece_length);
    let base_layer = leaves_per_piece(info.piece_length).trailing_zeros();
    let mut requests = Vec::new();
    let mut wanted = HashMap::new();
    for (at, &(index, root)) in files.iter().enumerate() {
        let length = info.files.get(index).map_or(0, |f| f.length);
        let pieces = u32::try_from(length.div_ceil(piece_length)).map_err(|_| "too many pieces")?;
        let width = pieces.max(2).next_power_of_two();
        let height = width.trailing_zeros();
        let run = width.min(RUN);
        for start in (0..width).step_by(usize::try_from(run).unwrap_or(1)) {
            let span = Span::new(0, start, run, height - 1, height)
                .ok_or("bug: a run that does not fit")?;
            let request = HashRequest {
                pieces_root: root,
                base_layer,
                index: start,
                length: run,
                proof_layers: height - 1,
            };
            requests.push(request);
            wanted.insert(request, Wanted { file: at, span, height });
        }
    }
    let mut attempts = Vec::new();
    for &addr in peers {
        if Instant::now() >= deadline {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match from_peer(addr, info_hash, peer_id, &requests, &wanted, &files, left) {
            Ok(mut answers) => {
                let mut layers = Vec::with_capacity(files.len());
                for (at, &(index, root)) in files.iter().enumerate() {
                    let mut layer = answers.remove(&at).unwrap_or_default();
                    let length = info.files.get(index).map_or(0, |f| f.length);
                    layer.truncate(usize::try_from(length.div_ceil(piece_length)).unwrap_or(0));
                    layers.push((root, layer));
                }
                return Ok(layers);
            }
            Err(reason) => attempts.push(format!("peer {addr}: {reason}")),
        }
    }
    if attempts.is_empty() {
        return Err("no peer to ask for the piece layers".into());
    }
    Err(format!("no peer gave the piece layers ({})", attempts.join("; ")))
}

/// Asks one peer for every run; returns each file's hashes (by position in `files`), runs
/// in order.
fn from_peer(
    addr: SocketAddr,
    info_hash: InfoHash,
    peer_id: PeerId,
    requests: &[HashRequest],
    wanted: &HashMap<HashRequest, Wanted>,
    files: &[(usize, Node)],
    timeout: Duration,
) -> Result<HashMap<usize, Vec<Node>>, String> {
    let deadline = Instant::now() + timeout;
    let ours = Handshake::new(info_hash, peer_id).with_v2(true);
    let connected = peer::connect(addr, ours, None, timeout).map_err(|e| e.to_string())?;
    let mut reader = connected.reader;
    for request in requests {
        send(&mut reader, &Message::HashRequest(*request))?;
    }
    let mut runs: HashMap<HashRequest, Vec<Node>> = HashMap::new();
    while runs.len() < requests.len() {
        match next(&mut reader, deadline)? {
            Message::Hashes { request, hashes } => {
                let Some(want) = wanted.get(&request) else { continue };
                let root = files.get(want.file).map(|&(_, root)| root).unwrap_or_default();
                if !check_answer(&root, want.span, want.height, &hashes) {
                    return Err("sent hashes that do not lead to the pieces root".into());
                }
                let length = usize::try_from(request.length).unwrap_or(0);
                runs.insert(request, hashes.into_iter().take(length).collect());
            }
            Message::HashReject(request) if wanted.contains_key(&request) => {
                return Err("refused the hash request".into());
            }
            _ => {}
        }
    }
    let mut out: HashMap<usize, Vec<Node>> = HashMap::new();
    for request in requests {
        if let (Some(want), Some(hashes)) = (wanted.get(request), runs.remove(request)) {
            out.entry(want.file).or_default().extend(hashes);
        }
    }
    Ok(out)
}
