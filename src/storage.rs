//! A torrent's files on disk, read and written by stream offset.
//!
//! [`Storage`] knows every file of a torrent but holds at most 128 of them open at
//! once (least recently used closed first), so a torrent of 100,000 files stays far below the
//! open-file limit and the kernel's mapping limit. It hides which backend serves a file: a
//! shared memory mapping ([`IoMode::Mmap`], the default) or `pread`/`pwrite`
//! ([`IoMode::Pread`], for network filesystems, files under 64 KiB, or on request). A mapped
//! file is read through its mapping and, when open for writing, written with `pwrite` (see
//! `Handle`); a file served by `pread` is never mapped. Empty files are never opened, nor are the files the layout marks
//! virtual (BEP 47 pad files and symbolic links): they read as zeros and writes to them are
//! dropped, so no `.pad` file ever appears on disk. A file opened again must still
//! have the torrent's length, or its pieces read as unavailable. Opening for reading
//! tolerates missing or wrong-sized files (their pieces are simply unavailable, which
//! `verify` reports); opening for writing creates folders, reserves
//! every byte up front with `fallocate` (or by writing it where that is not supported), and
//! fails cleanly when the disk is too small. A download of some files keeps the bytes of the
//! others that share a piece with them in one sparse, hidden parts file in the output folder,
//! at their stream offsets, so a later, wider selection finds them.

mod allocate;
mod error;
mod io_mode;
mod links;
pub mod mmap;
mod open;

use std::fs::{File, OpenOptions};
use std::ops::Range;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::layout::Layout;
use mmap::Map;

pub use allocate::{free_space, needed_space};
pub use error::StorageError;
pub use io_mode::IoMode;
pub use open::Parts;

/// What is known of one file without holding it open.
enum Backing {
    /// A zero-length file: nothing to read or write.
    Empty,
    /// Missing or wrong size (read-only opens only).
    Unavailable(String),
    /// There, with the torrent's length; opened on first use.
    Present,
    /// Never on disk (a BEP 47 pad file or a symbolic link): reads as zeros, writes dropped.
    Virtual,
    /// A file left out of a download's selection: its bytes that share a piece with a
    /// selected file live in the download's parts file (the stored path), at offset `at`,
    /// its stream offset. Always served by `pread`/`pwrite`: the parts file is sparse.
    Parts {
        /// Where the file's first byte is in the parts file.
        at: u64,
    },
}

struct StoredFile {
    path: PathBuf,
    length: u64,
    backing: Backing,
    /// Written since its last `fdatasync` (files are synced whole), so a flush skips files
    /// that hold nothing new without reopening them.
    dirty: AtomicBool,
}

/// An open file: a mapping or a descriptor.
///
/// A mapped file is always mapped read-only. Storage opened for reading closes the
/// descriptor once mapped; storage opened for writing keeps it, and writes received blocks
/// with `pwrite` and syncs with `fdatasync` through it. Reads, hashing and uploads still go
/// through the mapping: Linux has one page cache, so bytes written with `pwrite` are seen at
/// once through every shared mapping of the file. The file is never truncated while mapped
/// (its length is fixed when it is opened for writing).
enum Handle {
    Mapped(Map, Option<File>),
    Pread(File),
}

/// How many files one torrent keeps open (mapped or with a descriptor) at once. A torrent may
/// hold 100,000 files; the open-file limit is often 1,024 and the kernel allows 65,530
/// mappings per process, so files are opened on use and the least recently used is closed.
const OPEN_FILES: usize = 128;

/// Files shorter than this are read and written with `pread`/`pwrite` even when the torrent
/// is mapped: for a small file, setting up and tearing down a mapping (`mmap`, `madvise`,
/// `munmap`, and memmap2's own `fstat`) costs more system calls than the one `pread` that
/// reads it whole, and `make bench` measured create on 100,000 small files faster this way.
/// The choice depends only on the file's length, so one file never mixes the two backends.
const SMALL_FILE: u64 = 64 << 10;

/// What a file that is never on disk reads as, fed out in pieces of this size.
static ZEROS: [u8; 64 << 10] = [0; 64 << 10];

/// The open handles, most recently used last.
#[derive(Default)]
struct HandleCache {
    open: Vec<(usize, Arc<Handle>)>,
}

/// The open files of one torrent.
pub struct Storage {
    layout: Layout,
    files: Vec<StoredFile>,
    /// Opened for writing; read-only storage has nothing to flush.
    writable: bool,
    /// The backend, resolved once for the torrent's location.
    io: IoMode,
    cache: Mutex<HandleCache>,
    /// Set once the caller said it will read everything in order; new mappings are advised so.
    sequential: AtomicBool,
    /// Files are opened with `O_NOFOLLOW` (a download's output, see `links`).
    no_follow: bool,
    /// Unit tests hold this lock to make every write wait, as a slow disk would.
    #[cfg(test)]
    pub(crate) write_gate: Arc<Mutex<()>>,
}

