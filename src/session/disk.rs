//! The session's side of its torrent's data: the open storage, the pieces being hashed, the
//! pieces we had but can no longer read, the storage problems already reported, and the
//! thread that writes received blocks.
//!
//! Received blocks are written by the `mt-disk` thread (with `pwrite`, see [`Storage`]),
//! never by the session thread, so a slow write (writeback pressure, a busy disk) holds up no
//! peer and no timer. Its
//! queue is bounded (about 16 MiB of blocks): a disk slower than the network makes the
//! session wait for room, which slows the download instead of filling memory. The thread works
//! in order, so the hash check of a piece, queued after the piece's last block, starts only
//! once every block of it is written. Hash checks run on the rayon pool and answer on the
//! control channel. A verified piece is announced at once and made durable afterwards, in
//! batches, by the sync thread of `durable.rs`, which alone writes the resume record: `have`
//! may reach peers before the piece is on disk, the record never does. A failed write is
//! reported on the control channel and ends the session, as it did when the session wrote.

use std::collections::HashSet;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use super::channels::Control;
use super::durable::Durable;
use crate::bitfield::Bitfield;
use crate::error::Error;
use crate::hash::{self, PieceStatus};
use crate::metainfo::Metainfo;
use crate::resume::ResumeStore;
use crate::storage::Storage;
use crate::types::PieceIndex;

/// How many jobs may wait for the disk thread: 1,024 blocks of 16 KiB.
const QUEUE: usize = 1024;

/// Work for the disk thread, done in the order queued.
enum Job {
    /// Write a received block at this stream offset.
    Write { start: u64, data: Vec<u8> },
    /// Check a piece whose blocks were all queued before this job.
    Hash { piece: u32 },
}

/// The session's view of its data.
pub struct Disk {
    /// The torrent's open files.
    pub storage: Arc<Storage>,
    /// Pieces whose hash check is under way.
    pub hashing: HashSet<u32>,
    /// Pieces we had but can no longer read from disk.
    pub broken: HashSet<u32>,
    /// Storage problems already reported, so each is shown once.
    pub warnings: HashSet<String>,
    /// Blocks to write and pieces to check, for the disk thread (`None` once finished).
    jobs: Option<Sender<Job>>,
    /// The disk thread.
    writer: Option<JoinHandle<()>>,
    /// The sync thread: verified pieces become durable, then recorded.
    durable: Durable,
}

impl Disk {
    /// Starts the disk and sync threads for `storage`, whose pieces in `have` are verified
    /// and durable but those in `unsynced`; they answer on `control`. The resume record goes
    /// to `store`.
    pub fn new(
        storage: Arc<Storage>,
        meta: &Arc<Metainfo>,
        control: Sender<Control>,
        store: Option<ResumeStore>,
        have: Bitfield,
        unsynced: &Bitfield,
    ) -> Result<Disk, Error> {
        let (jobs, queued) = crossbeam_channel::bounded(QUEUE);
        let durable = Durable::start(storage.clone(), store, have, unsynced, control.clone())?;
        let writer = start_writer(&storage, meta, control, queued)?;
        Ok(Disk {
            storage,
            hashing: HashSet::new(),
            broken: HashSet::new(),
            warnings: HashSet::new(),
            jobs: Some(jobs),
            writer: Some(writer),
            durable,
        })
    }

    /// Queues a received block to be written at stream offset `start`; waits while the
    /// queue is full.
    pub fn write(&self, start: u64, data: Vec<u8>) {
        self.queue(Job::Write { start, data });
    }

    /// Queues the hash check of `piece` behind the writes of its blocks, unless one is under
    /// way; the answer comes as [`Control::Hashed`].
    pub fn check(&mut self, piece: u32) {
        if self.hashing.insert(piece) {
            self.queue(Job::Hash { piece });
        }
    }

    fn queue(&self, job: Job) {
        if let Some(jobs) = &self.jobs {
            // The thread ends only when this sender is dropped, so this cannot fail.
            let _ = jobs.send(job);
        }
    }

    /// True when the data must be flushed before the session ends (see [`Durable`]).
    pub fn flush_at_end(&self) -> bool {
        self.durable.flush_at_end()
    }

