//! The session's web seeds (BEP 19): each is a source the picker sees as a peer that has
//! every piece, served by a few fetcher threads of its own.
//!
//! The session picks blocks for a web seed as for a peer (a whole piece when it starts a new
//! one; first the piece after its last run, while that one is free), adds the pieces that
//! follow while they are free, up to [`RUN_BYTES`], joins them into runs of the byte stream,
//! and hands each run to the server's threads as one job; at most [`MAX_REQUESTS`] jobs per
//! server are out at once, starting with one and growing by one with each success (a web
//! seed is slow to start). What comes back goes
//! through the same path as a peer's blocks, so every piece is hash-checked: a server whose
//! data fails the check is dropped. A failed request returns its blocks to the picker and
//! the server rests for a backoff that doubles with each failure in a row, up to
//! [`MAX_BACKOFF`]; after [`DROP_AFTER_FAILURES`] in a row it is dropped.
//!
//! Invariants: each web seed has a [`PeerKey`] from the same sequence as connections, so the
//! picker and the blame for bad pieces tell them apart from peers; a dropped web seed's
//! threads end after their current request, and what they still send is ignored.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::Event;
use super::channels::Control;
use super::peers::Rate;
use super::swarm::Swarm;
use crate::bitfield::Bitfield;
use crate::error::Error;
use crate::metainfo::Metainfo;
use crate::peer::PeerKey;
use crate::picker::Block;
use crate::types::PieceIndex;
use crate::webseed::Fetcher;

/// Most requests out to one server at once.
pub const MAX_REQUESTS: usize = 4;
/// Most bytes one request asks for: a run of the pieces that follow the first one picked,
/// so that a fast server is not held back by one request per piece.
pub const RUN_BYTES: u64 = 1 << 20;
/// Longest rest after failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Failures in a row after which a server is dropped.
pub const DROP_AFTER_FAILURES: u32 = 5;

/// A run of the stream to fetch, and the blocks it holds.
struct Job {
    key: PeerKey,
    range: Range<u64>,
    blocks: Vec<Block>,
}

/// What a fetcher thread sends back.
pub struct Fetched {
    key: PeerKey,
    range: Range<u64>,
    blocks: Vec<Block>,
    /// Each block's bytes, in the order of `blocks`.
    result: Result<Vec<Vec<u8>>, String>,
}

/// One web seed.
struct WebSeed {
    url: String,
    jobs: Sender<Job>,
    in_flight: usize,
    successes: usize,
    failures: u32,
    resume_at: Instant,
    down: Rate,
    /// The piece after its last run: where its next run starts if that piece is free.
    next_piece: u32,
}

/// Every web seed still in use.
#[derive(Default)]
pub struct WebSeeds {
    seeds: HashMap<PeerKey, WebSeed>,
    /// Every piece: what a web seed has.
    everything: Option<Bitfield>,
}

impl WebSeeds {
    /// Whether `key` names a web seed.
    pub fn contains(&self, key: PeerKey) -> bool {
        self.seeds.contains_key(&key)
    }

    /// Whether none is in use.
    pub fn is_empty(&self) -> bool {
        self.seeds.is_empty()
    }

    /// Their receive rate, bytes per second.
    pub fn rate(&self) -> u64 {
        self.seeds.values().map(|s| s.down.per_second()).sum()
    }
}

impl Swarm {
    /// Starts the fetcher threads of each web seed URL.
    pub(super) fn start_webseeds(&mut self, urls: &[String], shutdown: &Arc<AtomicBool>) {
        let pieces = self.config.metainfo.layout().piece_count();
        self.webseeds.everything = Some(Bitfield::full(pieces));
        for url in urls {
            if !crate::webseed::usable(url) {
                self.channels.warn(format!("web seed {url}: not an http or https url; ignored"));
                continue;
            }
            let key = self.peers.next_key();
            let (jobs, job_rx) = crossbeam_channel::unbounded::<Job>();
            for n in 0..MAX_REQUESTS {
                let (jobs, control) = (job_rx.clone(), self.channels.control.clone());
                let (meta, base, shutdown) =
                    (self.config.metainfo.clone(), url.clone(), shutdown.clone());
                let spawned = std::thread::Builder::new()
                    .name(format!("mt-webseed-{}-{n}", key.0))
                    .spawn(move || fetch_loop(&base, &meta, &jobs, &control, &shutdown));
                if let Err(e) = spawned {
                    self.channels.warn(format!("web seed {url}: cannot start a thread: {e}"));
                }
            }
            self.picker.peer_joined(key);
            self.picker.peer_have_all(key);
            let now = Instant::now();
            let seed = WebSeed {
                url: url.clone(),
                jobs,
                in_flight: 0,
                successes: 0,
                failures: 0,
                resume_at: now,
                down: Rate::default(),
                next_piece: 0,
            };
            self.webseeds.seeds.insert(key, seed);
        }
        self.fill_webseeds(Instant::now());
    }

