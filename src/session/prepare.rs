//! Opening a torrent's data before a session starts: for seeding, and for a download that
//! may resume.
//!
//! A download allocates every file up front (so a full disk is an error before any transfer),
//! then hashes only the pieces that touch files which already held data: an interrupted
//! download resumes with just the missing pieces, and a fresh one starts without hashing
//! zeros.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::bitfield::Bitfield;
use crate::error::Error;
use crate::hash::{self, PieceStatus};
use crate::metainfo::Metainfo;
use crate::storage::{IoMode, Storage};
use crate::types::PieceIndex;

/// Open data and what of it is already verified.
pub struct Prepared {
    /// The open files.
    pub storage: Storage,
    /// Verified pieces.
    pub have: Bitfield,
    /// The file or top folder the data lives at.
    pub root: PathBuf,
}

/// Where a torrent's data goes for an output argument: the torrent's own file or top folder,
/// or, for a single-file torrent and an existing folder, `<folder>/<name>`.
pub fn output_root(meta: &Metainfo, out: &Path) -> PathBuf {
    if !meta.info.is_multi_file() && out.is_dir() {
        out.join(&meta.info.name)
    } else {
        out.to_path_buf()
    }
}

/// Opens existing data read-only and verifies every piece. `progress` counts hashed bytes.
pub fn open_for_seeding(
    meta: &Metainfo,
    data: &Path,
    io: IoMode,
    threads: usize,
    progress: &AtomicU64,
) -> Result<Prepared, Error> {
    if !data.exists() {
        return Err(Error::Data { path: data.to_path_buf(), reason: "does not exist".into() });
    }
    let root = output_root(meta, data);
    if meta.info.is_multi_file() && !root.is_dir() {
        return Err(Error::Data {
            path: root,
            reason: "is a file, but this torrent holds a folder".into(),
        });
    }
    let storage = Storage::open_read(&meta.info.file_paths(&root), meta.layout(), io)?;
    let status = hash::verify_all(&storage, &meta.info.pieces, threads, progress)?;
    let have = bitfield_of(&status);
    Ok(Prepared { storage, have, root })
}

/// Creates or reopens the output files read-write, with all space reserved, and verifies
/// the pieces that touch files which already held data.
pub fn open_for_download(
    meta: &Metainfo,
    out: &Path,
    io: IoMode,
    progress: &AtomicU64,
) -> Result<Prepared, Error> {
    let root = output_root(meta, out);
    if meta.info.is_multi_file() && root.is_file() {
        return Err(Error::Data {
            path: root,
            reason: "is a file, but this torrent holds a folder".into(),
        });
    }
    let paths = meta.info.file_paths(&root);
    let had_data: Vec<bool> = paths
        .iter()
        .map(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() > 0))
        .collect();
    let storage = Storage::open_write(&paths, meta.layout(), io)?;
    let layout = meta.layout();
    let mut check = vec![false; layout.piece_count() as usize];
    for (index, had) in had_data.iter().enumerate() {
        if *had {
            for piece in layout.file_pieces(index) {
                check[piece as usize] = true;
            }
        }
    }
    let skipped: u64 =
        layout.pieces().filter(|p| !check[p.get()]).map(|p| u64::from(layout.piece_len(p))).sum();
    progress.fetch_add(skipped, Ordering::Relaxed);
    let status: Vec<PieceStatus> = (0..layout.piece_count())
        .into_par_iter()
        .map(|index| {
            let piece = PieceIndex(index);
            if !check[piece.get()] {
                return PieceStatus::Missing;
            }
            let status = hash::verify_piece(&storage, piece, &meta.info.pieces[piece.get()]);
            progress.fetch_add(u64::from(layout.piece_len(piece)), Ordering::Relaxed);
            status
        })
        .collect();
    let have = bitfield_of(&status);
    Ok(Prepared { storage, have, root })
}

fn bitfield_of(status: &[PieceStatus]) -> Bitfield {
    let len = u32::try_from(status.len()).unwrap_or(u32::MAX);
    let mut have = Bitfield::new(len);
    for (index, state) in (0..len).zip(status) {
        if *state == PieceStatus::Good {
            have.set(index);
        }
    }
    have
}
