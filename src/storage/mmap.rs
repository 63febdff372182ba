//! Memory-mapped files, and the one place in the crate that uses `unsafe`.
//!
//! A [`Map`] is a shared mapping of a whole file. Reads and writes copy between the mapping and
//! caller buffers; hashing borrows the mapped bytes directly. Mapped memory can fault with
//! SIGBUS when someone else truncates the file under us (or the disk cannot back a page). We
//! turn that into an error instead of a crash: every live mapping is recorded in a fixed table,
//! and a SIGBUS handler that finds the faulting address in one of them maps a zeroed anonymous
//! page over it, marks that mapping as faulted, and returns so the access can finish. Callers
//! check [`Map::faulted`] after each access, so a faulted mapping reports an error forever after.
//! A fault outside our mappings goes to the handler that was installed before ours.

#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use memmap2::{Advice, MmapOptions, MmapRaw, UncheckedAdvice};

/// How many mappings may be live at once (one per non-empty file of every open torrent).
const SLOTS: usize = 4096;

struct Slot {
    start: AtomicUsize,
    len: AtomicUsize,
    faulted: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_SLOT: Slot =
    Slot { start: AtomicUsize::new(0), len: AtomicUsize::new(0), faulted: AtomicBool::new(false) };
static TABLE: [Slot; SLOTS] = [EMPTY_SLOT; SLOTS];
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(4096);
static INSTALL: Once = Once::new();
static mut PREVIOUS: Option<libc::sigaction> = None;

/// A shared, read or read-write mapping of one whole, non-empty file.
pub struct Map {
    raw: MmapRaw,
    slot: usize,
    /// Mapped read-write; a write into a read-only mapping would be a SIGSEGV.
    writable: bool,
}

impl Map {
    /// Maps `file` (which must not be empty); `writable` selects a read-write mapping.
    pub fn new(file: &File, writable: bool) -> io::Result<Map> {
        install_handler();
        let raw = if writable {
            MmapOptions::new().map_raw(file)?
        } else {
            MmapOptions::new().map_raw_read_only(file)?
        };
        let start = raw.as_ptr() as usize;
        let slot = claim_slot(start, raw.len())
            .ok_or_else(|| io::Error::other("too many files mapped at once"))?;
        Ok(Map { raw, slot, writable })
    }

    /// `offset..offset+len` widened to start on a page boundary and clamped to the mapping,
    /// as `madvise` wants it.
    fn pages(&self, offset: usize, len: usize) -> (usize, usize) {
        let page = PAGE_SIZE.load(Ordering::Relaxed);
        let start = offset - offset % page;
        (start, clamp(start, len + (offset - start), self.raw.len()))
    }

    /// Length of the mapping in bytes.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// True for a zero-length mapping (never made: empty files are not mapped).
    pub fn is_empty(&self) -> bool {
        self.raw.len() == 0
    }

    /// True once any access to this mapping has faulted; its data can no longer be trusted.
    pub fn faulted(&self) -> bool {
        TABLE[self.slot].faulted.load(Ordering::Acquire)
    }

    /// Calls `f` with the mapped bytes `offset..offset+len`. The caller must check
    /// [`Map::faulted`] afterwards: on a fault the bytes read as zeros.
    pub fn with_slice<R>(&self, offset: usize, len: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        let len = clamp(offset, len, self.raw.len());
        // SAFETY: offset..offset+len lies inside the live mapping (clamped above). The memory
        // may change under us if another process writes the file; we only read it as bytes,
        // and a fault is turned into zero pages by the SIGBUS handler, never a crash.
        let bytes = unsafe { std::slice::from_raw_parts(self.raw.as_ptr().add(offset), len) };
        f(bytes)
    }

    /// Copies mapped bytes starting at `offset` into `buf`.
    pub fn read(&self, offset: usize, buf: &mut [u8]) {
        self.with_slice(offset, buf.len(), |bytes| buf[..bytes.len()].copy_from_slice(bytes));
    }