    /// Gives every web seed that may take more requests its next runs of blocks.
    pub(super) fn fill_webseeds(&mut self, now: Instant) {
        let Some(everything) = self.webseeds.everything.take() else { return };
        let layout = self.config.metainfo.layout().clone();
        let blocks_per_piece =
            usize::try_from(layout.piece_length().div_ceil(crate::layout::BLOCK_LEN)).unwrap_or(1);
        let keys: Vec<PeerKey> = self.webseeds.seeds.keys().copied().collect();
        for key in keys {
            while let Some(seed) = self.webseeds.seeds.get(&key) {
                let allowed = MAX_REQUESTS.min(1 + seed.successes);
                if self.complete() || seed.in_flight >= allowed || now < seed.resume_at {
                    break;
                }
                let block_len = u64::from(crate::layout::BLOCK_LEN);
                let mut budget = usize::try_from(RUN_BYTES / block_len).unwrap_or(1);
                if let Some(bucket) = self.config.limits.down.as_deref() {
                    budget =
                        budget.min(usize::try_from(bucket.available() / block_len).unwrap_or(0));
                }
                // Where its last run ended if that piece is free, so that runs join up; else
                // what the picker would give a peer.
                let first = blocks_per_piece.min(budget);
                let mut blocks = self.picker.pick_piece(key, seed.next_piece, first);
                if blocks.is_empty() {
                    blocks = self.picker.pick(key, &everything, first);
                }
                // Then the pieces that follow, while they are free: one request for the run.
                while let Some(last) = blocks.last()
                    && blocks.len() < budget
                {
                    let more = budget - blocks.len();
                    let next = self.picker.pick_piece(key, last.piece.saturating_add(1), more);
                    if next.is_empty() {
                        break;
                    }
                    blocks.extend(next);
                }
                let Some(last) = blocks.last() else { break };
                let next_piece = last.piece.saturating_add(1);
                if let Some(bucket) = self.config.limits.down.as_deref() {
                    bucket.take(blocks.iter().map(|b| u64::from(b.length)).sum());
                }
                let Some(seed) = self.webseeds.seeds.get_mut(&key) else { break };
                seed.next_piece = next_piece;
                for (range, blocks) in runs(&layout, blocks) {
                    seed.in_flight += 1;
                    let _ = seed.jobs.send(Job { key, range, blocks });
                }
            }
        }
        self.webseeds.everything = Some(everything);
    }

    /// A fetcher thread finished a job.
    pub(super) fn on_fetched(&mut self, fetched: Fetched) -> Result<(), Error> {
        let Fetched { key, range, blocks, result } = fetched;
        let now = Instant::now();
        let Some(seed) = self.webseeds.seeds.get_mut(&key) else { return Ok(()) };
        seed.in_flight = seed.in_flight.saturating_sub(1);
        match result {
            Ok(data) => {
                seed.successes += 1;
                seed.failures = 0;
                seed.down.add(range.end - range.start);
                for (block, bytes) in blocks.into_iter().zip(data) {
                    self.on_block(key, block.piece, block.begin, bytes)?;
                }
            }
            Err(reason) => {
                for block in &blocks {
                    self.picker.request_rejected(key, block);
                }
                let Some(seed) = self.webseeds.seeds.get_mut(&key) else { return Ok(()) };
                seed.failures += 1;
                seed.successes = 0;
                let backoff = Duration::from_secs(1 << seed.failures.min(6)).min(MAX_BACKOFF);
                seed.resume_at = now + backoff;
                let (url, failures) = (seed.url.clone(), seed.failures);
                if failures >= DROP_AFTER_FAILURES {
                    self.drop_webseed(key, format!("{failures} failures in a row; last: {reason}"));
                } else {
                    self.channels.emit(Event::WebSeedFailed { url, reason });
                }
                // Its blocks are free again: hand them to the peers.
                for other in self.peers.keys() {
                    self.fill_requests(other);
                }
            }
        }
        self.fill_webseeds(now);
        Ok(())
    }

    /// Stops using a web seed; its requests return to the picker.
    pub(super) fn drop_webseed(&mut self, key: PeerKey, reason: String) {
        let Some(seed) = self.webseeds.seeds.remove(&key) else { return };
        self.picker.peer_left(key);
        self.channels.emit(Event::WebSeedDropped { url: seed.url, reason });
        for other in self.peers.keys() {
            self.fill_requests(other);
        }
    }

    /// Closes the current second of each web seed's rate.
    pub(super) fn tick_webseed_rates(&mut self) {
        for seed in self.webseeds.seeds.values_mut() {
            seed.down.tick();
        }
    }
}

/// Joins blocks that follow each other in the stream into runs, in the order given.
fn runs(layout: &crate::layout::Layout, blocks: Vec<Block>) -> Vec<(Range<u64>, Vec<Block>)> {
    let mut out: Vec<(Range<u64>, Vec<Block>)> = Vec::new();
    for block in blocks {
        let Some(range) = layout.block_range(PieceIndex(block.piece), block.begin, block.length)
        else {
            continue;
        };
        match out.last_mut() {
            Some((run, members)) if run.end == range.start => {
                run.end = range.end;
                members.push(block);
            }
            _ => out.push((range, vec![block])),
        }
    }
    out
}

/// A fetcher thread: takes jobs until its web seed is dropped or the session stops.
fn fetch_loop(
    base: &str,
    meta: &Metainfo,
    jobs: &crossbeam_channel::Receiver<Job>,
    control: &Sender<Control>,
    shutdown: &AtomicBool,
) {
    let fetcher = Fetcher::new();
    for Job { key, range, blocks } in jobs.iter() {
        if shutdown.load(Ordering::Acquire) {
            return;
        }
        let lengths: Vec<usize> =
            blocks.iter().map(|b| usize::try_from(b.length).unwrap_or(0)).collect();
        let result = fetcher
            .fetch(base, &meta.info, meta.layout(), range.clone(), &lengths)
            .map_err(|e| e.to_string());
        let fetched = Fetched { key, range, blocks, result };
        if control.send(Control::Fetched(Box::new(fetched))).is_err() {
            return;
        }
    }
}
