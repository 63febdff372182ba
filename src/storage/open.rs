//! Opening a torrent's files as [`Storage`]: for reading (missing or wrong-sized files make
//! their pieces unavailable), for a download (folders created, links under the output refused,
//! every byte reserved), and for a seed repairing its own data (nothing cut).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::{Backing, IoMode, Storage, StoredFile, allocate, links};

/// Where a download of some files keeps the bytes of the others that share its pieces.
#[derive(Clone, Debug)]
pub struct Parts {
    /// The parts file, hidden in the output folder.
    pub path: PathBuf,
    /// Per file, whether it is selected (created and written in place).
    pub selected: Vec<bool>,
}
use crate::error::Error;
use crate::layout::Layout;

impl Storage {
    /// Finds existing files for reading. A missing or wrong-sized file is not an error here:
    /// its pieces read as unavailable. Any other failure to look at a file is.
    pub fn open_read(paths: &[PathBuf], layout: &Layout, io: IoMode) -> Result<Storage, Error> {
        Storage::open_read_some(paths, layout, io, None)
    }

    /// Like [`Storage::open_read`] for a download of some files: a missing file left out of
    /// `parts.selected` is read from the parts file, when there is one of the right length.
    pub fn open_read_some(
        paths: &[PathBuf],
        layout: &Layout,
        io: IoMode,
        parts: Option<&Parts>,
    ) -> Result<Storage, Error> {
        let parts = parts.filter(|p| {
            std::fs::metadata(&p.path)
                .is_ok_and(|m| m.is_file() && m.len() == layout.total_length())
        });
        let mut files = Vec::with_capacity(paths.len());
        let mut at = 0u64;
        for (index, path) in paths.iter().enumerate() {
            let expected = layout.file_length(index);
            let start = at;
            at += expected;
            if let Some(parts) = parts
                && !parts.selected.get(index).copied().unwrap_or(true)
                && expected > 0
                && !layout.is_virtual(index)
                && !path.exists()
            {
                files.push(StoredFile {
                    path: parts.path.clone(),
                    length: layout.total_length(),
                    backing: Backing::Parts { at: start },
                    dirty: AtomicBool::new(false),
                });
                continue;
            }
            let backing = match std::fs::metadata(path) {
                _ if layout.is_virtual(index) => Backing::Virtual,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    Backing::Unavailable("file is missing".into())
                }
                Err(e) => return Err(Error::io("cannot stat", path, e)),
                Ok(meta) if meta.is_dir() => {
                    Backing::Unavailable("is a folder, expected a file".into())
                }
                Ok(meta) if meta.len() != expected => Backing::Unavailable(format!(
                    "has {} bytes, the torrent says {expected}",
                    meta.len()
                )),
                Ok(_) if expected == 0 => Backing::Empty,
                Ok(_) => Backing::Present,
            };
            files.push(StoredFile {
                path: path.clone(),
                length: expected,
                backing,
                dirty: AtomicBool::new(false),
            });
        }
        Ok(Storage::new(layout, files, false, io))
    }

    /// Creates or opens a download's files read-write, with every byte reserved on disk.
    /// No file, and no folder below `root` (the output folder, or the file of a single-file
    /// torrent), may be a symbolic link. A file longer than the torrent says is cut to its
    /// length only when `force` is set, and refused otherwise.
    pub fn open_write(
        paths: &[PathBuf],
        layout: &Layout,
        io: IoMode,
        root: &Path,
        force: bool,
    ) -> Result<Storage, Error> {
        Storage::open_write_some(paths, layout, io, root, force, None)
    }

    /// Like [`Storage::open_write`] for a selection of files: a file not in `parts.selected`
    /// is not created (one already there with the torrent's length is used as it is); its
    /// bytes live in the sparse file `parts.path` instead, at their stream offsets.
    pub fn open_write_some(
        paths: &[PathBuf],
        layout: &Layout,
        io: IoMode,
        root: &Path,
        force: bool,
        parts: Option<&Parts>,
    ) -> Result<Storage, Error> {
        let mut checked = std::collections::HashSet::new();
        for (index, path) in paths.iter().enumerate() {
            if !layout.is_virtual(index) {
                links::refuse_links(root, path, &mut checked)?;
            }
        }
        let hint = "; it is cut only when forced (--force)";
        Storage::open_writable(paths, layout, io, (!force).then_some(hint), Some(root), parts)
    }

    /// Like [`Storage::open_write`], for data that is being seeded and has pieces missing:
    /// a file longer than the torrent says is an error, never cut (it is someone's data),
    /// and links in the seeded data are followed as when it was read.
    pub fn open_repair(paths: &[PathBuf], layout: &Layout, io: IoMode) -> Result<Storage, Error> {
        Storage::open_writable(paths, layout, io, Some(""), None, None)
    }

    /// `refuse_longer` is the hint added to the error for a file longer than the torrent
    /// says (`None` cuts it); with `no_links_below`, files below that folder are created
    /// without following links ([`links::Walker`]) and every file is opened with
    /// `O_NOFOLLOW`.
    fn open_writable(
        paths: &[PathBuf],
        layout: &Layout,
        io: IoMode,
        refuse_longer: Option<&str>,
        no_links_below: Option<&Path>,
        parts: Option<&Parts>,
    ) -> Result<Storage, Error> {
        // A file left out that is not already there, complete in length, goes to the parts file.
        let to_parts: Vec<bool> = (0..paths.len())
            .map(|index| {
                let left_out =
                    parts.is_some_and(|p| !p.selected.get(index).copied().unwrap_or(true));
                left_out
                    && !layout.is_virtual(index)
                    && layout.file_length(index) > 0
                    && !std::fs::symlink_metadata(&paths[index])
                        .is_ok_and(|m| m.is_file() && m.len() == layout.file_length(index))
            })
            .collect();
        let no_follow = no_links_below.is_some();
        // A single-file output is its own root: it is opened below with O_NOFOLLOW.
        let mut walker = match no_links_below {
            Some(root) if paths.iter().any(|p| p != root) => Some(links::Walker::new(root)?),
            _ => None,
        };
        if let Some(hint) = refuse_longer {
            for (index, path) in paths.iter().enumerate() {
                let expected = layout.file_length(index);
                if !layout.is_virtual(index)
                    && !to_parts[index]
                    && let Ok(meta) = std::fs::symlink_metadata(path)
                    && meta.is_file()
                    && meta.len() > expected
                {
                    return Err(Error::Data {
                        path: path.clone(),
                        reason: format!(
                            "has {} bytes, the torrent says {expected}{hint}",
                            meta.len()
                        ),
                    });
                }
            }
        }
        let marks = (0..paths.len()).map(|i| layout.is_virtual(i) || to_parts[i]).collect();
        allocate::check_space(paths, &layout.clone().with_virtual_files(marks))?;
        let parts_file = match parts.filter(|_| to_parts.contains(&true)) {
            Some(parts) => Some(open_parts(parts, layout, walker.as_mut(), no_follow)?),
            None => None,
        };
        let mut files = Vec::with_capacity(paths.len());
        let mut at = 0u64;
        for (index, path) in paths.iter().enumerate() {
            let expected = layout.file_length(index);
            let start = at;
            at += expected;
            if let (true, Some(parts)) = (to_parts[index], parts_file.as_ref()) {
                files.push(StoredFile {
                    path: parts.clone(),
                    length: layout.total_length(),
                    backing: Backing::Parts { at: start },
                    dirty: AtomicBool::new(false),
                });
                continue;
            }
            if layout.is_virtual(index) {
                files.push(StoredFile {
                    path: path.clone(),
                    length: expected,
                    backing: Backing::Virtual,
                    dirty: AtomicBool::new(false),
                });
                continue;
            }
            let file = match walker.as_mut() {
                Some(walker) => walker.create(path)?,
                None => open_following(path, no_follow)?,
            };
            allocate::reserve(&file, expected, path)?;
            // Closed again here: files are reopened on use, a bounded number at a time.
            drop(file);
            let backing = if expected == 0 { Backing::Empty } else { Backing::Present };
            files.push(StoredFile {
                path: path.clone(),
                length: expected,
                backing,
                dirty: AtomicBool::new(false),
            });
        }
        let mut storage = Storage::new(layout, files, true, io);
        storage.no_follow = no_follow;
        Ok(storage)
    }
}

/// Creates `path`'s folders and opens it read-write, creating it; with `no_follow`, a link at
/// `path` itself is refused.
fn open_following(path: &Path, no_follow: bool) -> Result<File, Error> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io("cannot create folder", parent, e))?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(if no_follow { libc::O_NOFOLLOW } else { 0 })
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                return links::link_error(path);
            }
            let action = if path.exists() { "cannot open for writing" } else { "cannot create" };
            Error::io(action, path, e)
        })
}

/// Creates or opens the sparse parts file, as long as the torrent's stream (nothing is
/// reserved: only the bytes of boundary pieces are ever written to it).
fn open_parts(
    parts: &Parts,
    layout: &Layout,
    walker: Option<&mut links::Walker>,
    no_follow: bool,
) -> Result<PathBuf, Error> {
    let file = match walker {
        Some(walker) => walker.create(&parts.path)?,
        None => open_following(&parts.path, no_follow)?,
    };
    let path = &parts.path;
    let length = file.metadata().map_err(|e| Error::io("cannot stat", path, e))?.len();
    if length != layout.total_length() {
        file.set_len(layout.total_length()).map_err(|e| Error::io("cannot resize", path, e))?;
    }
    Ok(path.clone())
}
