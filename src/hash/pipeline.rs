//! The order in which hashing reads the disk: runs of pieces handed out in stream order, with
//! one read-ahead thread fetching a bounded window of runs ahead of the hashers.
//!
//! With a cold page cache a hasher that faults its own run in leaves its core idle while the
//! disk reads, and leaves the disk idle while it hashes; two hashers faulting far-apart
//! regions make the disk seek. Here only the read-ahead thread asks the disk for data, and it
//! asks for the runs strictly in order, one after the other, so the disk sees one sequential
//! stream and is kept busy while every core hashes. Invariants: every run is fetched exactly
//! once and hashed exactly once; run `k` is fetched before it is hashed (a hasher waits for
//! it); the fetcher never gets more than `window` runs ahead of the oldest run not yet
//! hashed, which bounds the memory that fetched but unhashed runs hold; hashers take runs in
//! increasing order, so at any time they work on neighbouring runs. A panicking hasher stops
//! the fetcher and a panicking fetch releases the hashers, so neither waits forever.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Progress shared by the fetcher and the hashers, under one lock.
struct State {
    /// Runs `0..fetched` have been fetched.
    fetched: usize,
    /// Per run, whether it has been hashed.
    hashed: Vec<bool>,
    /// Runs `0..oldest` have all been hashed.
    oldest: usize,
    /// A hasher panicked: the fetcher stops.
    aborted: bool,
}

struct Shared {
    count: usize,
    window: usize,
    /// The next run a hasher takes.
    next: AtomicUsize,
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(guard).unwrap_or_else(PoisonError::into_inner)
    }
}

/// On the fetcher's exit, normal or not, marks every run fetched so no hasher waits on it.
struct FetcherDone<'a>(&'a Shared);

impl Drop for FetcherDone<'_> {
    fn drop(&mut self) {
        self.0.lock().fetched = self.0.count;
        self.0.changed.notify_all();
    }
}

/// On a hasher's panic, stops the fetcher.
struct HasherDone<'a>(&'a Shared);

impl Drop for HasherDone<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().aborted = true;
            self.0.changed.notify_all();
        }
    }
}

