//! Making verified pieces durable, and the resume record that says which are.
//!
//! A piece that passes its hash check is announced with `have` at once; the `mt-sync` thread
//! records it and makes it durable afterwards. Where the kernel tells its boot id
//! ([`resume::boot_id`]), a verified piece is first recorded as *unsynced* (trusted by a
//! restart in the same boot only, see [`crate::resume`]) in a record written at most every
//! [`SYNC_EVERY`]; the pieces are flushed (`fdatasync`, or `msync` of the mapped range: one
//! sync per file per batch) once the oldest has waited [`DURABLE_AFTER`], by when the kernel
//! has usually written them back itself, and only then claimed as durable. When the session
//! ends, the last record lists what still waits as unsynced, with every file stamped again:
//! a finished download exits without waiting for the disk, and a restart in the same boot
//! trusts all of it. Without a boot id there are no unsynced claims: pieces are flushed
//! every [`SYNC_EVERY`] and at the end, before they are recorded. Either way a crash costs at
//! most a refetch of pieces not yet recorded (or recorded unsynced, after a reboot).
//!
//! Pieces a record of this boot vouched for as unsynced when the session started wait in the
//! same way, so a seed makes the data a download left in the page cache durable.
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

/// How long a verified piece may wait to be recorded (and, without a boot id, made durable).
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// How long a piece recorded as unsynced may wait to be made durable: the kernel's default
/// age for writing dirty pages back (`vm.dirty_expire_centisecs`).
pub const DURABLE_AFTER: Duration = Duration::from_secs(30);

/// The sync thread, seen from the session.
pub struct Durable {
    verified: Option<Sender<u32>>,
    /// Pieces may be recorded unsynced (the boot id is known), so the end waits for no flush.
    unsynced_claims: bool,
    thread: Option<JoinHandle<()>>,
}

impl Durable {
    /// Starts the sync thread. `have` holds the verified pieces (recorded, when `store` is
    /// set), all durable but those in `unsynced`, which wait to be flushed like newly
    /// verified ones; failures are reported on `control`.
    pub fn start(
        storage: Arc<Storage>,
        store: Option<ResumeStore>,
        have: Bitfield,
        unsynced: &Bitfield,
        control: Sender<Control>,
    ) -> Result<Durable, Error> {
        Durable::start_waiting(storage, store, have, unsynced, control, DURABLE_AFTER)
    }

    /// [`Durable::start`], flushing unsynced pieces once the oldest has waited `wait`.
    fn start_waiting(
        storage: Arc<Storage>,
        store: Option<ResumeStore>,
        have: Bitfield,
        unsynced: &Bitfield,
        control: Sender<Control>,
        wait: Duration,
    ) -> Result<Durable, Error> {
        let (verified, queue) = crossbeam_channel::unbounded();
        let boot = resume::boot_id();
        let unsynced_claims = boot.is_some();
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
            claimed: have.clone(),
            pending: Vec::new(),
            since: Instant::now(),
            wait: if boot.is_some() { wait } else { SYNC_EVERY },
            boot: boot.clone(),
            control,
            saved: false,
            warned: false,
        };
        for piece in unsynced.iter_set().filter(|&p| have.get(p)) {
            syncer.claimed.clear(piece);
            syncer.pending.push(piece);
        }
        let thread = std::thread::Builder::new()
            .name("mt-sync".into())
            .spawn(move || syncer.run(&queue))
            .map_err(|e| Error::Network(format!("cannot start the sync thread: {e}")))?;
        Ok(Durable { verified: Some(verified), unsynced_claims, thread: Some(thread) })
    }

    /// True when the data must be flushed before the session ends: without a boot id no
    /// piece may be recorded unsynced.
    pub fn flush_at_end(&self) -> bool {
        !self.unsynced_claims
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
    /// Verified pieces not yet durable, recorded as unsynced when `boot` is known.
    pending: Vec<u32>,
    /// When the oldest of `pending` was verified.
    since: Instant,
    /// The running boot's id, when the kernel tells it.
    boot: Option<String>,
    /// How long the oldest pending piece waits before a flush.
    wait: Duration,
    control: Sender<Control>,
    /// A record was written by this thread.
    saved: bool,
    /// A failure to write the record was reported (it is reported once).
    warned: bool,
}

