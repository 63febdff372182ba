//! The BEP 52 parts of a torrent: the `file tree`, the `piece layers`, and the proof that a
//! hybrid's v1 `files` list describes the same files as its tree.
//!
//! The file tree is a dictionary of path components; a file is a node `{"": {length, pieces
//! root}}`. Its files come out in key order, which is the order of the byte stream. Every v2
//! file starts at a piece boundary: in a hybrid, BEP 47 pad files in the v1 list say so; for a
//! v2-only torrent [`aligned`] inserts the same pad files, so both give one layout. A tree
//! whose only entry is one file at its top describes a single-file torrent.

use super::path::{check_component, check_unique};
use super::{FileAttr, FileEntry};
use crate::bencode::Value;
use crate::merkle::{self, Node};

/// Smallest v2 piece length (one 16 KiB leaf block).
pub const MIN_PIECE_LENGTH: u32 = 16 * 1024;

/// Checks a v2 piece length: a power of two of at least 16 KiB.
pub(super) fn check_piece_length(piece_length: u32) -> Result<(), String> {
    if !piece_length.is_power_of_two() || piece_length < MIN_PIECE_LENGTH {
        return Err(format!(
            "piece length {piece_length} of a v2 torrent is not a power of two of at least 16 KiB"
        ));
    }
    Ok(())
}

/// The files of a `file tree`, in stream order; a single-file tree gives one file with an
/// empty path.
pub(super) fn parse_file_tree(tree: &Value) -> Result<Vec<FileEntry>, String> {
    let dict = tree.as_dict().ok_or("file tree is not a dictionary")?;
    if dict.is_empty() {
        return Err("file tree is empty".into());
    }
    let mut files = Vec::new();
    walk(tree, &mut Vec::new(), &mut files)?;
    let single = dict.len() == 1 && files.len() == 1 && files[0].path.len() == 1;
    if single {
        files[0].path.clear();
    } else {
        let paths: Vec<Vec<String>> = files.iter().map(|f| f.path.clone()).collect();
        check_unique(&paths)?;
    }
    Ok(files)
}

fn walk(node: &Value, prefix: &mut Vec<String>, out: &mut Vec<FileEntry>) -> Result<(), String> {
    let here = |prefix: &[String]| {
        if prefix.is_empty() { "file tree".to_string() } else { prefix.join("/") }
    };
    let dict = node.as_dict().ok_or_else(|| format!("{} is not a dictionary", here(prefix)))?;
    if let Some(file) = dict.get(b"") {
        if dict.len() != 1 || prefix.is_empty() {
            return Err(format!("{} is both a file and a folder", here(prefix)));
        }
        out.push(parse_file(file, &here(prefix))?);
        return Ok(());
    }
    if dict.is_empty() {
        return Err(format!("{} is an empty folder", here(prefix)));
    }
    for (key, child) in dict.iter() {
        let name = std::str::from_utf8(key)
            .map_err(|_| format!("a path component under {} is not UTF-8", here(prefix)))?;
        check_component(name).map_err(|e| format!("file tree {}: {e}", here(prefix)))?;
        prefix.push(name.to_string());
        walk(child, prefix, out)?;
        prefix.pop();
    }
    Ok(())
}

fn parse_file(file: &Value, path: &str) -> Result<FileEntry, String> {
    if file.as_dict().is_none() {
        return Err(format!("file {path} is not a dictionary"));
    }
    let length = file.get("length").ok_or_else(|| format!("file {path} has no length"))?;
    let length = length.as_int().ok_or_else(|| format!("file {path} length is not an integer"))?;
    let length = u64::try_from(length).map_err(|_| format!("file {path} length is negative"))?;
    let pieces_root = match file.get("pieces root") {
        _ if length == 0 => None,
        None => return Err(format!("file {path} has no pieces root")),
        Some(root) => {
            let root = root.as_bytes().ok_or_else(|| format!("file {path} pieces root"))?;
            let root: Node = root
                .try_into()
                .map_err(|_| format!("file {path} pieces root is {} bytes, not 32", root.len()))?;
            Some(root)
        }
    };
    let attr = super::parse::parse_attr(file, &format!("file {path}"))?;
    if attr.padding || attr.symlink.is_some() {
        return Err(format!("file {path} of the file tree is a pad file or a symlink"));
    }
    let path = path.split('/').map(str::to_string).collect();
    Ok(FileEntry { path, length, attr, pieces_root })
}

/// The remainder that pads a file of `length` to a whole number of pieces (0 when none).
fn pad_after(length: u64, piece_length: u32) -> u64 {
    let rest = length % u64::from(piece_length);
    if rest == 0 { 0 } else { u64::from(piece_length) - rest }
}

