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
//!
//! A download of some files (a [`Selection`]) creates only those; the bytes of the others
//! that share a piece with them go to the hidden [`PARTS_FILE`] in the output folder, and a
//! later run that selects more files first copies what it holds into them, so nothing is
//! fetched twice.
//!
//! Both first look for a resume record ([`crate::resume`]) of the torrent and data path:
//! pieces that lie only in files whose stamp still matches the record are known without
//! hashing (good when the record claims them, missing otherwise); only the pieces touching a
//! file that changed or vanished are hashed, and `recheck` ignores the record. When anything
//! was hashed, the files are synced and a new record is written at once, so the next start
//! need not hash it again even if this run is killed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::bitfield::Bitfield;
use crate::error::Error;
use crate::hash::{self, PieceStatus};
use crate::metainfo::Metainfo;
use crate::resume::{self, FileStamp, ResumeRecord, ResumeStore, Trust};
use crate::selection::Selection;
use crate::state::StateDir;
use crate::storage::{IoMode, Parts, Storage};
use crate::types::PieceIndex;

/// How a start uses resume records.
#[derive(Default)]
pub struct ResumeOptions {
    /// Where records are kept; `None` keeps none.
    pub state: Option<StateDir>,
    /// Hash everything, whatever a record says (a new record is still written).
    pub recheck: bool,
}

impl ResumeOptions {
    fn store(&self, meta: &Metainfo, root: &Path) -> Option<ResumeStore> {
        self.state.as_ref().map(|state| ResumeStore::new(state, meta.info_hash, root))
    }

    /// The record to trust, if any, compared with the files' stamps `now`.
    fn trust(
        &self,
        store: Option<&ResumeStore>,
        meta: &Metainfo,
        now: &[Option<FileStamp>],
    ) -> Option<Trust> {
        if self.recheck {
            return None;
        }
        let record = store?.load(meta.layout())?;
        Some(record.trust(meta.layout(), now))
    }
}

