//! Piece hashing over mapped files: create, verify-all and verify-one.
//!
//! A piece is checked against every hash the torrent has for it ([`Expected`]): the v1
//! SHA-1 of the whole piece, and for v2 and hybrid torrents the BEP 52 merkle hash of the
//! piece's part of its file, both taken in one pass over the bytes.
//!
//! Pieces are hashed in parallel, one thread per core, each thread taking the next run of
//! pieces (about 8 MiB) in stream order, so the threads work on neighbouring runs and the
//! disk reads near-sequentially. A run is faulted in with one call, hashed in place (mapped
//! bytes are never copied), then its pages are released from our resident memory, so
//! hashing a file larger than RAM keeps RSS small (the page cache, which the kernel manages,
//! is not ours). Reads overlap hashing: a read-ahead thread asks the kernel, without
//! waiting, to read the runs up to 64 MiB ahead of the oldest run not yet hashed
//! (`madvise(MADV_WILLNEED)`, which starts the reads of a file's next pages before a hasher
//! reaches them, the next files of a folder included), in order, so the disk is kept busy
//! with one sequential stream while every core hashes (`pipeline`). Measured on a cold
//! page cache, this made `create --hybrid` of a 2 GiB file and of a folder as fast as with a
//! warm one; the read-ahead thread faulting the runs in itself (`MADV_POPULATE_READ`), one
//! after the other, was slower than no read-ahead at all: one synchronous stream of faults
//! keeps too few reads in flight. Progress is an atomic byte counter the caller may poll from
//! another thread.

use std::sync::atomic::{AtomicU64, Ordering};

use sha1::{Digest, Sha1};

use crate::error::Error;
use crate::merkle::PieceHasher;
use crate::metainfo::Metainfo;
use crate::storage::{Storage, StorageError};
use crate::types::PieceIndex;

mod pipeline;

/// The hashes a torrent's pieces are checked against.
#[derive(Clone, Copy)]
pub struct Expected<'a> {
    /// v1 SHA-1 per piece (empty for a v2-only torrent).
    v1: &'a [[u8; 20]],
    /// The torrent, when its pieces also have v2 hashes.
    v2: Option<&'a Metainfo>,
}