    /// Copies `data` into the mapping at `offset`; a read-only mapping refuses with
    /// `PermissionDenied`.
    pub fn write(&self, offset: usize, data: &[u8]) -> io::Result<()> {
        if !self.writable {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "mapped read-only"));
        }
        let len = clamp(offset, data.len(), self.raw.len());
        // SAFETY: the mapping is read-write (checked above) and the destination lies inside it
        // (clamped above); it cannot overlap `data`, which is caller memory. Concurrent
        // writers touch disjoint blocks: the session hands each block to exactly one writer.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.raw.as_mut_ptr().add(offset), len);
        }
        Ok(())
    }

    /// Writes dirty pages in `offset..offset+len` back to the file and waits for them.
    pub fn flush(&self, offset: usize, len: usize) -> io::Result<()> {
        self.raw.flush_range(offset, clamp(offset, len, self.raw.len()))
    }

    /// Faults `offset..offset+len` in for reading with one call, instead of one fault per
    /// few pages as the bytes are touched.
    pub fn prefault_read(&self, offset: usize, len: usize) {
        let (start, len) = self.pages(offset, len);
        // A hint: where the kernel declines, reads fault the pages in as usual.
        let _ = self.raw.advise_range(Advice::PopulateRead, start, len);
    }

    /// Starts reading `offset..offset+len` into the page cache without waiting for it.
    pub fn advise_will_need(&self, offset: usize, len: usize) {
        let (start, len) = self.pages(offset, len);
        // A hint: where the kernel declines, reads fault the pages in as usual.
        let _ = self.raw.advise_range(Advice::WillNeed, start, len);
    }

    /// Tells the kernel we will read the whole mapping in order.
    pub fn advise_sequential(&self) {
        // Advice is a hint; a kernel that declines it changes nothing we rely on.
        let _ = self.raw.advise(Advice::Sequential);
    }

    /// Drops `offset..offset+len` from this process's resident memory. The data stays in the
    /// page cache and in the file; a later access maps it in again.
    pub fn release(&self, offset: usize, len: usize) {
        let (start, len) = self.pages(offset, len);
        // SAFETY: this is a shared file mapping, so MADV_DONTNEED never discards data: pages
        // are re-read from the page cache or file on the next access.
        let _ = unsafe { self.raw.unchecked_advise_range(UncheckedAdvice::DontNeed, start, len) };
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        let slot = &TABLE[self.slot];
        slot.len.store(0, Ordering::Release);
        slot.faulted.store(false, Ordering::Release);
        slot.start.store(0, Ordering::Release);
    }
}

fn clamp(offset: usize, len: usize, total: usize) -> usize {
    len.min(total.saturating_sub(offset))
}

fn claim_slot(start: usize, len: usize) -> Option<usize> {
    for (i, slot) in TABLE.iter().enumerate() {
        if slot.start.compare_exchange(0, start, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            slot.faulted.store(false, Ordering::Release);
            slot.len.store(len, Ordering::Release);
            return Some(i);
        }
    }
    None
}

fn install_handler() {
    INSTALL.call_once(|| {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if let Ok(page) = usize::try_from(page) {
            PAGE_SIZE.store(page.max(1), Ordering::Relaxed);
        }
        // SAFETY: we fill a zeroed sigaction with a handler of the SA_SIGINFO signature and
        // keep the previous action for faults that are not ours. This runs once, before any
        // mapping exists, so PREVIOUS is written before the handler can read it.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, &action, &mut previous) == 0 {
                PREVIOUS = Some(previous);
            }
        }
    });
}

/// The SIGBUS handler. It only uses atomics and the `mmap`/`sigaction` system calls.
extern "C" fn on_sigbus(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    _context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid siginfo_t for SA_SIGINFO handlers.
    let address = unsafe { (*info).si_addr() } as usize;
    let page = PAGE_SIZE.load(Ordering::Relaxed);
    for slot in &TABLE {
        let start = slot.start.load(Ordering::Acquire);
        let len = slot.len.load(Ordering::Acquire);
        if start != 0 && address >= start && address < start + len {
            slot.faulted.store(true, Ordering::Release);
            let page_start = address - address % page;
            // SAFETY: the page lies inside one of our live mappings; replacing it with a
            // private zero page keeps the faulting access from faulting again.
            let mapped = unsafe {
                libc::mmap(
                    page_start as *mut libc::c_void,
                    page,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if mapped != libc::MAP_FAILED {
                return;
            }
        }
    }
    // Not one of ours: put back the previous action; returning re-runs the access, which then
    // faults into it (the default action ends the process, as it would have without us).
    // SAFETY: PREVIOUS was set before any mapping existed and is never written again.
    unsafe {
        let previous = (*std::ptr::addr_of!(PREVIOUS)).unwrap_or_else(|| {
            let mut default: libc::sigaction = std::mem::zeroed();
            default.sa_sigaction = libc::SIG_DFL;
            default
        });
        libc::sigaction(signal, &previous, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_truncated_file_faults_into_an_error_not_a_crash() {
        let mut file = tempfile::tempfile().expect("temp file");
        file.write_all(&vec![7u8; 1 << 16]).expect("write");
        let map = Map::new(&file, false).expect("map");
        let mut buf = vec![0u8; 4096];
        map.read(0, &mut buf);
        assert!(!map.faulted());
        assert_eq!(buf[0], 7);
        file.set_len(0).expect("truncate");
        map.read(1 << 15, &mut buf);
        assert!(map.faulted());
    }

    #[test]
    fn a_read_only_mapping_refuses_writes() {
        let mut file = tempfile::tempfile().expect("temp file");
        file.write_all(&[3u8; 4096]).expect("write");
        let map = Map::new(&file, false).expect("map");
        let err = map.write(0, b"x").expect_err("read-only");
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        let mut buf = [0u8; 1];
        map.read(0, &mut buf);
        assert_eq!(buf, [3]);
    }

    #[test]
    fn writes_land_in_the_file() {
        let file = tempfile::tempfile().expect("temp file");
        file.set_len(8192).expect("size");
        let map = Map::new(&file, true).expect("map");
        map.write(4000, b"hello").expect("write");
        map.flush(0, 8192).expect("flush");
        let mut buf = [0u8; 5];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut buf, 4000).expect("read");
        assert_eq!(&buf, b"hello");
    }
}
