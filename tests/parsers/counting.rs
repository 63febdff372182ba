//! A global allocator that forwards to `System` and can measure, per thread, the peak number
//! of bytes live during one call. Only the `parsers_alloc` test binary installs it.
//!
//! Bookkeeping lives in const-initialised thread-locals holding plain integers, which never
//! allocate, so the allocator cannot recurse into itself. Each test runs on its own thread, so
//! parallel tests do not see each other's allocations. Sizes are the sizes asked for, not what
//! the system allocator rounds them up to.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// The counting allocator.
pub struct Counting;

fn signed(size: usize) -> isize {
    isize::try_from(size).unwrap_or(isize::MAX)
}

/// Adds `delta` to the bytes live on this thread while tracking, raising the peak.
fn record(delta: isize) {
    // `try_with`: the thread-locals may already be gone while a thread exits.
    let tracking = TRACKING.try_with(Cell::get).unwrap_or(false);
    if tracking {
        let live = LIVE.with(Cell::get).saturating_add(delta);
        LIVE.with(|l| l.set(live));
        PEAK.with(|p| p.set(p.get().max(live)));
    }
}

// SAFETY: every method passes its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the bookkeeping beside it touches only thread-local integers.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(signed(layout.size()));
        // SAFETY: the caller's guarantees about `layout` are the ones `System.alloc` needs.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(signed(layout.size()));
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record(-signed(layout.size()));
        // SAFETY: `ptr` came from this allocator, hence from `System`, with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(signed(new_size) - signed(layout.size()));
        // SAFETY: `ptr` came from `System` with `layout`; the caller vouches for `new_size`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `call` and returns its result with the peak bytes live during it, counted from zero
/// at the start; the result itself is still live at the end, so it is included.
pub fn peak_during<T>(call: impl FnOnce() -> T) -> (T, usize) {
    LIVE.with(|l| l.set(0));
    PEAK.with(|p| p.set(0));
    TRACKING.with(|t| t.set(true));
    let out = call();
    TRACKING.with(|t| t.set(false));
    let peak = usize::try_from(PEAK.with(Cell::get)).unwrap_or(0);
    (out, peak)
}
