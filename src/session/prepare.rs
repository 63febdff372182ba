//! Opening a torrent's data before a session starts: for seeding, and for a download that
//! may resume.
//!
//! Seeding opens the data read-only and verifies it. When pieces are missing or damaged it
//! reopens the files writable, as libtorrent does, so the session can fetch those pieces,
//! verify and write them, and then serve everything; where the data cannot be opened
//! writable (a read-only file, folder or filesystem), it keeps the read-only storage and
//! says why once, and the session serves what verified without asking peers for the rest.
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
    /// Why pieces that are missing cannot be repaired, when they cannot.
    pub warning: Option<String>,
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

/// Opens existing data read-only and verifies every piece; when some are missing or
/// damaged, reopens it writable so they can be repaired (see the module docs). `progress`
/// counts hashed bytes.
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
    let paths = meta.info.file_paths(&root);
    let storage = Storage::open_read(&paths, meta.layout(), io)?;
    let status = hash::verify_all(&storage, &meta.info.pieces, threads, progress)?;
    let have = bitfield_of(&status);
    if have.is_complete() || have.count() == 0 {
        return Ok(Prepared { storage, have, root, warning: None });
    }
    let absent: Vec<bool> = (0..paths.len())
        .map(|index| storage.unavailable(index).is_some() && !paths[index].exists())
        .collect();
    match Storage::open_repair(&paths, meta.layout(), io) {
        Ok(writable) => {
            drop(storage);
            let status = recheck(meta, &writable, status, &absent);
            let have = bitfield_of(&status);
            Ok(Prepared { storage: writable, have, root, warning: None })
        }
        Err(err) => {
            let missing = have.len() - have.count();
            let plural = if missing == 1 { "" } else { "s" };
            let warning = format!(
                "cannot repair {missing} missing or damaged piece{plural}: {err}; \
                 serving the {} that verify",
                have.count()
            );
            Ok(Prepared { storage, have, root, warning: Some(warning) })
        }
    }
}

/// Hashes again, in the storage now open for writing, the pieces that were not good and lie
/// only in files that existed: a file that was too short has been extended, and the pieces
/// its old bytes cover may now verify. Pieces touching a file that was absent stay missing.
fn recheck(
    meta: &Metainfo,
    storage: &Storage,
    mut status: Vec<PieceStatus>,
    absent: &[bool],
) -> Vec<PieceStatus> {
    let layout = meta.layout();
    let mut skip = vec![false; status.len()];
    for (index, _) in absent.iter().enumerate().filter(|(_, absent)| **absent) {
        for piece in layout.file_pieces(index) {
            skip[piece as usize] = true;
        }
    }
    let again: Vec<u32> = (0..layout.piece_count())
        .filter(|&p| status[p as usize] == PieceStatus::Missing && !skip[p as usize])
        .collect();
    let found: Vec<(u32, PieceStatus)> = again
        .into_par_iter()
        .map(|index| {
            let piece = PieceIndex(index);
            (index, hash::verify_piece(storage, piece, &meta.info.pieces[piece.get()]))
        })
        .collect();
    for (index, state) in found {
        status[index as usize] = state;
    }
    status
}

/// Creates or reopens the output files read-write, with all space reserved, and verifies
/// the pieces that touch files which already held data. Links under the output are refused,
/// and a longer file at an output path is cut only with `force` (see [`Storage::open_write`]).
pub fn open_for_download(
    meta: &Metainfo,
    out: &Path,
    io: IoMode,
    force: bool,
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
    let storage = Storage::open_write(&paths, meta.layout(), io, &root, force)?;
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
    let warning = apply_attributes(meta, &paths)?;
    Ok(Prepared { storage, have, root, warning })
}