impl Storage {
    fn new(layout: &Layout, files: Vec<StoredFile>, writable: bool, io: IoMode) -> Storage {
        let io = match files.first() {
            Some(first) => io.resolve(&first.path),
            None => IoMode::Mmap,
        };
        Storage {
            layout: layout.clone(),
            files,
            writable,
            io,
            cache: Mutex::new(HandleCache::default()),
            sequential: AtomicBool::new(false),
            no_follow: false,
            #[cfg(test)]
            write_gate: Arc::default(),
        }
    }

    /// The torrent's geometry.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// True when the files were opened for writing.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// Why file `index` is unavailable, if it is.
    pub fn unavailable(&self, index: usize) -> Option<&str> {
        match &self.files.get(index)?.backing {
            Backing::Unavailable(reason) => Some(reason),
            _ => None,
        }
    }

    /// The path of file `index`.
    pub fn path(&self, index: usize) -> Option<&Path> {
        self.files.get(index).map(|f| f.path.as_path())
    }

    /// The open handle of file `index`, opening it (and closing the least recently used one
    /// beyond [`OPEN_FILES`]) when it is not open.
    fn handle(&self, index: usize) -> Result<Arc<Handle>, StorageError> {
        {
            let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(at) = cache.open.iter().position(|(i, _)| *i == index) {
                let entry = cache.open.remove(at);
                let handle = entry.1.clone();
                cache.open.push(entry);
                return Ok(handle);
            }
        }
        // Opened without the lock, so threads hashing different files open them in parallel.
        let handle = Arc::new(self.open_handle(&self.files[index])?);
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, other)) = cache.open.iter().find(|(i, _)| *i == index) {
            return Ok(other.clone());
        }
        cache.open.push((index, handle.clone()));
        if cache.open.len() > OPEN_FILES {
            cache.open.remove(0);
        }
        Ok(handle)
    }

    /// The backend of one file: the torrent's, except that small files are never mapped.
    fn backend(&self, file: &StoredFile) -> IoMode {
        if self.io == IoMode::Pread
            || file.length < SMALL_FILE
            || matches!(file.backing, Backing::Parts { .. })
        {
            IoMode::Pread
        } else {
            IoMode::Mmap
        }
    }

    fn open_handle(&self, file: &StoredFile) -> Result<Handle, StorageError> {
        let path = &file.path;
        let io_error = |source| StorageError::Io { path: path.clone(), source };
        let flags = if self.no_follow { libc::O_NOFOLLOW } else { 0 };
        let handle =
            OpenOptions::new().read(true).write(self.writable).custom_flags(flags).open(path);
        let handle = handle.map_err(io_error)?;
        let length = handle.metadata().map_err(io_error)?.len();
        if length != file.length {
            return Err(StorageError::Unavailable {
                path: path.clone(),
                reason: format!(
                    "has {length} bytes, the torrent says {} (changed while in use?)",
                    file.length
                ),
            });
        }
        match self.backend(file) {
            IoMode::Pread => Ok(Handle::Pread(handle)),
            IoMode::Mmap | IoMode::Auto => {
                let map = Map::new(&handle, false).map_err(io_error)?;
                if self.sequential.load(Ordering::Relaxed) {
                    map.advise_sequential();
                }
                Ok(Handle::Mapped(map, self.writable.then_some(handle)))
            }
        }
    }

    /// Reads the stream range starting at `start` into `buf`.
    pub fn read(&self, start: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let mut done = 0;
        self.each_slice(start, buf.len(), |file, handle, offset, len| {
            let out = &mut buf[done..done + len];
            done += len;
            match handle {
                None => out.fill(0),
                Some(Handle::Mapped(map, _)) => map.read(offset, out),
                Some(Handle::Pread(handle)) => handle
                    .read_exact_at(out, u64::try_from(offset).unwrap_or(u64::MAX))
                    .map_err(|source| StorageError::Io { path: file.path.clone(), source })?,
            }
            Ok(())
        })
    }

    /// Writes `data` at stream offset `start`; storage opened for reading refuses.
    pub fn write(&self, start: u64, data: &[u8]) -> Result<(), StorageError> {
        if !self.writable {
            let path = self.files.first().map(|f| f.path.clone()).unwrap_or_default();
            return Err(StorageError::ReadOnly { path });
        }
        #[cfg(test)]
        let _slow = self.write_gate.lock().unwrap_or_else(PoisonError::into_inner);
        let mut done = 0;
        self.each_slice(start, data.len(), |file, handle, offset, len| {
            let part = &data[done..done + len];
            done += len;
            let result = match handle {
                None => return Ok(()),
                // Only storage opened for reading has no descriptor, and it refused above.
                Some(Handle::Mapped(map, None)) => map.write(offset, part),
                Some(Handle::Mapped(_, Some(handle)) | Handle::Pread(handle)) => {
                    handle.write_all_at(part, u64::try_from(offset).unwrap_or(u64::MAX))
                }
            };
            // Marked after the bytes are in, so a flush that saw the mark syncs them.
            file.dirty.store(true, Ordering::Release);
            result.map_err(|source| StorageError::Io { path: file.path.clone(), source })
        })
    }

    /// Feeds the bytes of `range` to `consume` in order, without copying when mapped.
    /// `scratch` is used by the pread backend.
    pub fn visit(
        &self,
        range: Range<u64>,
        scratch: &mut Vec<u8>,
        mut consume: impl FnMut(&[u8]),
    ) -> Result<(), StorageError> {
        let len = usize::try_from(range.end - range.start).unwrap_or(usize::MAX);
        self.each_slice(range.start, len, |file, handle, offset, len| {
            match handle {
                None => {
                    let mut left = len;
                    while left > 0 {
                        let n = left.min(ZEROS.len());
                        consume(&ZEROS[..n]);
                        left -= n;
                    }
                }
                Some(Handle::Mapped(map, _)) => map.with_slice(offset, len, &mut consume),
                Some(Handle::Pread(handle)) => {
                    scratch.resize(len, 0);
                    handle
                        .read_exact_at(scratch, u64::try_from(offset).unwrap_or(u64::MAX))
                        .map_err(|source| StorageError::Io { path: file.path.clone(), source })?;
                    consume(scratch);
                }
            }
            Ok(())
        })
    }

    /// Makes the written bytes of `range` durable. A file closed since it was written is
    /// reopened: its dirty pages stay in the page cache until written back.
    pub fn flush(&self, range: Range<u64>) -> Result<(), StorageError> {
        if !self.writable {
            return Ok(());
        }
        let len = usize::try_from(range.end - range.start).unwrap_or(usize::MAX);
        // Files are synced whole, and skipped unless written since.
        let wanted = |file: &StoredFile| file.dirty.swap(false, Ordering::AcqRel);
        self.each_slice_where(range.start, len, wanted, |file, handle, offset, len| {
            let result = match handle {
                None => return Ok(()),
                Some(Handle::Mapped(map, None)) => map.flush(offset, len),
                Some(Handle::Mapped(_, Some(handle)) | Handle::Pread(handle)) => {
                    handle.sync_data().inspect_err(|_| {
                        file.dirty.store(true, Ordering::Release);
                    })
                }
            };
            result.map_err(|source| StorageError::Io { path: file.path.clone(), source })
        })
    }

    /// Faults `range` in for reading ahead of use (mapped files only).
    pub fn prefetch(&self, range: Range<u64>) {
        self.each_mapped(range, |map, offset, len| map.prefault_read(offset, len));
    }

    /// Asks the kernel to start reading `range` into the page cache without waiting for it
    /// (mapped files only).
    pub fn will_need(&self, range: Range<u64>) {
        self.each_mapped(range, |map, offset, len| map.advise_will_need(offset, len));
    }

    /// Hints that the data will be read in order soon (mapped files only).
    pub fn advise_sequential(&self) {
        self.sequential.store(true, Ordering::Relaxed);
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        for (_, handle) in &cache.open {
            if let Handle::Mapped(map, _) = handle.as_ref() {
                map.advise_sequential();
            }
        }
    }

    /// Drops `range` from this process's resident memory (mapped files that are open only);
    /// the data stays in the file and the page cache.
    pub fn release(&self, range: Range<u64>) {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        for slice in self.layout.slices(range) {
            let open = cache.open.iter().find(|(i, _)| *i == slice.file);
            if let Some((_, handle)) = open
                && let Handle::Mapped(map, _) = handle.as_ref()
                && let (Ok(offset), Ok(len)) =
                    (usize::try_from(slice.offset), usize::try_from(slice.length))
            {
                map.release(offset, len);
            }
        }
    }

    /// Calls `f(map, offset_in_file, len)` for each slice of `range` in a mapped file; hints
    /// like these skip files served by `pread` (without opening them) and unavailable files.
    fn each_mapped(&self, range: Range<u64>, mut f: impl FnMut(&Map, usize, usize)) {
        for slice in self.layout.slices(range) {
            let Some(file) = self.files.get(slice.file) else { continue };
            if !matches!(file.backing, Backing::Present) || self.backend(file) != IoMode::Mmap {
                continue;
            }
            let (Ok(offset), Ok(len)) =
                (usize::try_from(slice.offset), usize::try_from(slice.length))
            else {
                continue;
            };
            if let Ok(handle) = self.handle(slice.file)
                && let Handle::Mapped(map, _) = handle.as_ref()
            {
                f(map, offset, len);
            }
        }
    }

    /// Calls `f(file, handle, offset_in_file, len)` for each non-empty file slice of the
    /// stream range (with no handle for a file that is never on disk), then turns an
    /// unavailable file or a mapping fault into an error.
    fn each_slice(
        &self,
        start: u64,
        len: usize,
        f: impl FnMut(&StoredFile, Option<&Handle>, usize, usize) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        self.each_slice_where(start, len, |_| true, f)
    }

    /// Like [`Storage::each_slice`], skipping (without opening) the available files for which
    /// `wanted` is false.
    fn each_slice_where(
        &self,
        start: u64,
        len: usize,
        wanted: impl Fn(&StoredFile) -> bool,
        mut f: impl FnMut(&StoredFile, Option<&Handle>, usize, usize) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let end = start.saturating_add(len as u64);
        if end > self.layout.total_length() {
            return Err(StorageError::Unavailable {
                path: self.files.first().map(|f| f.path.clone()).unwrap_or_default(),
                reason: format!("range {start}..{end} is past the end of the torrent"),
            });
        }
        for slice in self.layout.slices(start..end) {
            let file = &self.files[slice.file];
            match &file.backing {
                Backing::Unavailable(reason) => {
                    let reason = reason.clone();
                    return Err(StorageError::Unavailable { path: file.path.clone(), reason });
                }
                Backing::Empty => continue,
                Backing::Virtual => {
                    let length = usize::try_from(slice.length).map_err(|_| too_big(&file.path))?;
                    f(file, None, 0, length)?;
                    continue;
                }
                Backing::Present | Backing::Parts { .. } => {}
            }
            if slice.length == 0 || !wanted(file) {
                continue;
            }
            let at = match file.backing {
                Backing::Parts { at } => at,
                _ => 0,
            };
            let offset = at.checked_add(slice.offset).ok_or_else(|| too_big(&file.path))?;
            let offset = usize::try_from(offset).map_err(|_| too_big(&file.path))?;
            let length = usize::try_from(slice.length).map_err(|_| too_big(&file.path))?;
            let handle = self.handle(slice.file)?;
            f(file, Some(&handle), offset, length)?;
            if let Handle::Mapped(map, _) = handle.as_ref()
                && map.faulted()
            {
                return Err(StorageError::Fault { path: file.path.clone() });
            }
        }
        Ok(())
    }
}