/// Open data and what of it is already verified.
pub struct Prepared {
    /// The open files.
    pub storage: Storage,
    /// Verified pieces.
    pub have: Bitfield,
    /// The pieces of `have` a resume record of this boot vouched for as unsynced: written,
    /// not yet durable.
    pub unsynced: Bitfield,
    /// The file or top folder the data lives at.
    pub root: PathBuf,
    /// Why pieces that are missing cannot be repaired, when they cannot.
    pub warning: Option<String>,
    /// Bytes hashed to get here (0 when a resume record vouched for everything).
    pub hashed: u64,
    /// Where this data's resume record is kept, if records are kept.
    pub resume: Option<ResumeStore>,
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

/// Opens existing data read-only and verifies every piece a resume record does not vouch
/// for; when some are missing or damaged, reopens it writable so they can be repaired (see
/// the module docs). `progress` counts checked bytes, hashed or trusted.
pub fn open_for_seeding(
    meta: &Metainfo,
    data: &Path,
    io: IoMode,
    threads: usize,
    progress: &AtomicU64,
    options: &ResumeOptions,
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
    let store = options.store(meta, &root);
    let mut stamps = resume::settled_stamps(&paths);
    let trust = options.trust(store.as_ref(), meta, &stamps);
    let storage = Storage::open_read(&paths, meta.layout(), io)?;
    let hashed = AtomicU64::new(0);
    let (status, checked) = match &trust {
        None => {
            let status = hash::verify_all(&storage, &hash::Expected::of(meta), threads, progress)?;
            hashed.store(meta.layout().total_length(), Ordering::Relaxed);
            (status, vec![true; status_len(meta)])
        }
        Some(trust) => {
            let unknown = unknown_pieces(meta, trust, |_| true);
            (verify_listed(meta, &storage, trust, &unknown, progress, &hashed), unknown)
        }
    };
    let have = bitfield_of(&status);
    let unsynced = unsynced_of(trust.as_ref(), &have);
    let mut prepared =
        Prepared { storage, have, unsynced, root, warning: None, hashed: 0, resume: store };
    if !prepared.have.is_complete() && prepared.have.count() > 0 {
        let absent: Vec<bool> = (0..paths.len())
            .map(|index| prepared.storage.unavailable(index).is_some() && !paths[index].exists())
            .collect();
        match Storage::open_repair(&paths, meta.layout(), io) {
            Ok(writable) => {
                stamps = resume::settled_stamps(&paths);
                let checked: Vec<bool> = checked
                    .iter()
                    .zip(&status)
                    .map(|(c, s)| *c && *s == PieceStatus::Missing)
                    .collect();
                let status = recheck(meta, &writable, status, &absent, &checked, &hashed);
                prepared.have = bitfield_of(&status);
                prepared.storage = writable;
            }
            Err(err) => {
                let have = &prepared.have;
                let missing = have.len() - have.count();
                let plural = if missing == 1 { "" } else { "s" };
                prepared.warning = Some(format!(
                    "cannot repair {missing} missing or damaged piece{plural}: {err}; \
                     serving the {} that verify",
                    have.count()
                ));
            }
        }
    }
    prepared.hashed = hashed.load(Ordering::Relaxed);
    record_start(&mut prepared, &paths, stamps);
    Ok(prepared)
}

fn status_len(meta: &Metainfo) -> usize {
    meta.layout().piece_count() as usize
}

/// Per piece: whether its state is unknown to `trust` and `wanted` (so it must be hashed).
fn unknown_pieces(meta: &Metainfo, trust: &Trust, wanted: impl Fn(u32) -> bool) -> Vec<bool> {
    let layout = meta.layout();
    (0..layout.piece_count()).map(|p| !trust.known(layout, p) && wanted(p)).collect()
}

/// Hashes the pieces marked in `check`; the others are good when `trust` vouches for them
/// and missing otherwise. Counts hashed bytes in `hashed`, and every piece in `progress`.
fn verify_listed(
    meta: &Metainfo,
    storage: &Storage,
    trust: &Trust,
    check: &[bool],
    progress: &AtomicU64,
    hashed: &AtomicU64,
) -> Vec<PieceStatus> {
    let layout = meta.layout();
    (0..layout.piece_count())
        .into_par_iter()
        .map(|index| {
            let piece = PieceIndex(index);
            let len = u64::from(layout.piece_len(piece));
            let status = if check[piece.get()] {
                hashed.fetch_add(len, Ordering::Relaxed);
                hash::verify_piece(storage, piece, &hash::Expected::of(meta))
            } else if trust.good.get(index) {
                PieceStatus::Good
            } else {
                PieceStatus::Missing
            };
            progress.fetch_add(len, Ordering::Relaxed);
            status
        })
        .collect()
}

/// The good pieces a record vouched for only as unsynced.
fn unsynced_of(trust: Option<&Trust>, have: &Bitfield) -> Bitfield {
    let mut unsynced = Bitfield::new(have.len());
    for piece in trust.into_iter().flat_map(|t| t.unsynced.iter_set()) {
        if have.get(piece) {
            unsynced.set(piece);
        }
    }
    unsynced
}

/// Writes a new resume record when this start hashed anything: what verified, with the
/// files' `stamps`, once the files are synced (which makes every piece durable). A failure
/// only costs the next start a hash: the session writes the record again as it goes.
fn record_start(prepared: &mut Prepared, paths: &[PathBuf], stamps: Vec<Option<FileStamp>>) {
    let Some(store) = &prepared.resume else { return };
    if prepared.hashed == 0 || resume::sync_files(paths).is_err() {
        return;
    }
    prepared.unsynced = Bitfield::new(prepared.have.len());
    let pieces = prepared.have.clone();
    let record =
        ResumeRecord { pieces, unsynced: prepared.unsynced.clone(), boot: None, files: stamps };
    let _ = store.save(&record);
}

/// Hashes again, in the storage now open for writing, the pieces that were not good and lie
/// only in files that existed: a file that was too short has been extended, and the pieces
/// its old bytes cover may now verify. Pieces touching a file that was absent stay missing.
/// Only pieces marked in `checked` (hashed before, so not vouched for by a record) are
/// considered.
fn recheck(
    meta: &Metainfo,
    storage: &Storage,
    mut status: Vec<PieceStatus>,
    absent: &[bool],
    checked: &[bool],
    hashed: &AtomicU64,
) -> Vec<PieceStatus> {
    let layout = meta.layout();
    let mut skip = vec![false; status.len()];
    for (index, _) in absent.iter().enumerate().filter(|(_, absent)| **absent) {
        for piece in layout.file_pieces(index) {
            skip[piece as usize] = true;
        }
    }
    let again: Vec<u32> =
        (0..layout.piece_count()).filter(|&p| checked[p as usize] && !skip[p as usize]).collect();
    let found: Vec<(u32, PieceStatus)> = again
        .into_par_iter()
        .map(|index| {
            let piece = PieceIndex(index);
            hashed.fetch_add(u64::from(meta.layout().piece_len(piece)), Ordering::Relaxed);
            (index, hash::verify_piece(storage, piece, &hash::Expected::of(meta)))
        })
        .collect();
    for (index, state) in found {
        status[index as usize] = state;
    }
    status
}

/// Creates or reopens the output files read-write, with all space reserved, and verifies
/// the pieces that touch files which already held data, unless a resume record vouches for
/// them. Links under the output are refused, and a longer file at an output path is cut only
/// with `force` (see [`Storage::open_write`]).
pub fn open_for_download(
    meta: &Metainfo,
    out: &Path,
    io: IoMode,
    force: bool,
    progress: &AtomicU64,
    options: &ResumeOptions,
    selection: Option<&Selection>,
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
    // Stamped before opening: reserving space may touch the files' times.
    let before = resume::settled_stamps(&paths);
    let parts_path = root.join(PARTS_FILE);
    let old_parts = meta.info.is_multi_file() && parts_path.is_file();
    let parts = match (meta.info.is_multi_file(), selection) {
        (true, Some(selection)) => {
            Some(Parts { path: parts_path.clone(), selected: selection.files().to_vec() })
        }
        _ => None,
    };
    let storage =
        Storage::open_write_some(&paths, meta.layout(), io, &root, force, parts.as_ref())?;
    let mut from_parts = Vec::new();
    if old_parts {
        from_parts = take_from_parts(meta, &storage, &parts_path, &had_data, selection)?;
        if selection.is_none() {
            // Every file is in place now: the parts file has nothing more to give.
            let _ = std::fs::remove_file(&parts_path);
        }
    }
    let store = options.store(meta, &root);
    let trust = options.trust(store.as_ref(), meta, &before).unwrap_or_else(|| Trust {
        good: Bitfield::new(meta.layout().piece_count()),
        unsynced: Bitfield::new(meta.layout().piece_count()),
        matching: vec![false; paths.len()],
    });
    let layout = meta.layout();
    let mut touches_data = vec![false; layout.piece_count() as usize];
    for (index, had) in had_data.iter().enumerate() {
        if *had || from_parts.get(index).copied().unwrap_or(false) {
            for piece in layout.file_pieces(index) {
                touches_data[piece as usize] = true;
            }
        }
    }
    let check = unknown_pieces(meta, &trust, |p| touches_data[p as usize]);
    let hashed = AtomicU64::new(0);
    let stamps = resume::settled_stamps(&paths);
    let status = verify_listed(meta, &storage, &trust, &check, progress, &hashed);
    let have = bitfield_of(&status);
    let hashed = hashed.load(Ordering::Relaxed);
    let warning = apply_attributes(meta, &paths)?;
    let unsynced = unsynced_of(Some(&trust), &have);
    let mut prepared = Prepared { storage, have, unsynced, root, warning, hashed, resume: store };
    record_start(&mut prepared, &paths, stamps);
    Ok(prepared)
}

/// The hidden file in a multi-file download's folder that holds the bytes of files left out
/// of the selection that share a piece with selected ones.
pub const PARTS_FILE: &str = ".mt-parts";

/// Copies into each selected file that held no data the bytes of its first and last piece
/// that an earlier, narrower selection kept in the parts file (the only pieces of a file
/// left out that are ever fetched). Returns, per file, whether it was filled so.
fn take_from_parts(
    meta: &Metainfo,
    storage: &Storage,
    parts_path: &Path,
    had_data: &[bool],
    selection: Option<&Selection>,
) -> Result<Vec<bool>, Error> {
    use std::os::unix::fs::FileExt;
    let layout = meta.layout();
    let parts =
        std::fs::File::open(parts_path).map_err(|e| Error::io("cannot open", parts_path, e))?;
    let mut filled = vec![false; had_data.len()];
    let mut start = 0u64;
    for (index, had) in had_data.iter().enumerate() {
        let file = start..start + layout.file_length(index);
        start = file.end;
        let selected = selection.is_none_or(|s| s.files().get(index).copied().unwrap_or(false));
        if *had || !selected || file.is_empty() || layout.is_virtual(index) {
            continue;
        }
        let pieces = layout.file_pieces(index);
        for piece in [pieces.start, pieces.end.saturating_sub(1)] {
            let Some(piece) = layout.piece(piece) else { continue };
            let range = layout.piece_range(piece);
            let (from, to) = (range.start.max(file.start), range.end.min(file.end));
            let mut buf = vec![0; usize::try_from(to.saturating_sub(from)).unwrap_or(0)];
            if buf.is_empty() || parts.read_exact_at(&mut buf, from).is_err() {
                continue;
            }
            storage.write(from, &buf).map_err(Error::from)?;
            filled[index] = true;
        }
    }
    Ok(filled)
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

    /// Opens `dir/top` for seeding with `io`, one hashing thread and no resume record.
    fn open_top(meta: &Metainfo, dir: &Path, io: IoMode) -> Prepared {
        let options = ResumeOptions::default();
        open_for_seeding(meta, &dir.join("top"), io, 1, &AtomicU64::new(0), &options).expect("open")
    }

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
        let prepared = open_top(&meta, dir.path(), IoMode::Mmap);
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
        let prepared = open_top(&meta, dir.path(), IoMode::Pread);
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
        let prepared = open_top(&meta, dir.path(), IoMode::Mmap);
        assert!(!prepared.storage.is_writable());
        assert_eq!(prepared.have.count(), 10);
        let warning = prepared.warning.expect("a warning says why nothing is repaired");
        assert!(warning.contains("cannot repair 30 missing or damaged pieces"), "{warning}");
        assert!(warning.contains("b.bin"), "{warning}");
        assert_eq!(std::fs::read(&path).expect("read"), bytes, "the file is untouched");
    }
}
