//! `.torrent` files (BEP 3, 12, 19, 47, 52): parse and validate, keep the raw `info` bytes,
//! emit.
//!
//! [`Metainfo::from_bytes`] is the single gate every command goes through: after it, names and
//! paths are safe to join under an output folder, sizes add up without overflow, and the
//! piece hashes match the piece count. The info hashes are the SHA-1 (v1) and SHA-256 (v2) of
//! the `info` dictionary's bytes exactly as they appear in the file, never of a re-encoding.
//!
//! A v2 torrent (`meta version` 2, a `file tree`) aligns every file to a piece; its
//! [`Info::files`] holds the pad files that alignment implies, as a hybrid's v1 `files` list
//! does, so one [`Layout`] serves v1, v2 and hybrid torrents alike. Each v2 file's `pieces
//! root` is proven to match its `piece layers` entry, and a hybrid's v1 and v2 views are
//! proven to describe the same files.

mod v2;

mod build;
mod parse;
mod path;

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::layout::Layout;
use crate::merkle::Node;
use crate::types::{InfoHash, InfoHashV2};

pub use build::TorrentBuilder;
pub use path::{PathError, check_component};

/// Largest `.torrent` file we read.
pub const MAX_TORRENT_SIZE: u64 = 10 << 20;

/// A parsed and validated torrent.
#[derive(Clone, Debug)]
pub struct Metainfo {
    /// The `info` dictionary's content.
    pub info: Info,
    /// SHA-1 of the raw `info` bytes; for a v2-only torrent, the v2 hash truncated to 20
    /// bytes, which is what stands for it in handshakes and announces.
    pub info_hash: InfoHash,
    /// SHA-256 of the raw `info` bytes, for v2 and hybrid torrents.
    pub info_hash_v2: Option<InfoHashV2>,
    /// For each file of [`Info::files`], its BEP 52 piece layer (one hash per piece), for
    /// v2 files longer than one piece; empty otherwise.
    pub piece_layers: Vec<Vec<Node>>,
    /// The raw `info` dictionary, as it appears in the file.
    pub raw_info: Vec<u8>,
    /// Tracker URLs by tier (BEP 12); from `announce` alone when there is no `announce-list`.
    pub trackers: Vec<Vec<String>>,
    /// BEP 19 web seed URLs (`url-list`).
    pub web_seeds: Vec<String>,
    /// Free-text comment.
    pub comment: Option<String>,
    /// The program that made the torrent.
    pub created_by: Option<String>,
    /// Creation time, seconds since the Unix epoch.
    pub creation_date: Option<i64>,
    /// The piece geometry, proven consistent with `info` when parsing.
    layout: Layout,
}

/// The `info` dictionary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    /// Suggested name of the file (single-file) or top folder (multi-file).
    pub name: String,
    /// Bytes per piece.
    pub piece_length: u32,
    /// SHA-1 of each piece, in order; empty for a v2-only torrent.
    pub pieces: Vec<[u8; 20]>,
    /// v1, v2 or both.
    pub version: MetaVersion,
    /// The files in stream order. A single-file torrent has one entry whose path is empty.
    pub files: Vec<FileEntry>,
    /// BEP 27 private flag.
    pub private: bool,
}

/// How one piece is checked against its v2 hash (see [`Metainfo::v2_piece`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2Piece {
    /// The file the piece belongs to.
    pub file: usize,
    /// The stream range of the file's bytes in the piece (it starts at the piece's start).
    pub bytes: std::ops::Range<u64>,
    /// How many 16 KiB leaves the piece's subtree is padded to.
    pub width: usize,
    /// The piece layer's hash, or the file's pieces root for a file of one piece or less.
    pub expected: Node,
}

/// Which BEP a torrent's `info` follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MetaVersion {
    /// BEP 3: `pieces` and `length` or `files`.
    #[default]
    V1,
    /// BEP 52 only: `meta version` 2 and a `file tree`.
    V2,
    /// Both views of the same files (BEP 52 "hybrid").
    Hybrid,
}

impl MetaVersion {
    /// True when the torrent has v1 piece hashes.
    pub fn has_v1(self) -> bool {
        self != MetaVersion::V2
    }

    /// True when the torrent has a v2 file tree.
    pub fn has_v2(self) -> bool {
        self != MetaVersion::V1
    }

    /// `v1`, `v2` or `hybrid`.
    pub fn name(self) -> &'static str {
        match self {
            MetaVersion::V1 => "v1",
            MetaVersion::V2 => "v2",
            MetaVersion::Hybrid => "hybrid",
        }
    }
}

/// One file of a torrent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileEntry {
    /// Path components below the top folder; empty for a single-file torrent.
    pub path: Vec<String>,
    /// Size in bytes.
    pub length: u64,
    /// BEP 47 attributes.
    pub attr: FileAttr,
    /// BEP 52 `pieces root` of a v2 file with data.
    pub pieces_root: Option<Node>,
}

/// The BEP 47 attributes of a file (`attr`, one letter each).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileAttr {
    /// `p`: a pad file, zeros that align the next file to a piece; never on disk.
    pub padding: bool,
    /// `x`: the file is executable.
    pub executable: bool,
    /// `h`: the file is hidden (informational).
    pub hidden: bool,
    /// `l` with `symlink path`: a symbolic link to this path below the top folder.
    pub symlink: Option<Vec<String>>,
}