fn too_big(path: &Path) -> StorageError {
    StorageError::Unavailable { path: path.to_path_buf(), reason: "file too large to map".into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_maps_local_files_and_explicit_choices_stand() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(IoMode::Auto.resolve(dir.path()), IoMode::Mmap);
        assert_eq!(IoMode::Pread.resolve(dir.path()), IoMode::Pread);
        assert_eq!("auto".parse::<IoMode>(), Ok(IoMode::Auto));
        assert!("mapped".parse::<IoMode>().is_err());
    }

    #[test]
    fn writing_to_storage_opened_for_reading_is_an_error_in_both_backends() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("data");
        std::fs::write(&path, [1u8; 100]).expect("write");
        let layout = Layout::new(64, &[100]).expect("layout");
        for io in [IoMode::Mmap, IoMode::Pread] {
            let storage =
                Storage::open_read(std::slice::from_ref(&path), &layout, io).expect("open");
            let err = storage.write(10, b"abc").expect_err("read-only storage refuses writes");
            assert!(err.to_string().contains("data"), "{err}");
            let mut buf = [0u8; 3];
            storage.read(10, &mut buf).expect("read");
            assert_eq!(buf, [1, 1, 1], "nothing was written ({io:?})");
        }
    }

    #[test]
    fn opening_for_repair_never_cuts_a_longer_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("data");
        std::fs::write(&path, [1u8; 120]).expect("write");
        let layout = Layout::new(64, &[100]).expect("layout");
        let paths = [path.clone()];
        let err = Storage::open_repair(&paths, &layout, IoMode::Mmap).err().expect("refused");
        assert!(err.to_string().contains("has 120 bytes, the torrent says 100"), "{err}");
        assert_eq!(std::fs::read(&path).expect("read"), [1u8; 120]);
        std::fs::write(&path, [1u8; 80]).expect("write");
        let storage = Storage::open_repair(&paths, &layout, IoMode::Mmap).expect("repairable");
        assert!(storage.is_writable());
        assert_eq!(std::fs::read(&path).expect("read")[..80], [1u8; 80], "a short file grows");
    }
}