impl Syncer {
    fn run(&mut self, queue: &Receiver<u32>) {
        let wait = self.wait;
        let mut recorded = self.pending.is_empty();
        let mut last_record = Instant::now();
        loop {
            match queue.recv_timeout(SYNC_EVERY) {
                Ok(piece) => {
                    if self.pending.is_empty() {
                        self.since = Instant::now();
                    }
                    self.pending.push(piece);
                    self.pending.extend(queue.try_iter());
                    recorded = false;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if self.pending.is_empty() {
                continue;
            }
            if self.since.elapsed() >= wait {
                if !self.batch() {
                    return;
                }
                recorded = true;
                last_record = Instant::now();
            } else if self.boot.is_some() && !recorded && last_record.elapsed() >= SYNC_EVERY {
                self.save();
                recorded = true;
                last_record = Instant::now();
            }
        }
        // Without a boot id nothing may be claimed before it is flushed.
        if self.boot.is_none() && !self.batch() {
            return;
        }
        // The last record: every file stamped again, as it is left.
        if self.store.is_some() && (self.saved || self.storage.is_writable()) {
            self.stamps = resume::settled_stamps(&self.paths);
            self.save();
        }
    }

    /// Flushes the span of the pending pieces, then claims them as durable; false when the
    /// flush failed.
    fn batch(&mut self) -> bool {
        if self.pending.is_empty() {
            return true;
        }
        let layout = self.storage.layout();
        let ranges = self.pending.iter().map(|&p| layout.piece_range(PieceIndex(p)));
        let start = ranges.clone().map(|r| r.start).min().unwrap_or(0);
        let end = ranges.map(|r| r.end).max().unwrap_or(0);
        let files: Vec<usize> = layout.slices(start..end).map(|s| s.file).collect();
        // Data opened read-only (a seed of what an earlier run left unsynced) is synced
        // through read-only descriptors.
        let flushed = if self.storage.is_writable() {
            self.storage.flush(start..end).map_err(|e| e.to_string())
        } else {
            let paths: Vec<PathBuf> = files.iter().map(|&f| self.paths[f].clone()).collect();
            resume::sync_files(&paths).map_err(|e| format!("cannot sync the data: {e}"))
        };
        if let Err(err) = flushed {
            let _ = self.control.send(Control::SyncFailed(err));
            return false;
        }
        for file in files {
            self.stamps[file] = FileStamp::of(&self.paths[file]).filter(FileStamp::is_settled);
        }
        for piece in std::mem::take(&mut self.pending) {
            self.claimed.set(piece);
        }
        self.save();
        true
    }

    fn save(&mut self) {
        let Some(store) = &self.store else { return };
        let mut unsynced = Bitfield::new(self.claimed.len());
        if self.boot.is_some() {
            for &piece in &self.pending {
                unsynced.set(piece);
            }
        }
        let record = ResumeRecord {
            pieces: self.claimed.clone(),
            unsynced,
            boot: self.boot.clone(),
            files: self.stamps.clone(),
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;
    use crate::state::StateDir;
    use crate::storage::IoMode;
    use crate::types::InfoHash;

    fn pieces(bits: &[u32], count: u32) -> Bitfield {
        let mut field = Bitfield::new(count);
        for &bit in bits {
            field.set(bit);
        }
        field
    }

    /// Runs a sync thread over a written 4-piece file whose pieces 0 and 1 are verified (1
    /// only unsynced), verifies piece 2, ends it, and returns the record it left.
    fn run(wait: Duration, pause: Duration) -> Option<ResumeRecord> {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = [dir.path().join("data.bin")];
        let layout = Layout::new(16384, &[65536]).expect("layout");
        let storage =
            Storage::open_write(&out, &layout, IoMode::Auto, &out[0], false).expect("open");
        storage.write(0, &[7u8; 49152]).expect("write");
        let state = StateDir::at(dir.path().join("state"));
        let store = || ResumeStore::new(&state, InfoHash([3; 20]), &out[0]);
        let (control, _answers) = crossbeam_channel::unbounded();
        let mut durable = Durable::start_waiting(
            Arc::new(storage),
            Some(store()),
            pieces(&[0, 1], 4),
            &pieces(&[1], 4),
            control,
            wait,
        )
        .expect("sync thread");
        durable.verified(2);
        std::thread::sleep(pause);
        durable.finish();
        store().load(&layout)
    }

    #[test]
    fn a_session_ends_without_a_flush_and_records_what_waits_as_unsynced() {
        let Some(boot) = resume::boot_id() else {
            eprintln!("SKIPPED: this kernel has no boot id; pieces are flushed before recorded");
            return;
        };
        let record = run(DURABLE_AFTER, Duration::ZERO).expect("a record");
        assert_eq!(record.pieces, pieces(&[0], 4), "only what was durable is claimed durable");
        assert_eq!(record.unsynced, pieces(&[1, 2], 4));
        assert_eq!(record.boot.as_deref(), Some(boot.as_str()));
    }

    #[test]
    fn unsynced_pieces_are_flushed_and_claimed_durable_once_they_waited() {
        let record = run(Duration::ZERO, SYNC_EVERY + Duration::from_millis(500)).expect("record");
        assert_eq!(record.pieces, pieces(&[0, 1, 2], 4));
        assert_eq!(record.unsynced.count(), 0);
    }
}
