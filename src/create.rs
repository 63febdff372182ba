//! Making a torrent from a file or folder: walk the input, hash it, emit the metainfo.
//!
//! A folder's files are walked recursively and sorted by their path bytes ('/'-joined), empty
//! files included, which gives the same info hash as mktorrent for the same input and piece
//! length. Symbolic links are followed only when their target stays inside the input; any
//! other link is refused by name. The output is written to a temporary name and renamed.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

mod v2;

use crate::error::Error;
use crate::hash;
use crate::layout::Layout;
use crate::metainfo::{FileEntry, MetaVersion, Metainfo, TorrentBuilder, check_component};
use crate::storage::{IoMode, Storage};

/// Smallest and largest piece lengths `create` accepts.
pub const PIECE_LENGTH_RANGE: (u32, u32) = (16 << 10, 64 << 20);

/// What to create.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    /// The file or folder to describe.
    pub input: PathBuf,
    /// Piece length; `None` picks one from the input size.
    pub piece_length: Option<u32>,
    /// Tracker URLs, one tier each.
    pub trackers: Vec<String>,
    /// Web seed URLs.
    pub web_seeds: Vec<String>,
    /// BEP 27 private flag.
    pub private: bool,
    /// Comment.
    pub comment: Option<String>,
    /// Leave out the creation date (for reproducible files).
    pub no_date: bool,
    /// Hashing threads; 0 means one per core.
    pub threads: usize,
    /// v1 (the default, as mktorrent makes), v2 only, or hybrid (BEP 52).
    pub version: MetaVersion,
}

/// A created torrent.
pub struct Created {
    /// The `.torrent` file's bytes.
    pub bytes: Vec<u8>,
    /// The same, parsed.
    pub metainfo: Metainfo,
    /// Time spent hashing.
    pub hash_time: Duration,
}

/// One input file found by the walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputFile {
    /// Where it is on disk.
    pub disk_path: PathBuf,
    /// Its path components below the input (empty for a single-file input).
    pub path: Vec<String>,
    /// Its size.
    pub length: u64,
}

/// The automatic piece length: 256 KiB up to 512 MiB, then doubling to keep at most about
/// 2048 pieces, capped at 16 MiB.
pub fn auto_piece_length(total: u64) -> u32 {
    let mut length: u32 = 256 << 10;
    while total.div_ceil(u64::from(length)) > 2048 && length < (16 << 20) {
        length *= 2;
    }
    length
}

/// Checks a user-chosen piece length.
pub fn check_piece_length(length: u32) -> Result<u32, Error> {
    let (min, max) = PIECE_LENGTH_RANGE;
    if !length.is_power_of_two() || !(min..=max).contains(&length) {
        return Err(Error::Usage(format!(
            "piece length {length} must be a power of two from 16 KiB to 64 MiB"
        )));
    }
    Ok(length)
}

/// Lists the files of `input` in torrent order.
pub fn walk(input: &Path) -> Result<Vec<InputFile>, Error> {
    let meta = std::fs::metadata(input).map_err(|e| Error::io("cannot read", input, e))?;
    if meta.is_file() {
        return Ok(vec![InputFile {
            disk_path: input.to_path_buf(),
            path: Vec::new(),
            length: meta.len(),
        }]);
    }
    let root = input.canonicalize().map_err(|e| Error::io("cannot resolve", input, e))?;
    let mut files = Vec::new();
    let mut visited = vec![root.clone()];
    walk_folder(input, &root, &mut Vec::new(), &mut visited, &mut files)?;
    // Each key is joined once, not once per comparison: a folder may hold 100,000 files.
    files.sort_by_cached_key(|file| file.path.join("/"));
    Ok(files)
}

