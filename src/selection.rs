//! Choosing some files of a torrent: `--only PATTERN` globs, `--files 0,3-5` indexes (as
//! `mt show` numbers them, pad files counted) and a magnet link's `so=` (BEP 53), turned into
//! the files to download and the pieces that holds.
//!
//! A pattern matches the path inside the torrent without its top folder (for a single-file
//! torrent, its name), case-sensitively: `*` and `?` stay within one path component, `**`
//! crosses them. Files chosen either way are selected; pad files never are (they are zeros).
//! A pattern or index that names no file is an error, so a typo cannot silently select
//! nothing. This module is pure: no I/O.

use std::fmt;

use crate::bitfield::Bitfield;
use crate::layout::Layout;
use crate::metainfo::Info;

/// Why a selection cannot be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectionError {
    /// An index list that cannot be read.
    BadIndexes(String),
    /// An index past the last file.
    NoSuchFile {
        /// The index given.
        index: u64,
        /// Files in the torrent.
        files: usize,
    },
    /// A pattern that matches no file.
    NoMatch(String),
}

impl fmt::Display for SelectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectionError::BadIndexes(text) => {
                write!(f, "file indexes {text:?}: expected a list such as 0,3-5")
            }
            SelectionError::NoSuchFile { index, files } => {
                write!(f, "file index {index} is past the torrent's {files} files (0-based)")
            }
            SelectionError::NoMatch(pattern) => write!(f, "pattern {pattern:?} matches no file"),
        }
    }
}

impl std::error::Error for SelectionError {}

/// Reads `0,3-5` (ranges inclusive) into ranges of indexes.
pub fn parse_indexes(text: &str) -> Result<Vec<(u64, u64)>, SelectionError> {
    let bad = || SelectionError::BadIndexes(text.to_string());
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => {
                (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?)
            }
            None => {
                let n = part.parse().map_err(|_| bad())?;
                (n, n)
            }
        };
        if first > last {
            return Err(bad());
        }
        out.push((first, last));
    }
    Ok(out)
}

/// Whether `path` (components joined by `/`) matches the glob `pattern`.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    matches(pattern.as_bytes(), path.as_bytes())
}

fn matches(pattern: &[u8], path: &[u8]) -> bool {
    match pattern {
        [] => path.is_empty(),
        [b'*', b'*', rest @ ..] => {
            // `**/` also matches no folder at all.
            let rest_after_slash = rest.strip_prefix(b"/").unwrap_or(rest);
            (0..=path.len()).any(|i| matches(rest, &path[i..]))
                || (rest.first() == Some(&b'/') && matches(rest_after_slash, path))
        }
        [b'*', rest @ ..] => {
            let component = path.iter().position(|&b| b == b'/').unwrap_or(path.len());
            (0..=component).any(|i| matches(rest, &path[i..]))
        }
        [b'?', rest @ ..] => {
            matches!(path.first(), Some(&c) if c != b'/') && matches(rest, &path[1..])
        }
        [c, rest @ ..] => path.first() == Some(c) && matches(rest, &path[1..]),
    }
}

/// The files chosen for download.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    files: Vec<bool>,
}

impl Selection {
    /// The files `patterns` or `indexes` name; `None` when both are empty (every file).
    pub fn choose(
        info: &Info,
        patterns: &[String],
        indexes: &[(u64, u64)],
    ) -> Result<Option<Selection>, SelectionError> {
        if patterns.is_empty() && indexes.is_empty() {
            return Ok(None);
        }
        let count = info.files.len();
        let mut files = vec![false; count];
        for &(first, last) in indexes {
            if last >= count as u64 {
                return Err(SelectionError::NoSuchFile { index: last, files: count });
            }
            for index in first..=last {
                files[usize::try_from(index).unwrap_or(usize::MAX)] = true;
            }
        }
        for pattern in patterns {
            let mut any = false;
            for (index, file) in info.files.iter().enumerate() {
                let path = match info.is_multi_file() {
                    true => file.path.join("/"),
                    false => info.name.clone(),
                };
                if glob_match(pattern, &path) {
                    files[index] = true;
                    any = true;
                }
            }
            if !any {
                return Err(SelectionError::NoMatch(pattern.clone()));
            }
        }
        for (selected, file) in files.iter_mut().zip(&info.files) {
            *selected &= !file.is_padding();
        }
        Ok(Some(Selection { files }))
    }

    /// Per file, whether it is selected.
    pub fn files(&self) -> &[bool] {
        &self.files
    }

    /// The pieces that hold a byte of a selected file.
    pub fn pieces(&self, layout: &Layout) -> Bitfield {
        let mut wanted = Bitfield::new(layout.piece_count());
        for (index, _) in self.files.iter().enumerate().filter(|(_, s)| **s) {
            if layout.file_length(index) > 0 {
                for piece in layout.file_pieces(index) {
                    wanted.set(piece);
                }
            }
        }
        wanted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_stays_in_one_component_and_two_cross_them() {
        assert!(glob_match("*.mkv", "a.mkv"));
        assert!(!glob_match("*.mkv", "video/a.mkv"));
        assert!(glob_match("**.mkv", "video/a.mkv"));
        assert!(glob_match("**/a.mkv", "a.mkv"));
        assert!(glob_match("video/**", "video/x/y.bin"));
        assert!(glob_match("disc/0?.wav", "disc/01.wav"));
        assert!(!glob_match("disc/0?.wav", "disc/0/.wav"));
        assert!(!glob_match("A.mkv", "a.mkv"), "case-sensitive");
    }

    #[test]
    fn index_lists_take_single_numbers_and_ranges() {
        assert_eq!(parse_indexes("0,3-5"), Ok(vec![(0, 0), (3, 5)]));
        assert!(parse_indexes("5-3").is_err());
        assert!(parse_indexes("a").is_err());
        assert!(parse_indexes("").is_err());
    }
}