    /// Queues a piece that passed its hash check to be made durable and recorded.
    pub fn verified(&self, piece: u32) {
        self.durable.verified(piece);
    }

    /// Waits until every queued block is written, then stops the disk thread; then makes
    /// the verified pieces durable, writes the last resume record and stops the sync thread.
    pub fn finish(&mut self) {
        self.jobs = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        self.durable.finish();
    }

    /// Whether `message` is reported for the first time (and records that it now is).
    pub fn first_warning(&mut self, message: &str) -> bool {
        self.warnings.insert(message.to_string())
    }
}

/// Starts the disk thread: it writes blocks in order and hands each piece to the rayon pool
/// to be checked once its blocks are written. It ends when the session drops its sender.
fn start_writer(
    storage: &Arc<Storage>,
    meta: &Arc<Metainfo>,
    control: Sender<Control>,
    queued: Receiver<Job>,
) -> Result<JoinHandle<()>, Error> {
    let storage = storage.clone();
    let meta = meta.clone();
    std::thread::Builder::new()
        .name("mt-disk".into())
        .spawn(move || {
            for job in queued {
                match job {
                    Job::Write { start, data } => {
                        if let Err(err) = storage.write(start, &data) {
                            let _ = control.send(Control::WriteFailed(err));
                        }
                        crate::wire::blocks::recycle(data);
                    }
                    Job::Hash { piece } => {
                        let (storage, meta, control) =
                            (storage.clone(), meta.clone(), control.clone());
                        rayon::spawn(move || check_piece(&storage, &meta, &control, piece));
                    }
                }
            }
        })
        .map_err(|e| Error::Network(format!("cannot start the disk thread: {e}")))
}

/// Hashes a written piece and says on `control` whether it is good.
fn check_piece(storage: &Storage, meta: &Metainfo, control: &Sender<Control>, piece: u32) {
    let index = PieceIndex(piece);
    let good = hash::verify_piece(storage, index, &hash::Expected::of(meta)) == PieceStatus::Good;
    let _ = control.send(Control::Hashed { piece, good });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::create::{self, CreateOptions};
    use crate::storage::IoMode;
    use std::sync::atomic::AtomicU64;
    use std::time::{Duration, Instant};

    #[test]
    fn a_write_that_hangs_never_holds_up_the_session_and_the_check_waits_for_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let input = dir.path().join("data.bin");
        let bytes: Vec<u8> = (0..32_768u32).map(|i| (i % 251).to_le_bytes()[0]).collect();
        std::fs::write(&input, &bytes).expect("write");
        let options =
            CreateOptions { input: input.clone(), piece_length: Some(16384), ..Default::default() };
        let files = create::walk(&input).expect("walk");
        let meta =
            Arc::new(create::create(&options, files, &AtomicU64::new(0)).expect("create").metainfo);
        let out = [dir.path().join("copy.bin")];
        let storage =
            Storage::open_write(&out, meta.layout(), IoMode::Auto, &out[0], false).expect("open");
        let storage = Arc::new(storage);
        let (control, answers) = crossbeam_channel::unbounded();
        let have = crate::bitfield::Bitfield::new(2);
        let mut disk = Disk::new(storage.clone(), &meta, control, None, have.clone(), &have)
            .expect("disk threads");

        let slow_disk = storage.write_gate.lock().expect("gate");
        let started = Instant::now();
        disk.write(0, bytes[..16384].to_vec());
        disk.check(0);
        disk.write(16384, bytes[16384..].to_vec());
        disk.check(1);
        assert!(started.elapsed() < Duration::from_millis(500), "the session did not wait");
        assert!(answers.recv_timeout(Duration::from_millis(300)).is_err(), "nothing checked yet");

        drop(slow_disk);
        for _ in 0..2 {
            match answers.recv_timeout(Duration::from_secs(10)).expect("an answer") {
                Control::Hashed { good, .. } => assert!(good),
                _ => panic!("expected a hash answer"),
            }
        }
        disk.finish();
        assert_eq!(std::fs::read(&out[0]).expect("read"), bytes);
    }
}
