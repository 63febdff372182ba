//! Making v2 and hybrid torrents (BEP 52): files in the tree's order, each aligned to a piece,
//! hashed in one pass.
//!
//! Files are ordered by their path components, byte-wise, which is the order of the `file
//! tree` dictionary and libtorrent's canonical order, so the same input and piece length
//! give libtorrent's info hashes. A hybrid's v1 list pads every file with a remainder to a
//! piece boundary with a BEP 47 pad file, the last one of a folder too (as libtorrent 2.0.8
//! does); a single file is not padded. One pass over every byte computes each piece's SHA-1
//! (hybrid) and merkle hash; only one node per piece is kept, from which each file's piece
//! layer and pieces root follow.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;

use super::InputFile;
use crate::error::Error;
use crate::hash::{self, V2Plan};
use crate::layout::Layout;
use crate::merkle::{self, Node};
use crate::metainfo::{FileAttr, FileEntry, MetaVersion};
use crate::storage::{IoMode, Storage};

/// What the one pass yields for the builder.
pub(super) struct Hashed {
    /// The files in stream order, pad files included, each with its pieces root.
    pub files: Vec<FileEntry>,
    /// v1 piece hashes (hybrid only).
    pub pieces: Vec<[u8; 20]>,
    /// Each file's piece layer (files longer than one piece), else empty.
    pub piece_layers: Vec<Vec<Node>>,
}

/// Sorts `files` into the file tree's order.
pub(super) fn sort_files(files: &mut [InputFile]) {
    files.sort_by(|a, b| a.path.cmp(&b.path));
}

/// Lays out, hashes and builds the file list of a v2 (`version` V2) or hybrid torrent.
pub(super) fn hash(
    input: &std::path::Path,
    files: Vec<InputFile>,
    piece_length: u32,
    version: MetaVersion,
    threads: usize,
    progress: &AtomicU64,
) -> Result<Hashed, Error> {
    let single = files.len() == 1 && files[0].path.is_empty();
    let count = files.len();
    let mut entries = Vec::with_capacity(count * 2);
    let mut paths: Vec<PathBuf> = Vec::with_capacity(count * 2);
    for (index, file) in files.into_iter().enumerate() {
        let rest = file.length % u64::from(piece_length);
        let last = index + 1 == count;
        paths.push(file.disk_path);
        entries.push(FileEntry::new(file.path, file.length));
        let pad_last = version == MetaVersion::Hybrid && !single;
        if rest != 0 && (!last || pad_last) {
            let pad = u64::from(piece_length) - rest;
            entries.push(FileEntry {
                attr: FileAttr { padding: true, ..FileAttr::default() },
                ..FileEntry::new(vec![".pad".into(), pad.to_string()], pad)
            });
            paths.push(input.join(".pad").join(pad.to_string()));
        }
    }
    let lengths: Vec<u64> = entries.iter().map(|f| f.length).collect();
    let layout = Layout::new(piece_length, &lengths)
        .map_err(|e| Error::Data { path: input.to_path_buf(), reason: e.to_string() })?
        .with_virtual_files(entries.iter().map(FileEntry::is_virtual).collect());
    let storage = Storage::open_read(&paths, &layout, IoMode::Auto)?;
    for (index, path) in paths.iter().enumerate() {
        if let Some(reason) = storage.unavailable(index) {
            let reason = format!("{reason} (changed while reading?)");
            return Err(Error::Data { path: path.clone(), reason });
        }
    }
    let plans: Vec<V2Plan> = layout
        .pieces()
        .map(|piece| {
            let data =
                layout.slices(layout.piece_range(piece)).find(|s| !layout.is_virtual(s.file));
            match data {
                Some(slice) => V2Plan {
                    data: slice.length,
                    width: merkle::piece_width(layout.file_length(slice.file), piece_length),
                },
                None => V2Plan { data: 0, width: 1 },
            }
        })
        .collect();
    let v1 = version.has_v1();
    let hashes = hash::hash_all_v2(&storage, &plans, v1, threads, progress)?;
    let mut piece_layers = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter_mut().enumerate() {
        let nodes: Vec<Node> =
            layout.file_pieces(index).filter_map(|p| hashes.get(p as usize)).map(|h| h.1).collect();
        let virtual_or_empty = entry.is_virtual() || entry.length == 0;
        if virtual_or_empty || nodes.is_empty() {
            piece_layers.push(Vec::new());
            continue;
        }
        if entry.length > u64::from(piece_length) {
            entry.pieces_root = Some(merkle::root_from_layer(&nodes, piece_length));
            piece_layers.push(nodes);
        } else {
            entry.pieces_root = Some(nodes[0]);
            piece_layers.push(Vec::new());
        }
    }
    let pieces = if v1 { hashes.iter().filter_map(|h| h.0).collect() } else { Vec::new() };
    Ok(Hashed { files: entries, pieces, piece_layers })
}