fn walk_folder(
    folder: &Path,
    root: &Path,
    prefix: &mut Vec<String>,
    visited: &mut Vec<PathBuf>,
    out: &mut Vec<InputFile>,
) -> Result<(), Error> {
    let entries = std::fs::read_dir(folder).map_err(|e| Error::io("cannot list", folder, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("cannot list", folder, e))?;
        let path = entry.path();
        let name = entry.file_name().into_string().map_err(|_| Error::Data {
            path: path.clone(),
            reason: "file name is not valid UTF-8".into(),
        })?;
        check_component(&name)
            .map_err(|e| Error::Data { path: path.clone(), reason: e.to_string() })?;
        let kind = entry.file_type().map_err(|e| Error::io("cannot stat", &path, e))?;
        if kind.is_symlink() {
            let target = path.canonicalize().map_err(|e| Error::io("broken symlink", &path, e))?;
            if !target.starts_with(root) {
                return Err(Error::Data {
                    path,
                    reason: format!("symlink points outside the input, to {}", target.display()),
                });
            }
        }
        // A link is followed to its target; any other entry is looked at through the folder
        // already open, without resolving its whole path again.
        let meta = if kind.is_symlink() { std::fs::metadata(&path) } else { entry.metadata() };
        let meta = meta.map_err(|e| Error::io("cannot stat", &path, e))?;
        prefix.push(name);
        if meta.is_dir() {
            let real = path.canonicalize().map_err(|e| Error::io("cannot resolve", &path, e))?;
            if visited.contains(&real) {
                return Err(Error::Data { path, reason: "symlink loop".into() });
            }
            visited.push(real);
            walk_folder(&path, root, prefix, visited, out)?;
            visited.pop();
        } else if meta.is_file() {
            out.push(InputFile { disk_path: path, path: prefix.clone(), length: meta.len() });
        }
        prefix.pop();
    }
    Ok(())
}

/// The torrent name for an input path: its last component.
pub fn input_name(input: &Path) -> Result<String, Error> {
    let absolute = std::path::absolute(input).map_err(|e| Error::io("cannot resolve", input, e))?;
    let name = absolute.components().next_back().and_then(|c| c.as_os_str().to_str());
    let name = name.filter(|n| check_component(n).is_ok()).ok_or_else(|| Error::Data {
        path: input.to_path_buf(),
        reason: "cannot name a torrent after this path".into(),
    })?;
    Ok(name.to_string())
}

/// Hashes the input's `files` (as [`walk`] lists them) and builds the torrent. `progress`
/// counts hashed bytes.
pub fn create(
    options: &CreateOptions,
    files: Vec<InputFile>,
    progress: &AtomicU64,
) -> Result<Created, Error> {
    let name = input_name(&options.input)?;
    let lengths: Vec<u64> = files.iter().map(|f| f.length).collect();
    let total: u64 = lengths.iter().sum();
    if total == 0 {
        return Err(Error::Data {
            path: options.input.clone(),
            reason: "nothing to share: the input holds no bytes".into(),
        });
    }
    let piece_length = match options.piece_length {
        Some(length) => check_piece_length(length)?,
        None => auto_piece_length(total),
    };
    if options.version.has_v2() {
        return create_v2(options, name, files, piece_length, progress);
    }
    let layout = Layout::new(piece_length, &lengths)
        .map_err(|e| Error::Data { path: options.input.clone(), reason: e.to_string() })?;
    let paths: Vec<PathBuf> = files.iter().map(|f| f.disk_path.clone()).collect();
    let storage = Storage::open_read(&paths, &layout, IoMode::Auto)?;
    for (index, path) in paths.iter().enumerate() {
        if let Some(reason) = storage.unavailable(index) {
            let reason = format!("{reason} (changed while reading?)");
            return Err(Error::Data { path: path.clone(), reason });
        }
    }
    let started = Instant::now();
    let pieces = hash::hash_all(&storage, options.threads, progress)?;
    let hash_time = started.elapsed();
    let builder = TorrentBuilder {
        name,
        piece_length,
        pieces,
        files: files.into_iter().map(|f| FileEntry::new(f.path, f.length)).collect(),
        private: options.private,
        trackers: options.trackers.clone(),
        web_seeds: options.web_seeds.clone(),
        comment: options.comment.clone(),
        creation_date: (!options.no_date).then(unix_now),
        ..TorrentBuilder::default()
    };
    let (bytes, metainfo) =
        builder.build().map_err(|reason| Error::Data { path: options.input.clone(), reason })?;
    Ok(Created { bytes, metainfo, hash_time })
}

