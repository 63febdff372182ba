//! `.torrent` files (BEP 3, 12, 19): parse and validate, keep the raw `info` bytes, emit.
//!
//! [`Metainfo::from_bytes`] is the single gate every command goes through: after it, names and
//! paths are safe to join under an output folder, sizes add up without overflow, and the
//! piece hashes match the piece count. The info hash is the SHA-1 of the `info` dictionary's
//! bytes exactly as they appear in the file, never of a re-encoding.

mod build;
mod parse;
mod path;

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::layout::Layout;
use crate::types::InfoHash;

pub use build::TorrentBuilder;
pub use path::{PathError, check_component};

/// Largest `.torrent` file we read.
pub const MAX_TORRENT_SIZE: u64 = 10 << 20;

/// A parsed and validated torrent.
#[derive(Clone, Debug)]
pub struct Metainfo {
    /// The `info` dictionary's content.
    pub info: Info,
    /// SHA-1 of the raw `info` bytes.
    pub info_hash: InfoHash,
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
    /// SHA-1 of each piece, in order.
    pub pieces: Vec<[u8; 20]>,
    /// The files in stream order. A single-file torrent has one entry whose path is empty.
    pub files: Vec<FileEntry>,
    /// BEP 27 private flag.
    pub private: bool,
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
        FileEntry { path, length, attr: FileAttr::default() }
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

    /// The BEP 9 magnet link: info hash, name and trackers.
    pub fn magnet(&self) -> String {
        let mut link = format!(
            "magnet:?xt=urn:btih:{}&dn={}",
            self.info_hash.to_hex(),
            crate::types::url_encode(self.info.name.as_bytes())
        );
        for url in self.trackers.iter().flatten() {
            link.push_str("&tr=");
            link.push_str(&crate::types::url_encode(url.as_bytes()));
        }
        link
    }
}
