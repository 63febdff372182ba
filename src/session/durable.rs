//! Making verified pieces durable, and the resume record that says which are.
//!
//! A piece that passes its hash check is announced with `have` at once; the `mt-sync` thread
//! makes it durable afterwards, in batches. While verified pieces wait, it wakes every
//! [`SYNC_EVERY`], flushes the stream span that holds them (`fdatasync`, or `msync` of the
//! mapped range: one sync per file per batch instead of one per piece, each of which costs a
//! journal commit and a disk cache flush), then stamps the files the span touches and writes
//! the resume record ([`crate::resume`]) claiming exactly the pieces verified before that flush
//! began. So the record never claims a piece that is not on disk, and a crash costs at most a
//! refetch of the pieces verified in the last batch. When the session ends, the thread flushes
//! what still waits and writes the record with every file stamped again.
//!
//! A flush that fails ends the session with [`Control::SyncFailed`]: data the kernel could not
//! write is lost, and nothing more is claimed.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::channels::Control;
use crate::bitfield::Bitfield;
use crate::error::Error;
use crate::resume::{self, FileStamp, ResumeRecord, ResumeStore};
use crate::storage::Storage;
use crate::types::PieceIndex;

/// How long a verified piece may wait to be made durable and recorded.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// The sync thread, seen from the session.
pub struct Durable {
    verified: Option<Sender<u32>>,
    thread: Option<JoinHandle<()>>,
}

impl Durable {
    /// Starts the sync thread. `have` holds the pieces already durable (and recorded, when
    /// `store` is set); failures are reported on `control`.
    pub fn start(
        storage: Arc<Storage>,
        store: Option<ResumeStore>,
        have: Bitfield,
        control: Sender<Control>,
    ) -> Result<Durable, Error> {
        let (verified, queue) = crossbeam_channel::unbounded();
        let paths: Vec<PathBuf> = (0..storage.layout().file_count())
            .filter_map(|i| storage.path(i).map(PathBuf::from))
            .collect();
        let mut syncer = Syncer {
            stamps: resume::stamps(&paths)
                .into_iter()
                .map(|stamp| stamp.filter(FileStamp::is_settled))
                .collect(),
            paths,
            storage,
            store,
            claimed: have,
            control,
            saved: false,
            warned: false,
        };
        let thread = std::thread::Builder::new()
            .name("mt-sync".into())
            .spawn(move || syncer.run(&queue))
            .map_err(|e| Error::Network(format!("cannot start the sync thread: {e}")))?;
        Ok(Durable { verified: Some(verified), thread: Some(thread) })
    }

    /// Queues a verified piece to be made durable and recorded.
    pub fn verified(&self, piece: u32) {
        if let Some(verified) = &self.verified {
            let _ = verified.send(piece);
        }
    }

    /// Makes every queued piece durable, writes the final record, and stops the thread.
    pub fn finish(&mut self) {
        self.verified = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Syncer {
    storage: Arc<Storage>,
    store: Option<ResumeStore>,
    paths: Vec<PathBuf>,
    /// The stamps to record: refreshed for the files each batch touched.
    stamps: Vec<Option<FileStamp>>,
    /// Pieces durable on disk.
    claimed: Bitfield,
    control: Sender<Control>,
    /// A record was written by this thread.
    saved: bool,
    /// A failure to write the record was reported (it is reported once).
    warned: bool,
}

impl Syncer {
    fn run(&mut self, queue: &Receiver<u32>) {
        let mut pending: Vec<u32> = Vec::new();
        let mut since = Instant::now();
        loop {
            match queue.recv_timeout(SYNC_EVERY) {
                Ok(piece) => {
                    if pending.is_empty() {
                        since = Instant::now();
                    }
                    pending.push(piece);
                    pending.extend(queue.try_iter());
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if !pending.is_empty() && since.elapsed() >= SYNC_EVERY && !self.batch(&mut pending) {
                return;
            }
        }
        if !self.batch(&mut pending) {
            return;
        }
        // The last record: every file stamped again, as it is left.
        if self.store.is_some() && (self.saved || self.storage.is_writable()) {
            self.stamps = resume::settled_stamps(&self.paths);
            self.save();
        }
    }

    /// Flushes the span of `pending`, then claims those pieces; false when the flush failed.
    fn batch(&mut self, pending: &mut Vec<u32>) -> bool {
        if pending.is_empty() {
            return true;
        }
        let layout = self.storage.layout();
        let ranges = pending.iter().map(|&p| layout.piece_range(PieceIndex(p)));
        let start = ranges.clone().map(|r| r.start).min().unwrap_or(0);
        let end = ranges.map(|r| r.end).max().unwrap_or(0);
        if let Err(err) = self.storage.flush(start..end) {
            let _ = self.control.send(Control::SyncFailed(err.to_string()));
            return false;
        }
        let files: Vec<usize> = layout.slices(start..end).map(|s| s.file).collect();
        for file in files {
            self.stamps[file] = FileStamp::of(&self.paths[file]).filter(FileStamp::is_settled);
        }
        for piece in pending.drain(..) {
            self.claimed.set(piece);
        }
        self.save();
        true
    }

    fn save(&mut self) {
        let Some(store) = &self.store else { return };
        let record = ResumeRecord { pieces: self.claimed.clone(), files: self.stamps.clone() };
        match store.save(&record) {
            Ok(()) => self.saved = true,
            Err(_) if self.warned => {}
            Err(err) => {
                self.warned = true;
                let message = format!(
                    "cannot write the resume record {}: {err}; the next start hashes again",
                    store.path().display()
                );
                let _ = self.control.send(Control::Warning(message));
            }
        }
    }
}
