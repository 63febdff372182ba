//! Validation of a `.torrent` file's bencode into a [`Metainfo`].
//!
//! Every field is type-checked; sizes are checked for sign and overflow; `pieces` must be a
//! multiple of 20 bytes and match the piece count the file sizes imply; names and paths go
//! through [`super::path`]. Unknown keys are ignored, as BEP 3 asks.

use sha1::{Digest, Sha1};
use sha2::Sha256;

use super::path::{check_component, check_unique};
use super::{FileAttr, FileEntry, Info, MetaVersion, Metainfo, v2};
use crate::bencode::{self, Value};
use crate::layout::Layout;
use crate::types::{InfoHash, InfoHashV2};

/// Largest piece length we accept in a torrent we read (256 MiB).
pub const MAX_PIECE_LENGTH: i64 = 256 << 20;

pub(super) fn parse(bytes: &[u8]) -> Result<Metainfo, String> {
    let (root, spans) = bencode::decode_dict_spans(bytes).map_err(|e| e.to_string())?;
    let span = spans.get(&b"info"[..]).ok_or("missing the info dictionary")?;
    let raw_info = bytes[span.clone()].to_vec();
    let info_value = root.get(&b"info"[..]).ok_or("missing the info dictionary")?;
    let info = parse_info(info_value)?;
    let lengths: Vec<u64> = info.files.iter().map(|f| f.length).collect();
    let layout = Layout::new(info.piece_length, &lengths).map_err(|e| e.to_string())?;
    let layout = layout
        .with_virtual_files(info.files.iter().map(FileEntry::is_virtual).collect())
        .with_padded_tail(info.version == MetaVersion::V2);
    if info.version.has_v1() && info.pieces.len() != layout.piece_count() as usize {
        return Err(format!(
            "pieces holds {} hashes but the files need {} pieces",
            info.pieces.len(),
            layout.piece_count()
        ));
    }
    let text = |key: &str| root.get(key.as_bytes()).and_then(Value::as_str).map(str::to_string);
    let announce = text("announce").filter(|url| !url.is_empty());
    let mut trackers = parse_announce_list(root.get(&b"announce-list"[..]))?;
    if trackers.is_empty() {
        trackers.extend(announce.map(|url| vec![url]));
    }
    let web_seeds = match root.get(&b"url-list"[..]) {
        None => Vec::new(),
        Some(Value::Bytes(b)) if b.is_empty() => Vec::new(),
        Some(Value::Bytes(_)) => text("url-list").into_iter().collect(),
        Some(Value::List(items)) => {
            items.iter().filter_map(Value::as_str).map(str::to_string).collect()
        }
        Some(_) => return Err("url-list is not a string or a list".into()),
    };
    let piece_layers = if info.version.has_v2() {
        v2::parse_piece_layers(root.get(&b"piece layers"[..]), &info.files, info.piece_length)?
    } else {
        Vec::new()
    };
    let info_hash_v2 = info.version.has_v2().then(|| InfoHashV2(Sha256::digest(&raw_info).into()));
    let info_hash = match info_hash_v2 {
        Some(v2) if !info.version.has_v1() => v2.truncated(),
        _ => InfoHash(Sha1::digest(&raw_info).into()),
    };
    Ok(Metainfo {
        info,
        info_hash,
        info_hash_v2,
        piece_layers,
        raw_info,
        trackers,
        web_seeds,
        comment: text("comment"),
        created_by: text("created by"),
        creation_date: root.get(&b"creation date"[..]).and_then(Value::as_int),
        layout,
    })
}