/// Gives downloaded files their BEP 47 attributes: `x` sets the executable bits where the
/// file is readable. Symbolic links are never created; the warning names each one left out.
fn apply_attributes(meta: &Metainfo, paths: &[PathBuf]) -> Result<Option<String>, Error> {
    use std::os::unix::fs::PermissionsExt;
    let mut links = Vec::new();
    for (file, path) in meta.info.files.iter().zip(paths) {
        if let Some(target) = &file.attr.symlink {
            links.push(format!("{} -> {}", path.display(), target.join("/")));
        } else if file.attr.executable && !file.is_padding() {
            let meta = std::fs::metadata(path).map_err(|e| Error::io("cannot stat", path, e))?;
            let mode = meta.permissions().mode();
            let wanted = mode | ((mode & 0o444) >> 2);
            if wanted != mode {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted))
                    .map_err(|e| Error::io("cannot make executable", path, e))?;
            }
        }
    }
    Ok((!links.is_empty())
        .then(|| format!("symbolic links in the torrent are not created: {}", links.join(", "))))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::create::{self, CreateOptions};

    /// Writes `top/a.bin` (10 pieces of 16 KiB) and `top/b.bin` (30 pieces) and returns
    /// their torrent and b.bin's bytes.
    fn torrent(dir: &Path) -> (Metainfo, Vec<u8>) {
        let bytes = |n: u32, salt: u32| -> Vec<u8> {
            (0..n * 16384).map(|i| ((i % 251) ^ (i >> 14) ^ salt).to_le_bytes()[0]).collect()
        };
        let input = dir.join("top");
        std::fs::create_dir(&input).expect("mkdir");
        std::fs::write(input.join("a.bin"), bytes(10, 1)).expect("write");
        let b = bytes(30, 2);
        std::fs::write(input.join("b.bin"), &b).expect("write");
        let options =
            CreateOptions { input: input.clone(), piece_length: Some(16384), ..Default::default() };
        let files = create::walk(&input).expect("walk");
        let created = create::create(&options, files, &AtomicU64::new(0)).expect("create");
        (created.metainfo, b)
    }

    #[test]
    fn a_short_file_is_extended_for_repair_and_keeps_the_pieces_it_held() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (meta, bytes) = torrent(dir.path());
        let path = dir.path().join("top/b.bin");
        std::fs::write(&path, &bytes[..10 * 16384 + 100]).expect("shorten");
        let root = dir.path().join("top");
        let prepared =
            open_for_seeding(&meta, &root, IoMode::Mmap, 1, &AtomicU64::new(0)).expect("open");
        assert!(prepared.storage.is_writable());
        assert_eq!(prepared.warning, None);
        assert_eq!(prepared.have.count(), 20, "a.bin and the whole pieces left in b.bin verify");
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), 30 * 16384);
        assert_eq!(std::fs::read(&path).expect("read")[..10 * 16384], bytes[..10 * 16384]);
    }

    #[test]
    fn a_damaged_piece_opens_the_data_writable_for_repair() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (meta, mut bytes) = torrent(dir.path());
        bytes[5 * 16384 + 7] ^= 1;
        std::fs::write(dir.path().join("top/b.bin"), &bytes).expect("damage");
        let root = dir.path().join("top");
        let prepared =
            open_for_seeding(&meta, &root, IoMode::Pread, 1, &AtomicU64::new(0)).expect("open");
        assert!(prepared.storage.is_writable());
        assert_eq!(prepared.have.count(), 39);
        assert!(!prepared.have.get(15), "piece 5 of b.bin is piece 15 of the torrent");
    }

    #[test]
    fn a_file_longer_than_the_torrent_is_never_cut_and_the_rest_is_served() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (meta, mut bytes) = torrent(dir.path());
        bytes.extend_from_slice(b"someone's data");
        let path = dir.path().join("top/b.bin");
        std::fs::write(&path, &bytes).expect("lengthen");
        let root = dir.path().join("top");
        let prepared =
            open_for_seeding(&meta, &root, IoMode::Mmap, 1, &AtomicU64::new(0)).expect("open");
        assert!(!prepared.storage.is_writable());
        assert_eq!(prepared.have.count(), 10);
        let warning = prepared.warning.expect("a warning says why nothing is repaired");
        assert!(warning.contains("cannot repair 30 missing or damaged pieces"), "{warning}");
        assert!(warning.contains("b.bin"), "{warning}");
        assert_eq!(std::fs::read(&path).expect("read"), bytes, "the file is untouched");
    }
}