/// Runs `count` units of work on `hashers` threads (at least one): `fetch(k)` on one
/// read-ahead thread, in order, at most `window` (at least one) runs ahead of the oldest
/// unhashed run, and `work(k)` once `fetch(k)` has returned. Returns the results in run
/// order, or the error of a thread that could not be started.
pub(super) fn run<T: Send>(
    count: usize,
    hashers: usize,
    window: usize,
    fetch: impl Fn(usize) + Sync,
    work: impl Fn(usize) -> T + Sync,
) -> std::io::Result<Vec<T>> {
    let shared = Shared {
        count,
        window: window.max(1),
        next: AtomicUsize::new(0),
        state: Mutex::new(State {
            fetched: 0,
            hashed: vec![false; count],
            oldest: 0,
            aborted: false,
        }),
        changed: Condvar::new(),
    };
    let shared = &shared;
    let (fetch, work) = (&fetch, &work);
    let mut done: Vec<(usize, T)> = std::thread::scope(|scope| {
        let fetcher = std::thread::Builder::new()
            .name("mt-read-ahead".into())
            .spawn_scoped(scope, move || fetcher(shared, fetch));
        if fetcher.is_err() {
            // Nothing is fetched ahead; hashing goes on, each run faulted in as it is read.
            drop(FetcherDone(shared));
        }
        let mut handles = Vec::with_capacity(hashers.max(1));
        for i in 0..hashers.max(1) {
            let handle = std::thread::Builder::new()
                .name(format!("mt-hash-{i}"))
                .spawn_scoped(scope, move || hasher(shared, work));
            match handle {
                Ok(handle) => handles.push(handle),
                Err(e) if handles.is_empty() => {
                    shared.lock().aborted = true;
                    shared.changed.notify_all();
                    return Err(e);
                }
                // Fewer hashers than asked for still hash every run.
                Err(_) => break,
            }
        }
        let mut done = Vec::with_capacity(count);
        for handle in handles {
            match handle.join() {
                Ok(part) => done.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(done)
    })?;
    done.sort_unstable_by_key(|(k, _)| *k);
    Ok(done.into_iter().map(|(_, out)| out).collect())
}

fn fetcher(shared: &Shared, fetch: &(impl Fn(usize) + Sync)) {
    let _done = FetcherDone(shared);
    for k in 0..shared.count {
        let mut state = shared.lock();
        while !state.aborted && k >= state.oldest + shared.window {
            state = shared.wait(state);
        }
        if state.aborted {
            return;
        }
        drop(state);
        fetch(k);
        shared.lock().fetched = k + 1;
        shared.changed.notify_all();
    }
}

fn hasher<T>(shared: &Shared, work: &(impl Fn(usize) -> T + Sync)) -> Vec<(usize, T)> {
    let _done = HasherDone(shared);
    let mut out = Vec::new();
    loop {
        let k = shared.next.fetch_add(1, Ordering::Relaxed);
        if k >= shared.count {
            return out;
        }
        let mut state = shared.lock();
        while state.fetched <= k {
            state = shared.wait(state);
        }
        drop(state);
        out.push((k, work(k)));
        let mut state = shared.lock();
        state.hashed[k] = true;
        while state.oldest < shared.count && state.hashed[state.oldest] {
            state.oldest += 1;
        }
        drop(state);
        shared.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records every fetch and hash with the state seen at that moment.
    #[derive(Default)]
    struct Log {
        fetched: Vec<usize>,
        hashed: Vec<usize>,
        /// Per fetch: the run fetched and how many runs had been hashed in order before it.
        ahead: Vec<(usize, usize)>,
        /// Per hash: the run hashed and whether it had been fetched.
        hashed_after_fetch: Vec<bool>,
    }

    fn oldest_unhashed(hashed: &[usize]) -> usize {
        (0..).find(|k| !hashed.contains(k)).unwrap_or(0)
    }

    fn check(count: usize, hashers: usize, window: usize) {
        let log = Mutex::new(Log::default());
        let out = run(
            count,
            hashers,
            window,
            |k| {
                let mut log = log.lock().expect("lock");
                let oldest = oldest_unhashed(&log.hashed);
                log.ahead.push((k, oldest));
                log.fetched.push(k);
            },
            |k| {
                let mut log = log.lock().expect("lock");
                let seen = log.fetched.contains(&k);
                log.hashed_after_fetch.push(seen);
                log.hashed.push(k);
                k * 10
            },
        )
        .expect("threads start");
        let log = log.into_inner().expect("lock");
        let all: Vec<usize> = (0..count).collect();
        assert_eq!(out, all.iter().map(|k| k * 10).collect::<Vec<_>>(), "results in run order");
        assert_eq!(log.fetched, all, "every run fetched once, in order");
        let mut hashed = log.hashed.clone();
        hashed.sort_unstable();
        assert_eq!(hashed, all, "every run hashed once");
        assert!(log.hashed_after_fetch.iter().all(|seen| *seen), "a run is fetched first");
        let window = window.max(1);
        for (k, oldest) in log.ahead {
            assert!(k < count, "never past the end");
            assert!(k < oldest + window, "run {k} fetched with {oldest} hashed, window {window}");
        }
    }

    #[test]
    fn every_run_is_fetched_in_order_then_hashed_once_within_the_window() {
        for count in [0, 1, 2, 7, 64] {
            for hashers in [1, 2, 5] {
                for window in [0, 1, 3, 100] {
                    check(count, hashers, window);
                }
            }
        }
    }

    #[test]
    fn a_panicking_hasher_does_not_leave_the_fetcher_waiting() {
        let result = std::panic::catch_unwind(|| {
            run(50, 2, 2, |_| {}, |k| assert!(k != 3, "hasher fails on run 3"))
        });
        assert!(result.is_err(), "the panic reaches the caller");
    }
}