fn parse_announce_list(value: Option<&Value>) -> Result<Vec<Vec<String>>, String> {
    let Some(value) = value else { return Ok(Vec::new()) };
    let tiers = value.as_list().ok_or("announce-list is not a list")?;
    let mut out = Vec::new();
    for tier in tiers {
        let urls = tier.as_list().ok_or("announce-list tier is not a list")?;
        let urls: Vec<String> = urls
            .iter()
            .map(|url| url.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or("announce-list holds a URL that is not a UTF-8 string")?;
        let urls: Vec<String> = urls.into_iter().filter(|u| !u.is_empty()).collect();
        if !urls.is_empty() {
            out.push(urls);
        }
    }
    Ok(out)
}

/// A raw `info` dictionary alone, as a magnet link's peers send it.
pub(super) fn parse_info_bytes(raw: &[u8]) -> Result<Info, String> {
    parse_info(&bencode::decode(raw).map_err(|e| e.to_string())?)
}

fn parse_info(info: &Value) -> Result<Info, String> {
    if info.as_dict().is_none() {
        return Err("info is not a dictionary".into());
    }
    let name = info.get("name").ok_or("info has no name")?;
    let name = name.as_str().ok_or("info name is not a UTF-8 string")?.to_string();
    check_component(&name).map_err(|e| format!("info name: {e}"))?;

    let piece_length = info.get("piece length").ok_or("info has no piece length")?;
    let piece_length = piece_length.as_int().ok_or("piece length is not an integer")?;
    if !(1..=MAX_PIECE_LENGTH).contains(&piece_length) {
        return Err(format!("piece length {piece_length} is outside 1..={MAX_PIECE_LENGTH}"));
    }
    let piece_length = u32::try_from(piece_length).map_err(|_| "piece length too large")?;

    let private = match info.get("private") {
        None => false,
        Some(Value::Int(flag)) => *flag == 1,
        Some(_) => return Err("private is not an integer".into()),
    };

    let tree = match (info.get("meta version"), info.get("file tree")) {
        (None, None) => None,
        (Some(Value::Int(2)), Some(tree)) => Some(tree),
        (Some(Value::Int(2)), None) => return Err("meta version 2 without a file tree".into()),
        (None, Some(_)) => return Err("file tree without meta version 2".into()),
        (Some(Value::Int(n)), _) => return Err(format!("meta version {n} is not supported")),
        (Some(_), _) => return Err("meta version is not an integer".into()),
    };
    let tree = match tree {
        Some(tree) => {
            v2::check_piece_length(piece_length)?;
            Some(v2::parse_file_tree(tree)?)
        }
        None => None,
    };
    let (version, pieces, files) = match (info.get("pieces"), tree) {
        (None, None) => return Err("info has no pieces".into()),
        (None, Some(tree)) => (MetaVersion::V2, Vec::new(), v2::aligned(tree, piece_length)),
        (Some(pieces), tree) => {
            let pieces = parse_pieces(pieces)?;
            let files = parse_v1_files(info)?;
            match tree {
                None => (MetaVersion::V1, pieces, files),
                Some(tree) => {
                    (MetaVersion::Hybrid, pieces, v2::merge_hybrid(files, tree, piece_length)?)
                }
            }
        }
    };
    Ok(Info { name, piece_length, pieces, version, files, private })
}

fn parse_pieces(pieces: &Value) -> Result<Vec<[u8; 20]>, String> {
    let pieces = pieces.as_bytes().ok_or("pieces is not a byte string")?;
    if pieces.len() % 20 != 0 {
        return Err(format!("pieces is {} bytes, not a multiple of 20", pieces.len()));
    }
    Ok(pieces.chunks_exact(20).map(|c| c.try_into().unwrap_or([0; 20])).collect())
}

/// The v1 `length` or `files` of an info dictionary.
fn parse_v1_files(info: &Value) -> Result<Vec<FileEntry>, String> {
    let files = match (info.get("length"), info.get("files")) {
        (Some(_), Some(_)) => return Err("info has both length and files".into()),
        (None, None) => return Err("info has neither length nor files".into()),
        (Some(length), None) => {
            let attr = parse_attr(info, "the file")?;
            if attr.padding || attr.symlink.is_some() {
                return Err("the only file is a pad file or a symlink".into());
            }
            let length = size(length, "length")?;
            vec![FileEntry { attr, ..FileEntry::new(Vec::new(), length) }]
        }
        (None, Some(files)) => parse_files(files)?,
    };
    Ok(files)
}

/// BEP 47 `attr` (and `symlink path` for `l`) of a file dictionary; unknown letters are
/// ignored.
pub(super) fn parse_attr(file: &Value, what: &str) -> Result<FileAttr, String> {
    let Some(attr) = file.get("attr") else { return Ok(FileAttr::default()) };
    let attr = attr.as_bytes().ok_or_else(|| format!("{what} attr is not a string"))?;
    let mut out = FileAttr {
        padding: attr.contains(&b'p'),
        executable: attr.contains(&b'x'),
        hidden: attr.contains(&b'h'),
        symlink: None,
    };
    if attr.contains(&b'l') {
        let parts = file.get("symlink path").and_then(Value::as_list);
        let parts = parts.ok_or_else(|| format!("{what} is a symlink without a symlink path"))?;
        let mut target = Vec::with_capacity(parts.len());
        for part in parts {
            let part = part.as_str().ok_or_else(|| format!("{what} symlink path is not UTF-8"))?;
            check_component(part).map_err(|e| format!("{what} symlink path: {e}"))?;
            target.push(part.to_string());
        }
        if target.is_empty() {
            return Err(format!("{what} has an empty symlink path"));
        }
        out.symlink = Some(target);
    }
    Ok(out)
}

fn size(value: &Value, field: &str) -> Result<u64, String> {
    let n = value.as_int().ok_or_else(|| format!("{field} is not an integer"))?;
    u64::try_from(n).map_err(|_| format!("{field} {n} is negative"))
}

fn parse_files(files: &Value) -> Result<Vec<FileEntry>, String> {
    let list = files.as_list().ok_or("files is not a list")?;
    if list.is_empty() {
        return Err("files is an empty list".into());
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, file) in list.iter().enumerate() {
        let length = file.get("length").ok_or_else(|| format!("file {i} has no length"))?;
        let length = size(length, &format!("file {i} length"))?;
        let parts = file.get("path").and_then(Value::as_list);
        let parts = parts.ok_or_else(|| format!("file {i} has no path list"))?;
        if parts.is_empty() {
            return Err(format!("file {i} has an empty path"));
        }
        let mut path = Vec::with_capacity(parts.len());
        for part in parts {
            let part = part.as_str().ok_or_else(|| format!("file {i} path is not UTF-8 text"))?;
            check_component(part).map_err(|e| format!("file {i}: {e}"))?;
            path.push(part.to_string());
        }
        let attr = parse_attr(file, &format!("file {i}"))?;
        if attr.symlink.is_some() && length != 0 {
            return Err(format!("file {i} is a symlink of length {length}, not 0"));
        }
        out.push(FileEntry { attr, ..FileEntry::new(path, length) });
    }
    // Pad files may share a path (`.pad/N` for equal N): they are never on disk.
    let paths: Vec<Vec<String>> =
        out.iter().filter(|f| !f.is_padding()).map(|f| f.path.clone()).collect();
    check_unique(&paths)?;
    Ok(out)
}