fn pad_file(length: u64) -> FileEntry {
    FileEntry {
        attr: FileAttr { padding: true, ..FileAttr::default() },
        ..FileEntry::new(vec![".pad".into(), length.to_string()], length)
    }
}

/// A v2-only torrent's files with the pad files that align each one to a piece (none after
/// the last).
pub(super) fn aligned(tree: Vec<FileEntry>, piece_length: u32) -> Vec<FileEntry> {
    let count = tree.len();
    let mut out = Vec::with_capacity(count * 2);
    for (index, file) in tree.into_iter().enumerate() {
        let pad = pad_after(file.length, piece_length);
        out.push(file);
        if pad > 0 && index + 1 < count {
            out.push(pad_file(pad));
        }
    }
    out
}

/// A hybrid's files: the v1 list, proven to hold the tree's files in the same order with
/// the same lengths, each followed by exactly the pad file that aligns the next one (after
/// the last file the pad is optional: libtorrent 2.0.8 writes it). The tree's pieces roots
/// are copied onto the v1 entries.
pub(super) fn merge_hybrid(
    v1: Vec<FileEntry>,
    tree: Vec<FileEntry>,
    piece_length: u32,
) -> Result<Vec<FileEntry>, String> {
    let count = tree.len();
    let mut v1 = v1.into_iter().enumerate().peekable();
    let mut out = Vec::with_capacity(count * 2);
    for (index, want) in tree.into_iter().enumerate() {
        let Some((at, mut got)) = v1.next() else {
            return Err(format!(
                "hybrid: the v1 files list ends before {:?} of the file tree",
                want.path.join("/")
            ));
        };
        if got.is_padding() || got.path != want.path || got.length != want.length {
            return Err(format!(
                "hybrid: v1 file {at} ({:?}, {} bytes) is not the file tree's {:?} ({} bytes)",
                got.path.join("/"),
                got.length,
                want.path.join("/"),
                want.length
            ));
        }
        got.pieces_root = want.pieces_root;
        out.push(got);
        let pad = pad_after(want.length, piece_length);
        let last = index + 1 == count;
        if pad == 0 {
            continue;
        }
        match v1.peek() {
            Some((_, next)) if next.is_padding() && next.length == pad => {
                out.extend(v1.next().map(|(_, f)| f));
            }
            _ if last => {}
            _ => {
                return Err(format!(
                    "hybrid: v1 file {at} ({:?}) is not followed by a {pad}-byte pad file",
                    want.path.join("/")
                ));
            }
        }
    }
    if let Some((at, extra)) = v1.next() {
        return Err(format!(
            "hybrid: v1 file {at} ({:?}) is not in the file tree",
            extra.path.join("/")
        ));
    }
    Ok(out)
}

/// Each file's piece layer from the top-level `piece layers` dictionary: required, and
/// proven to hash to the file's pieces root, for every file longer than one piece.
pub(super) fn parse_piece_layers(
    layers: Option<&Value>,
    files: &[FileEntry],
    piece_length: u32,
) -> Result<Vec<Vec<Node>>, String> {
    let layers = match layers {
        None => None,
        Some(value) => Some(value.as_dict().ok_or("piece layers is not a dictionary")?),
    };
    let mut out = Vec::with_capacity(files.len());
    for (index, file) in files.iter().enumerate() {
        let Some(root) = file.pieces_root.filter(|_| file.length > u64::from(piece_length)) else {
            out.push(Vec::new());
            continue;
        };
        let name = file.path.join("/");
        let layer = layers.and_then(|l| l.get(&root)).ok_or_else(|| {
            format!("piece layers has no entry for file {index} ({name:?}), which spans pieces")
        })?;
        let layer = layer.as_bytes().ok_or_else(|| format!("piece layer of {name:?}"))?;
        let pieces = file.length.div_ceil(u64::from(piece_length));
        if layer.len() as u64 != pieces * 32 {
            return Err(format!(
                "piece layer of file {index} ({name:?}) is {} bytes, its {pieces} pieces need {}",
                layer.len(),
                pieces * 32
            ));
        }
        let layer: Vec<Node> =
            layer.chunks_exact(32).map(|c| c.try_into().unwrap_or([0; 32])).collect();
        if merkle::root_from_layer(&layer, piece_length) != root {
            return Err(format!(
                "piece layer of file {index} ({name:?}) does not hash to its pieces root"
            ));
        }
        out.push(layer);
    }
    Ok(out)
}