impl<'a> Expected<'a> {
    /// Every hash `meta` has: v1, v2 or both.
    pub fn of(meta: &'a Metainfo) -> Expected<'a> {
        let v2 = meta.info.version.has_v2().then_some(meta);
        Expected { v1: &meta.info.pieces, v2 }
    }

    /// v1 piece hashes only.
    pub fn v1(pieces: &'a [[u8; 20]]) -> Expected<'a> {
        Expected { v1: pieces, v2: None }
    }

    /// Hashes `piece` as it is on disk and compares it with every hash it has.
    fn check(&self, storage: &Storage, piece: PieceIndex, scratch: &mut Vec<u8>) -> PieceStatus {
        let range = storage.layout().piece_range(piece);
        let v1 = self.v1.get(piece.get());
        let v2 = self.v2.and_then(|meta| meta.v2_piece(piece));
        if v1.is_none() && v2.is_none() {
            return PieceStatus::Bad;
        }
        let mut sha1 = v1.map(|_| Sha1::new());
        let mut merkle = PieceHasher::default();
        let mut left = v2.as_ref().map_or(0, |p| p.bytes.end - p.bytes.start);
        let read = storage.visit(range, scratch, |bytes| {
            if let Some(sha1) = sha1.as_mut() {
                sha1.update(bytes);
            }
            let take = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
            if take > 0 {
                merkle.update(&bytes[..take]);
                left -= take as u64;
            }
        });
        match read {
            Ok(()) => {}
            Err(StorageError::Fault { .. }) => return PieceStatus::Bad,
            Err(_) => return PieceStatus::Missing,
        }
        let v1_good = match (v1, sha1) {
            (Some(want), Some(sha1)) => <[u8; 20]>::from(sha1.finalize()) == *want,
            _ => true,
        };
        let v2_good = v2.is_none_or(|p| merkle.finish(p.width) == p.expected);
        if v1_good && v2_good { PieceStatus::Good } else { PieceStatus::Bad }
    }
}

/// What verification found for one piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceStatus {
    /// The data matches the piece's hash.
    Good,
    /// The data is there but does not match.
    Bad,
    /// Part of the piece is in a missing or wrong-sized file.
    Missing,
}

/// Pieces are hashed in runs of about this many bytes: each run is faulted in with one
/// call, hashed in order, then released with one call.
const RUN_BYTES: u64 = 8 << 20;

/// How far ahead of the oldest run not yet hashed the disk is asked to read (at least two
/// runs): enough to keep it busy while a run is hashed, small next to the page cache.
const AHEAD_BYTES: u64 = 64 << 20;

/// SHA-1 of one piece as it is on disk; its pages are released afterwards.
pub fn hash_piece(storage: &Storage, piece: PieceIndex) -> Result<[u8; 20], StorageError> {
    let range = storage.layout().piece_range(piece);
    let hash = hash_range(storage, range.clone(), &mut Vec::new());
    storage.release(range);
    hash
}

fn hash_range(
    storage: &Storage,
    range: std::ops::Range<u64>,
    scratch: &mut Vec<u8>,
) -> Result<[u8; 20], StorageError> {
    let mut hasher = Sha1::new();
    storage.visit(range, scratch, |bytes| hasher.update(bytes))?;
    Ok(hasher.finalize().into())
}

/// The BEP 52 leaf hashes of the stream bytes `range` as they are on disk: the SHA-256 of
/// each 16 KiB block from its start (the last block may be shorter). `range` is one file's
/// part of a v2 piece, so it starts on a block of that file. Its pages are released after.
pub fn leaf_hashes(
    storage: &Storage,
    range: std::ops::Range<u64>,
) -> Result<Vec<crate::merkle::Node>, StorageError> {
    use sha2::Sha256;
    let leaf = crate::merkle::LEAF_LEN;
    let mut leaves = Vec::new();
    let mut block = Sha256::new();
    let mut in_block = 0;
    let read = storage.visit(range.clone(), &mut Vec::new(), |mut bytes| {
        while !bytes.is_empty() {
            let take = (leaf - in_block).min(bytes.len());
            block.update(&bytes[..take]);
            in_block += take;
            bytes = &bytes[take..];
            if in_block == leaf {
                leaves.push(block.finalize_reset().into());
                in_block = 0;
            }
        }
    });
    storage.release(range);
    read?;
    if in_block > 0 {
        leaves.push(block.finalize().into());
    }
    Ok(leaves)
}

/// What the piece on disk is against every hash the torrent has for it; its pages are
/// released afterwards.
pub fn verify_piece(storage: &Storage, piece: PieceIndex, expected: &Expected) -> PieceStatus {
    let status = expected.check(storage, piece, &mut Vec::new());
    storage.release(storage.layout().piece_range(piece));
    status
}

/// Hashes every piece in parallel runs, calling `each` with each piece's result in order
/// within its run; returns the results in piece order.
fn hash_runs<T: Send>(
    storage: &Storage,
    threads: usize,
    progress: &AtomicU64,
    each: impl Fn(PieceIndex, &mut Vec<u8>) -> T + Sync,
) -> Result<Vec<T>, Error> {
    storage.advise_sequential();
    let layout = storage.layout();
    let per_run = u32::try_from(RUN_BYTES / u64::from(layout.piece_length())).unwrap_or(1).max(1);
    let runs: Vec<std::ops::Range<u32>> = (0..layout.piece_count())
        .step_by(per_run as usize)
        .map(|first| first..first.saturating_add(per_run).min(layout.piece_count()))
        .collect();
    let bytes = |run: &std::ops::Range<u32>| {
        layout.piece_offset(PieceIndex(run.start))..layout.piece_range(PieceIndex(run.end - 1)).end
    };
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let run_bytes = u64::from(per_run) * u64::from(layout.piece_length());
    let window = usize::try_from(AHEAD_BYTES / run_bytes).unwrap_or(1).max(2);
    let results = pipeline::run(
        runs.len(),
        threads,
        window,
        |k| storage.will_need(bytes(&runs[k])),
        |k| {
            let run = runs[k].clone();
            let range = bytes(&run);
            storage.prefetch(range.clone());
            let mut scratch = Vec::new();
            let out: Vec<T> = run
                .map(|index| {
                    let piece = PieceIndex(index);
                    let out = each(piece, &mut scratch);
                    progress.fetch_add(u64::from(layout.piece_len(piece)), Ordering::Relaxed);
                    out
                })
                .collect();
            storage.release(range);
            out
        },
    )
    .map_err(|e| Error::Usage(format!("cannot start {threads} hashing threads: {e}")))?;
    Ok(results.into_iter().flatten().collect())
}

/// Hashes every piece; `threads == 0` means one thread per core.
pub fn hash_all(
    storage: &Storage,
    threads: usize,
    progress: &AtomicU64,
) -> Result<Vec<[u8; 20]>, Error> {
    let hashes = hash_runs(storage, threads, progress, |piece, scratch| {
        hash_range(storage, storage.layout().piece_range(piece), scratch)
    })?;
    Ok(hashes.into_iter().collect::<Result<_, StorageError>>()?)
}

/// What [`hash_all_v2`] needs to know of one piece: how many of its bytes are its file's
/// data (the rest is padding) and the width its merkle leaves are padded to.
#[derive(Clone, Copy, Debug)]
pub struct V2Plan {
    /// Bytes of file data at the start of the piece.
    pub data: u64,
    /// Leaves of the piece's subtree ([`crate::merkle::piece_width`]).
    pub width: usize,
}

/// A piece's v1 SHA-1 (hybrid) and v2 merkle hash.
pub type PieceHashes = (Option<[u8; 20]>, crate::merkle::Node);

/// One pass over every byte: each piece's v1 SHA-1 (when `v1` is set) and its v2 merkle
/// hash, both fed from the same 16 KiB while it is in the CPU's cache, in parallel runs
/// of pieces. Only one 32-byte node per piece is kept, never the leaves.
pub fn hash_all_v2(
    storage: &Storage,
    plans: &[V2Plan],
    v1: bool,
    threads: usize,
    progress: &AtomicU64,
) -> Result<Vec<PieceHashes>, Error> {
    let hashes = hash_runs(storage, threads, progress, |piece, scratch| {
        let plan = plans.get(piece.get()).copied().unwrap_or(V2Plan { data: 0, width: 1 });
        let mut sha1 = v1.then(Sha1::new);
        let mut merkle = PieceHasher::default();
        let mut left = plan.data;
        storage.visit(storage.layout().piece_range(piece), scratch, |bytes| {
            for chunk in bytes.chunks(crate::merkle::LEAF_LEN) {
                if let Some(sha1) = sha1.as_mut() {
                    sha1.update(chunk);
                }
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(chunk.len());
                if take > 0 {
                    merkle.update(&chunk[..take]);
                    left -= take as u64;
                }
            }
        })?;
        Ok((sha1.map(|h| h.finalize().into()), merkle.finish(plan.width)))
    })?;
    Ok(hashes.into_iter().collect::<Result<_, StorageError>>()?)
}

/// Checks every piece against every hash the torrent has for it.
pub fn verify_all(
    storage: &Storage,
    expected: &Expected,
    threads: usize,
    progress: &AtomicU64,
) -> Result<Vec<PieceStatus>, Error> {
    hash_runs(storage, threads, progress, |piece, scratch| expected.check(storage, piece, scratch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;
    use crate::storage::IoMode;

    #[test]
    fn hashes_pieces_across_files_in_both_backends() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data: Vec<u8> = (0..100u32).map(|i| (i * 7 % 251) as u8).collect();
        let lengths = [30u64, 0, 45, 25];
        let mut paths = Vec::new();
        let mut at = 0;
        for (i, len) in lengths.iter().enumerate() {
            let path = dir.path().join(format!("f{i}"));
            let len = usize::try_from(*len).expect("small");
            std::fs::write(&path, &data[at..at + len]).expect("write");
            at += len;
            paths.push(path);
        }
        let layout = Layout::new(32, &lengths).expect("layout");
        let want: Vec<[u8; 20]> = data.chunks(32).map(|c| Sha1::digest(c).into()).collect();
        for io in [IoMode::Mmap, IoMode::Pread] {
            let storage = Storage::open_read(&paths, &layout, io).expect("open");
            let progress = AtomicU64::new(0);
            assert_eq!(hash_all(&storage, 2, &progress).expect("hash"), want);
            assert_eq!(progress.load(Ordering::Relaxed), 100);
            let status = verify_all(&storage, &Expected::v1(&want), 2, &progress).expect("verify");
            assert!(status.iter().all(|s| *s == PieceStatus::Good));
        }
        std::fs::remove_file(&paths[3]).expect("remove");
        let storage = Storage::open_read(&paths, &layout, IoMode::Mmap).expect("open");
        let status =
            verify_all(&storage, &Expected::v1(&want), 1, &AtomicU64::new(0)).expect("verify");
        assert_eq!(
            status,
            [PieceStatus::Good, PieceStatus::Good, PieceStatus::Missing, PieceStatus::Missing]
        );
    }
}
