//! The session's side of its torrent's data: the open storage, the pieces being hashed, the
//! pieces we had but can no longer read, the storage problems already reported, and the
//! thread that faults in the pages of pieces about to be received.
//!
//! Hash checks run on the rayon pool and answer on the control channel; a verified piece is
//! flushed to disk before the answer, so no peer hears of a piece the kernel could still lose.

use std::collections::HashSet;
use std::sync::Arc;

use crossbeam_channel::Sender;

use crate::error::Error;
use crate::metainfo::Metainfo;
use crate::storage::Storage;

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
    /// Pieces about to be downloaded, for the prefault thread.
    prefault: Sender<u32>,
}

impl Disk {
    /// Starts the prefault thread for `storage`.
    pub fn new(storage: Arc<Storage>, meta: &Arc<Metainfo>) -> Result<Disk, Error> {
        let prefault = start_prefaulter(&storage, meta)?;
        Ok(Disk {
            storage,
            hashing: HashSet::new(),
            broken: HashSet::new(),
            warnings: HashSet::new(),
            prefault,
        })
    }

    /// Asks for the pages of `piece` to be faulted in ahead of its blocks.
    pub fn prefault(&self, piece: u32) {
        let _ = self.prefault.send(piece);
    }

    /// Whether `message` is reported for the first time (and records that it now is).
    pub fn first_warning(&mut self, message: &str) -> bool {
        self.warnings.insert(message.to_string())
    }
}

/// Starts the thread that faults in the mapped pages of pieces we are about to receive, so
/// the copies into the mapping do not stop on a page fault per page. It ends when the session
/// drops its sender.
fn start_prefaulter(storage: &Arc<Storage>, meta: &Arc<Metainfo>) -> Result<Sender<u32>, Error> {
    let (tx, rx) = crossbeam_channel::unbounded::<u32>();
    let storage = storage.clone();
    let meta = meta.clone();
    std::thread::Builder::new()
        .name("mt-prefault".into())
        .spawn(move || {
            for piece in rx {
                if let Some(piece) = meta.layout().piece(piece) {
                    storage.prepare_write(meta.layout().piece_range(piece));
                }
            }
        })
        .map_err(|e| Error::Network(format!("cannot start the prefault thread: {e}")))?;
    Ok(tx)
}
