//! Emitting a `.torrent` from its parts, in the same key layout other creators use.
//!
//! The `info` dictionary holds only what defines the content (`files` or `length`, `name`,
//! `piece length`, `pieces`, and `private` when set; for v2 and hybrid torrents also `file
//! tree` and `meta version`, with `piece layers` beside `info`), so the same input and piece
//! length give the same info hashes as mktorrent and libtorrent. Keys are emitted sorted, as
//! BEP 3 requires.

use crate::bencode::{Dict, Value, dict};
use crate::merkle::Node;

use super::{FileAttr, FileEntry, MetaVersion, Metainfo};

/// Everything a new torrent is made of.
#[derive(Clone, Debug, Default)]
pub struct TorrentBuilder {
    /// File name (single-file) or top folder name.
    pub name: String,
    /// Bytes per piece.
    pub piece_length: u32,
    /// v1 piece hashes (none for a v2-only torrent).
    pub pieces: Vec<[u8; 20]>,
    /// Files; a single-file torrent has one entry with an empty path. For a v2 or hybrid
    /// torrent each file with data has its `pieces_root`, and pad files align each file to a
    /// piece (a v2-only torrent leaves them out of what it writes).
    pub files: Vec<FileEntry>,
    /// v1, v2 or hybrid.
    pub version: MetaVersion,
    /// For each of `files`, its piece layer (v2 files longer than one piece), else empty.
    pub piece_layers: Vec<Vec<Node>>,
    /// BEP 27 private flag.
    pub private: bool,
    /// Tracker URLs; the first becomes `announce`, each gets a tier of its own.
    pub trackers: Vec<String>,
    /// BEP 19 web seeds.
    pub web_seeds: Vec<String>,
    /// Free-text comment.
    pub comment: Option<String>,
    /// Creation time, seconds since the Unix epoch.
    pub creation_date: Option<i64>,
}

impl TorrentBuilder {
    /// The raw bencoded `info` dictionary.
    pub fn info_bytes(&self) -> Vec<u8> {
        let mut entries = vec![
            ("name", Value::bytes(&self.name)),
            ("piece length", Value::Int(i64::from(self.piece_length))),
        ];
        if self.private {
            entries.push(("private", Value::Int(1)));
        }
        if self.version.has_v2() {
            entries.push(("file tree", self.file_tree()));
            entries.push(("meta version", Value::Int(2)));
        }
        if !self.version.has_v1() {
            return dict(entries).encode();
        }
        entries.push(("pieces", Value::Bytes(self.pieces.concat())));
        let single = self.files.len() == 1 && self.files[0].path.is_empty();
        if single {
            entries.push(("length", int(self.files[0].length)));
        } else {
            let files = self
                .files
                .iter()
                .map(|file| {
                    let path = file.path.iter().map(Value::bytes).collect();
                    let mut entries =
                        vec![("length", int(file.length)), ("path", Value::List(path))];
                    let attr = attr_letters(&file.attr);
                    if !attr.is_empty() {
                        entries.push(("attr", Value::bytes(attr)));
                    }
                    if let Some(target) = &file.attr.symlink {
                        let target = target.iter().map(Value::bytes).collect();
                        entries.push(("symlink path", Value::List(target)));
                    }
                    dict(entries)
                })
                .collect();
            entries.push(("files", Value::List(files)));
        }
        dict(entries).encode()
    }

    /// The BEP 52 `file tree`: each file with data as `{"": {length, pieces root}}` under its
    /// path components, empty files as `{"": {length: 0}}`; pad files are left out.
    fn file_tree(&self) -> Value {
        let mut tree = Value::Dict(Dict::new());
        for file in self.files.iter().filter(|f| !f.is_padding()) {
            let mut leaf = vec![("length", int(file.length))];
            if let Some(root) = file.pieces_root.filter(|_| file.length > 0) {
                leaf.push(("pieces root", Value::Bytes(root.to_vec())));
            }
            let node: Dict = [(Vec::new(), dict(leaf))].into_iter().collect();
            let path: Vec<&str> = match file.path.as_slice() {
                [] => vec![self.name.as_str()],
                parts => parts.iter().map(String::as_str).collect(),
            };
            insert_path(&mut tree, &path, Value::Dict(node));
        }
        tree
    }

    /// The top-level `piece layers`: each long file's pieces root to its layer's bytes.
    fn piece_layers_value(&self) -> Value {
        let layers: Dict = self
            .files
            .iter()
            .zip(&self.piece_layers)
            .filter(|(_, layer)| !layer.is_empty())
            .filter_map(|(file, layer)| {
                Some((file.pieces_root?.to_vec(), Value::Bytes(layer.concat())))
            })
            .collect();
        Value::Dict(layers)
    }

    /// The whole `.torrent` file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut entries = Vec::new();
        if self.version.has_v2() {
            entries.push(("piece layers", self.piece_layers_value()));
        }
        if let Some(first) = self.trackers.first() {
            entries.push(("announce", Value::bytes(first)));
        }
        if self.trackers.len() > 1 {
            let tiers = self.trackers.iter().map(|url| Value::List(vec![Value::bytes(url)]));
            entries.push(("announce-list", Value::List(tiers.collect())));
        }
        if let Some(comment) = &self.comment {
            entries.push(("comment", Value::bytes(comment)));
        }
        entries.push(("created by", Value::bytes(concat!("mt/", env!("CARGO_PKG_VERSION")))));
        if let Some(date) = self.creation_date {
            entries.push(("creation date", Value::Int(date)));
        }
        match self.web_seeds.as_slice() {
            [] => {}
            [one] => entries.push(("url-list", Value::bytes(one))),
            many => {
                entries.push(("url-list", Value::List(many.iter().map(Value::bytes).collect())))
            }
        }
        // The outer dictionary is written by hand so the info bytes appear verbatim.
        let mut encoded: Vec<(&str, Vec<u8>)> =
            entries.into_iter().map(|(key, value)| (key, value.encode())).collect();
        encoded.push(("info", self.info_bytes()));
        encoded.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = vec![b'd'];
        for (key, value) in encoded {
            Value::bytes(key).encode_into(&mut out);
            out.extend_from_slice(&value);
        }
        out.push(b'e');
        out
    }

    /// Builds the file and parses it back, proving it is valid.
    pub fn build(&self) -> Result<(Vec<u8>, Metainfo), String> {
        let bytes = self.to_bytes();
        let metainfo = Metainfo::from_bytes(&bytes)?;
        Ok((bytes, metainfo))
    }
}

/// The BEP 47 `attr` string, letters in the order libtorrent writes them.
fn attr_letters(attr: &FileAttr) -> String {
    let mut out = String::new();
    for (set, letter) in [
        (attr.padding, 'p'),
        (attr.executable, 'x'),
        (attr.hidden, 'h'),
        (attr.symlink.is_some(), 'l'),
    ] {
        if set {
            out.push(letter);
        }
    }
    out
}

/// Puts `node` at `path` below `tree`, making the folders on the way.
fn insert_path(tree: &mut Value, path: &[&str], node: Value) {
    let Value::Dict(dict) = tree else { return };
    let Some((first, rest)) = path.split_first() else { return };
    if rest.is_empty() {
        dict.insert(first.as_bytes().to_vec(), node);
        return;
    }
    if dict.get(first.as_bytes()).is_none() {
        dict.insert(first.as_bytes().to_vec(), Value::Dict(Dict::new()));
    }
    if let Some(child) = dict.get_mut(first.as_bytes()) {
        insert_path(child, rest, node);
    }
}

fn int(n: u64) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
}