/// [`create`] for a v2 or hybrid torrent.
fn create_v2(
    options: &CreateOptions,
    name: String,
    mut files: Vec<InputFile>,
    piece_length: u32,
    progress: &AtomicU64,
) -> Result<Created, Error> {
    v2::sort_files(&mut files);
    let started = Instant::now();
    let hashed =
        v2::hash(&options.input, files, piece_length, options.version, options.threads, progress)?;
    let hash_time = started.elapsed();
    let builder = TorrentBuilder {
        name,
        piece_length,
        pieces: hashed.pieces,
        files: hashed.files,
        version: options.version,
        piece_layers: hashed.piece_layers,
        private: options.private,
        trackers: options.trackers.clone(),
        web_seeds: options.web_seeds.clone(),
        comment: options.comment.clone(),
        creation_date: (!options.no_date).then(unix_now),
    };
    let (bytes, metainfo) =
        builder.build().map_err(|reason| Error::Data { path: options.input.clone(), reason })?;
    Ok(Created { bytes, metainfo, hash_time })
}

fn unix_now() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Writes `bytes` to `path` through a temporary file in the same folder, then renames it, so
/// a reader never sees a half-written file. An existing `path` is replaced only with `force`.
pub fn write_atomically(path: &Path, bytes: &[u8], force: bool) -> Result<(), Error> {
    use std::io::Write;
    if !force && path.exists() {
        return Err(Error::Usage(format!(
            "{} already exists; pass --force to replace it",
            path.display()
        )));
    }
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let temp = folder.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        Error::io("cannot write", path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_piece_length_doubles_past_512_mib() {
        assert_eq!(auto_piece_length(1), 256 << 10);
        assert_eq!(auto_piece_length(512 << 20), 256 << 10);
        assert_eq!(auto_piece_length((512 << 20) + 1), 512 << 10);
        assert_eq!(auto_piece_length(4 << 30), 2 << 20);
        assert_eq!(auto_piece_length(1 << 50), 16 << 20);
    }

    #[test]
    fn piece_length_must_be_a_power_of_two_in_range() {
        assert!(check_piece_length(16 << 10).is_ok());
        assert!(check_piece_length(3 << 14).is_err());
        assert!(check_piece_length(8 << 10).is_err());
        assert!(check_piece_length(128 << 20).is_err());
    }

    #[test]
    fn walk_sorts_by_path_bytes_and_keeps_empty_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("top");
        std::fs::create_dir_all(root.join("a")).expect("mkdir");
        std::fs::write(root.join("a/b"), b"x").expect("write");
        std::fs::write(root.join("a.txt"), b"").expect("write");
        std::fs::write(root.join("Z"), b"yy").expect("write");
        let paths: Vec<String> =
            walk(&root).expect("walk").iter().map(|f| f.path.join("/")).collect();
        assert_eq!(paths, ["Z", "a.txt", "a/b"]);
    }

    #[test]
    fn symlinks_out_of_the_input_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("top");
        std::fs::create_dir_all(&root).expect("mkdir");
        std::fs::write(dir.path().join("secret"), b"x").expect("write");
        std::fs::write(root.join("inside"), b"x").expect("write");
        std::os::unix::fs::symlink(root.join("inside"), root.join("ok")).expect("link");
        assert_eq!(walk(&root).expect("walk").len(), 2);
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("bad")).expect("link");
        let err = walk(&root).expect_err("outside").to_string();
        assert!(err.contains("symlink points outside the input"), "{err}");
    }
}
