//! Reserving disk space before a download writes through a mapping.
//!
//! A mapped write to a page the filesystem cannot back is a SIGBUS, so `mt get` reserves
//! every byte with `fallocate` first, or, on a filesystem without it, by writing every byte
//! (zeros into holes, what is there back in place). Before that it compares what is still to be reserved
//! with the free space, so a disk that is too small is one clear error before any transfer.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::FallocateFlags;

use crate::error::Error;
use crate::layout::Layout;

/// Bytes the files still need on disk: their lengths minus what is already allocated.
pub fn needed_space(paths: &[PathBuf], layout: &Layout) -> u64 {
    paths
        .iter()
        .enumerate()
        .filter(|(index, _)| !layout.is_virtual(*index))
        .map(|(index, path)| {
            let allocated = std::fs::metadata(path).map(|m| m.blocks() * 512).unwrap_or(0);
            layout.file_length(index).saturating_sub(allocated)
        })
        .sum()
}

/// Free bytes for unprivileged users on the filesystem holding `path` (or its nearest
/// existing ancestor).
pub fn free_space(path: &Path) -> Option<u64> {
    let existing = path.ancestors().find(|p| p.exists() && !p.as_os_str().is_empty());
    let existing = existing.unwrap_or(Path::new("."));
    let stat = rustix::fs::statvfs(existing).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

pub(super) fn check_space(paths: &[PathBuf], layout: &Layout) -> Result<(), Error> {
    let Some(first) = paths.first() else { return Ok(()) };
    let needed = needed_space(paths, layout);
    if let Some(free) = free_space(first)
        && needed > free
    {
        let root = first.parent().unwrap_or(first).to_path_buf();
        return Err(Error::DiskFull { path: root, needed, free });
    }
    Ok(())
}

/// Makes `file` exactly `length` bytes with every block allocated.
pub(super) fn reserve(file: &File, length: u64, path: &Path) -> Result<(), Error> {
    reserve_with(file, length, path, |file, length| {
        rustix::fs::fallocate(file, FallocateFlags::empty(), 0, length)
    })
}

/// [`reserve`] with `allocate` standing for `fallocate`, so tests can be a filesystem
/// without it.
fn reserve_with(
    file: &File,
    length: u64,
    path: &Path,
    allocate: impl Fn(&File, u64) -> Result<(), rustix::io::Errno>,
) -> Result<(), Error> {
    let current = file.metadata().map_err(|e| Error::io("cannot stat", path, e))?.len();
    if current > length {
        file.set_len(length).map_err(|e| Error::io("cannot resize", path, e))?;
    }
    if length == 0 {
        return Ok(());
    }
    match allocate(file, length) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::NOSPC) => {
            let free = free_space(path).unwrap_or(0);
            Err(Error::DiskFull { path: path.to_path_buf(), needed: length, free })
        }
        // Filesystems without fallocate: write every byte instead, as glibc's
        // posix_fallocate does, so no hole is left for a mapped write to fault on.
        Err(rustix::io::Errno::OPNOTSUPP) | Err(rustix::io::Errno::INVAL) => {
            file.set_len(length).map_err(|e| Error::io("cannot resize", path, e))?;
            write_through(file, length, path)
        }
        Err(errno) => Err(Error::io("cannot allocate", path, errno.into())),
    }
}

/// Allocates every block of `file`'s first `length` bytes by writing back what reading them
/// gives: the bytes already there, and zeros in holes. Nothing else writes to the file while
/// a download opens it.
fn write_through(file: &File, length: u64, path: &Path) -> Result<(), Error> {
    const CHUNK: u64 = 1 << 20;
    let mut buf = Vec::new();
    let mut at = 0;
    while at < length {
        let len = usize::try_from(CHUNK.min(length - at)).unwrap_or(1 << 20);
        buf.resize(len, 0);
        file.read_exact_at(&mut buf, at).map_err(|e| Error::io("cannot read", path, e))?;
        file.write_all_at(&buf, at).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOSPC) => {
                let free = free_space(path).unwrap_or(0);
                Error::DiskFull { path: path.to_path_buf(), needed: length - at, free }
            }
            _ => Error::io("cannot allocate", path, e),
        })?;
        at += CHUNK;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_fallocate_every_byte_is_still_reserved_and_data_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("data");
        std::fs::write(&path, [5u8; 100]).expect("write");
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).expect("open");
        let length = 1 << 20;
        reserve_with(&file, length, &path, |_, _| Err(rustix::io::Errno::OPNOTSUPP))
            .expect("reserved");
        let meta = file.metadata().expect("stat");
        assert_eq!(meta.len(), length);
        assert!(meta.blocks() * 512 >= length, "no holes: {} blocks", meta.blocks());
        let mut head = [0u8; 101];
        file.read_exact_at(&mut head, 0).expect("read");
        assert_eq!(head[..100], [5u8; 100], "what was there is kept");
        assert_eq!(head[100], 0);
    }
}