impl FileEntry {
    /// A plain file (no attributes).
    pub fn new(path: Vec<String>, length: u64) -> FileEntry {
        FileEntry { path, length, attr: FileAttr::default(), pieces_root: None }
    }

    /// True for a BEP 47 pad file.
    pub fn is_padding(&self) -> bool {
        self.attr.padding
    }

    /// True when the file's bytes are never on disk: a pad file or a symbolic link.
    pub fn is_virtual(&self) -> bool {
        self.attr.padding || self.attr.symlink.is_some()
    }
}

impl Info {
    /// Parses and validates a raw `info` dictionary on its own (a magnet link's metadata,
    /// before its piece layers are known). The error is a lowercase reason.
    pub fn from_bytes(raw: &[u8]) -> Result<Info, String> {
        parse::parse_info_bytes(raw)
    }

    /// The files whose v2 piece layer the `piece layers` must hold (those longer than a
    /// piece), with their `pieces root`, in order.
    pub fn files_with_piece_layers(&self) -> Vec<(usize, Node)> {
        let piece_length = u64::from(self.piece_length);
        let needs = |f: &FileEntry| f.pieces_root.filter(|_| f.length > piece_length);
        self.files.iter().enumerate().filter_map(|(i, f)| needs(f).map(|root| (i, root))).collect()
    }

    /// True when the torrent has a top folder with a `files` list.
    pub fn is_multi_file(&self) -> bool {
        !(self.files.len() == 1 && self.files[0].path.is_empty())
    }

    /// Sum of all file lengths.
    pub fn total_length(&self) -> u64 {
        self.files.iter().map(|f| f.length).sum()
    }

    /// Where each file lives when the torrent's data is at `root` (the file itself for a
    /// single-file torrent, the top folder otherwise).
    pub fn file_paths(&self, root: &Path) -> Vec<PathBuf> {
        self.files
            .iter()
            .map(|file| file.path.iter().fold(root.to_path_buf(), |path, part| path.join(part)))
            .collect()
    }
}

impl Metainfo {
    /// Parses and validates a torrent's bytes. The error is a lowercase reason.
    pub fn from_bytes(bytes: &[u8]) -> Result<Metainfo, String> {
        parse::parse(bytes)
    }

    /// The piece geometry of this torrent.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Reads and validates a `.torrent` file; errors name the path.
    pub fn load(path: &Path) -> Result<Metainfo, Error> {
        let file = std::fs::File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
        let mut bytes = Vec::new();
        file.take(MAX_TORRENT_SIZE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("cannot read", path, e))?;
        if bytes.len() as u64 > MAX_TORRENT_SIZE {
            return Err(Error::Torrent {
                path: path.to_path_buf(),
                reason: format!("file is larger than the {MAX_TORRENT_SIZE}-byte limit"),
            });
        }
        Metainfo::from_bytes(&bytes)
            .map_err(|reason| Error::Torrent { path: path.to_path_buf(), reason })
    }

    /// Where piece `piece` of a v2 or hybrid torrent is checked against its v2 hash: the
    /// file it belongs to (every v2 file starts at a piece), the stream range of that file's
    /// bytes in the piece (the rest of the piece is padding), and the expected hash with the
    /// width its leaves are padded to. `None` for a v1 torrent or a piece of no file.
    pub fn v2_piece(&self, piece: crate::types::PieceIndex) -> Option<V2Piece> {
        if !self.info.version.has_v2() {
            return None;
        }
        let range = self.layout.piece_range(piece);
        let slice = self.layout.slices(range.clone()).find(|s| !self.layout.is_virtual(s.file))?;
        let file = self.info.files.get(slice.file)?;
        let root = file.pieces_root?;
        let piece_length = self.info.piece_length;
        let layer = self.piece_layers.get(slice.file).filter(|layer| !layer.is_empty());
        let expected = match layer {
            Some(layer) => {
                *layer.get(usize::try_from(slice.offset / u64::from(piece_length)).ok()?)?
            }
            None => root,
        };
        Some(V2Piece {
            file: slice.file,
            bytes: range.start..range.start + slice.length,
            width: crate::merkle::piece_width(file.length, piece_length),
            expected,
        })
    }

    /// The BEP 9 magnet link: info hashes (`btih` for v1, `btmh` with the SHA-256
    /// multihash prefix `1220` for v2), name and trackers.
    pub fn magnet(&self) -> String {
        let mut link = String::from("magnet:?");
        if self.info.version.has_v1() {
            link.push_str(&format!("xt=urn:btih:{}&", self.info_hash.to_hex()));
        }
        if let Some(v2) = self.info_hash_v2 {
            link.push_str(&format!("xt=urn:btmh:1220{}&", v2.to_hex()));
        }
        link.push_str("dn=");
        link.push_str(&crate::types::url_encode(self.info.name.as_bytes()));
        for url in self.trackers.iter().flatten() {
            link.push_str("&tr=");
            link.push_str(&crate::types::url_encode(url.as_bytes()));
        }
        link
    }
}
