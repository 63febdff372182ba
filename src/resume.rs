//! Resume records: what an earlier run of `mt seed` or `mt get` verified, so the next run
//! trusts it instead of hashing every byte again.
//!
//! A record belongs to one torrent and one absolute data path: it lives in the user's state
//! folder ([`StateDir`]) as `resume/<info hash>-<digest of the path>.resume`, and names both
//! inside, so a record is never applied to another torrent or another copy of the data. It
//! holds the verified-piece bitfield and, for each file, the [`FileStamp`] (size,
//! modification time, inode) the file had when the record was written.
//!
//! Besides the durable pieces, a record may list *unsynced* pieces: verified and written, but
//! only as far as the page cache, together with the kernel's boot id
//! (`/proc/sys/kernel/random/boot_id`) at the time. The page cache outlives any process (a
//! `kill -9` loses nothing written), and only a kernel crash or power loss can drop it, which
//! always means a new boot. So unsynced pieces are trusted while the boot id is the same, and
//! forgotten (hashed again) after a reboot. This lets `mt get` exit as soon as the last piece
//! verifies, leaving the kernel to write the data back, as any copy does, without a restart
//! ever trusting a piece a crash may have lost.
//!
//! Invariants:
//! - a record never claims a piece as durable before its bytes were made durable
//!   (`fdatasync`/`msync`), never claims an unsynced piece outside the boot it was written
//!   in, and never claims more than was verified, so after a crash it may lag behind the
//!   disk but never leads it;
//! - it is written to a temporary name, synced and renamed into place: a crash leaves the old
//!   record or the new one, never a mix;
//! - a claim holds only while every file the piece touches still has its recorded stamp; a
//!   file that changed, was replaced or vanished voids the claims on its pieces, which are
//!   then hashed again;
//! - a stamp is recorded only once the kernel's file clock (`CLOCK_REALTIME_COARSE`, a tick of
//!   a few milliseconds) has moved past the file's modification time: a write later in the
//!   same tick would leave the time unchanged, so until then the file is recorded as unknown.
//!
//! A file changed behind mt's back with its size and time put back (`touch -d`) on the same
//! inode still matches; `--recheck` hashes everything regardless of the record.

use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha1::{Digest, Sha1};

use crate::bencode::{self, Value};
use crate::bitfield::Bitfield;
use crate::layout::Layout;
use crate::state::StateDir;
use crate::types::InfoHash;

/// The largest record read back: a bitfield of 2^24 pieces and 100,000 files fit well below.
const MAX_RECORD: u64 = 64 << 20;

/// How a file looked when a record was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    /// Length in bytes.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Nanoseconds within that second.
    pub mtime_nsec: i64,
    /// Inode number: a file replaced by another (rename over it) has a new one.
    pub inode: u64,
}

impl FileStamp {
    /// The stamp of `path` now (links followed), or `None` when it is missing or no file.
    pub fn of(path: &Path) -> Option<FileStamp> {
        let meta = fs::metadata(path).ok().filter(fs::Metadata::is_file)?;
        Some(FileStamp {
            size: meta.len(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
            inode: meta.ino(),
        })
    }

    /// True once the kernel's file clock has moved past the modification time, so any later
    /// write changes it (see the module docs).
    pub fn is_settled(&self) -> bool {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
        (self.mtime, self.mtime_nsec) < (now.tv_sec, now.tv_nsec)
    }

    fn to_value(self) -> Value {
        let int = |n: u64| Value::Int(i64::try_from(n).unwrap_or(i64::MAX));
        Value::List(vec![
            int(self.size),
            Value::Int(self.mtime),
            Value::Int(self.mtime_nsec),
            int(self.inode),
        ])
    }

    fn from_value(value: &Value) -> Option<FileStamp> {
        let [size, mtime, mtime_nsec, inode] = value.as_list()? else { return None };
        Some(FileStamp {
            size: u64::try_from(size.as_int()?).ok()?,
            mtime: mtime.as_int()?,
            mtime_nsec: mtime_nsec.as_int()?,
            inode: u64::try_from(inode.as_int()?).ok()?,
        })
    }
}

/// The stamps of `paths` for a record about to be written: a file modified within the
/// current tick of the file clock is stamped again a few milliseconds later, and recorded as
/// unknown (`None`) if it still is not settled.
pub fn settled_stamps(paths: &[PathBuf]) -> Vec<Option<FileStamp>> {
    let mut stamps: Vec<Option<FileStamp>> = paths.iter().map(|p| FileStamp::of(p)).collect();
    for _ in 0..10 {
        if stamps.iter().flatten().all(FileStamp::is_settled) {
            return stamps;
        }
        std::thread::sleep(Duration::from_millis(5));
        for (stamp, path) in stamps.iter_mut().zip(paths) {
            if stamp.is_some_and(|s| !s.is_settled()) {
                *stamp = FileStamp::of(path);
            }
        }
    }
    stamps.into_iter().map(|s| s.filter(FileStamp::is_settled)).collect()
}

/// The stamps of `paths` now ([`FileStamp::of`]).
pub fn stamps(paths: &[PathBuf]) -> Vec<Option<FileStamp>> {
    paths.iter().map(|p| FileStamp::of(p)).collect()
}

/// The kernel's id of the running boot, or `None` where the kernel does not say.
pub fn boot_id() -> Option<String> {
    let id = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let id = id.trim();
    (!id.is_empty() && id.len() <= 64).then(|| id.to_string())
}

/// One resume record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumeRecord {
    /// Verified pieces whose bytes were durable when the record was written.
    pub pieces: Bitfield,
    /// Verified pieces written to the page cache but not yet synced, in boot [`Self::boot`]
    /// (see the module docs). A loaded record keeps them only when that is the running boot.
    pub unsynced: Bitfield,
    /// The boot id the unsynced pieces belong to.
    pub boot: Option<String>,
    /// Each file's stamp then; `None` for a file that was missing or whose stamp was unsure.
    pub files: Vec<Option<FileStamp>>,
}

/// What a record says about the data as it is now.
#[derive(Debug)]
pub struct Trust {
    /// Pieces the record claims, every file of which still matches.
    pub good: Bitfield,
    /// The pieces of `good` that are claimed only as unsynced: a sync must make them
    /// durable before a record may claim them as such.
    pub unsynced: Bitfield,
    /// Per file: it matches its recorded stamp, so what the record says of its pieces holds.
    pub matching: Vec<bool>,
}

impl Trust {
    /// True when every file `piece` touches matches the record: its state is known without
    /// hashing (good when claimed, missing otherwise).
    pub fn known(&self, layout: &Layout, piece: u32) -> bool {
        let start = layout.piece_offset(crate::types::PieceIndex(piece));
        let len = u64::from(layout.piece_len(crate::types::PieceIndex(piece)));
        layout.slices(start..start + len).all(|s| self.matching.get(s.file).copied() == Some(true))
    }
}

impl ResumeRecord {
    /// Compares the record with the files' stamps `now`.
    pub fn trust(&self, layout: &Layout, now: &[Option<FileStamp>]) -> Trust {
        let matching: Vec<bool> = (0..layout.file_count())
            .map(|file| {
                layout.file_length(file) == 0
                    || layout.is_virtual(file)
                    || matches!(
                        (self.files.get(file), now.get(file)),
                        (Some(Some(then)), Some(Some(now))) if then == now
                    )
            })
            .collect();
        let count = self.pieces.len();
        let mut trust =
            Trust { good: Bitfield::new(count), unsynced: Bitfield::new(count), matching };
        for piece in self.pieces.iter_set() {
            if trust.known(layout, piece) {
                trust.good.set(piece);
            }
        }
        for piece in self.unsynced.iter_set() {
            if trust.known(layout, piece) && !trust.good.get(piece) {
                trust.good.set(piece);
                trust.unsynced.set(piece);
            }
        }
        trust
    }
}

/// Where the record of one torrent and data path is kept.
pub struct ResumeStore {
    path: PathBuf,
    info_hash: InfoHash,
    root: PathBuf,
}

impl ResumeStore {
    /// The record of `info_hash` for data at `root` (made absolute, links resolved when it
    /// exists) in `state`.
    pub fn new(state: &StateDir, info_hash: InfoHash, root: &Path) -> ResumeStore {
        let root = fs::canonicalize(root)
            .or_else(|_| std::path::absolute(root))
            .unwrap_or_else(|_| root.to_path_buf());
        let digest = Sha1::digest(root.as_os_str().as_bytes());
        let short: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let name = format!("{}-{short}.resume", info_hash.to_hex());
        ResumeStore { path: state.folder().join("resume").join(name), info_hash, root }
    }

    /// Where the record is stored.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored record, if there is one for this torrent, data path and `layout`; a
    /// missing, unreadable or malformed record is no record.
    pub fn load(&self, layout: &Layout) -> Option<ResumeRecord> {
        let file = fs::File::open(&self.path).ok()?;
        let mut bytes = Vec::new();
        file.take(MAX_RECORD + 1).read_to_end(&mut bytes).ok()?;
        let value = bencode::decode(&bytes).ok()?;
        if value.get("info hash")?.as_bytes()? != self.info_hash.0.as_slice()
            || value.get("root")?.as_bytes()? != self.root.as_os_str().as_bytes()
        {
            return None;
        }
        let count = layout.piece_count();
        if value.get("piece count")?.as_int()? != i64::from(count) {
            return None;
        }
        let pieces = Bitfield::from_bytes(value.get("pieces")?.as_bytes()?, count).ok()?;
        // Unsynced claims hold only in the boot that made them; a malformed list is none.
        let boot = boot_id();
        let unsynced = match (value.get("unsynced"), value.get("boot id")) {
            (Some(list), Some(then))
                if boot.is_some() && then.as_bytes() == boot.as_deref().map(str::as_bytes) =>
            {
                list.as_bytes().and_then(|b| Bitfield::from_bytes(b, count).ok())
            }
            _ => None,
        };
        let unsynced = unsynced.unwrap_or_else(|| Bitfield::new(count));
        let files = value.get("files")?.as_list()?;
        if files.len() != layout.file_count() {
            return None;
        }
        let files = files
            .iter()
            .map(|f| match f.as_list() {
                Some([]) => Some(None),
                _ => FileStamp::from_value(f).map(Some),
            })
            .collect::<Option<Vec<_>>>()?;
        let boot = boot.filter(|_| unsynced.count() > 0);
        Some(ResumeRecord { pieces, unsynced, boot, files })
    }

    /// Writes `record` atomically (temporary name, sync, rename).
    pub fn save(&self, record: &ResumeRecord) -> io::Result<()> {
        let files = record
            .files
            .iter()
            .map(|f| f.map_or(Value::List(Vec::new()), FileStamp::to_value))
            .collect();
        let mut entries = vec![
            ("files", Value::List(files)),
            ("info hash", Value::bytes(self.info_hash.0)),
            ("piece count", Value::Int(i64::from(record.pieces.len()))),
            ("pieces", Value::bytes(record.pieces.as_bytes())),
            ("root", Value::bytes(self.root.as_os_str().as_bytes())),
        ];
        if let Some(boot) = record.boot.as_ref().filter(|_| record.unsynced.count() > 0) {
            entries.push(("boot id", Value::bytes(boot.as_bytes())));
            entries.push(("unsynced", Value::bytes(record.unsynced.as_bytes())));
        }
        let value = bencode::dict(entries);
        if let Some(folder) = self.path.parent() {
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new().recursive(true).mode(0o700).create(folder)?;
        }
        crate::create::write_atomically(&self.path, &value.encode(), true)
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

/// Makes what is already written to each of `paths` durable (`fdatasync` through a read-only
/// descriptor), before a record claims pieces that were only read, not written, by mt.
pub fn sync_files(paths: &[PathBuf]) -> io::Result<()> {
    for path in paths {
        match fs::File::open(path) {
            Ok(file) => file.sync_data()?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path, root: &Path) -> ResumeStore {
        let state = StateDir::at(dir.join("state"));
        ResumeStore::new(&state, InfoHash([7; 20]), root)
    }

    #[test]
    fn a_record_round_trips_and_belongs_to_one_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        fs::write(&data, [1u8; 100]).expect("write");
        let layout = Layout::new(32, &[100, 0]).expect("layout");
        let mut pieces = Bitfield::new(4);
        pieces.set(1);
        pieces.set(3);
        let record = ResumeRecord {
            pieces,
            unsynced: Bitfield::new(4),
            boot: None,
            files: vec![FileStamp::of(&data), None],
        };
        let saved = store(dir.path(), &data);
        assert_eq!(saved.load(&layout), None);
        saved.save(&record).expect("save");
        assert_eq!(saved.load(&layout), Some(record));
        let other = dir.path().join("other");
        assert_eq!(store(dir.path(), &other).load(&layout), None, "another path has none");
        let bigger = Layout::new(16, &[100, 0]).expect("layout");
        assert_eq!(saved.load(&bigger), None, "another geometry has none");
        fs::write(saved.path(), b"garbage").expect("spoil");
        assert_eq!(saved.load(&layout), None);
    }

    #[test]
    fn claims_hold_only_for_pieces_whose_files_all_match() {
        // Pieces of 4 bytes over files a (6 bytes) and b (6 bytes):
        // |a a a a|a a b b|b b b b|
        let layout = Layout::new(4, &[6, 6]).expect("layout");
        let a = FileStamp { size: 6, mtime: 1, mtime_nsec: 2, inode: 3 };
        let b = FileStamp { size: 6, mtime: 1, mtime_nsec: 2, inode: 4 };
        let record = ResumeRecord {
            pieces: Bitfield::full(3),
            unsynced: Bitfield::new(3),
            boot: None,
            files: vec![Some(a), Some(b)],
        };
        let trust = record.trust(&layout, &[Some(a), Some(b)]);
        assert_eq!(trust.good.count(), 3);
        let touched = FileStamp { mtime_nsec: 9, ..b };
        let trust = record.trust(&layout, &[Some(a), Some(touched)]);
        assert!(trust.good.get(0) && !trust.good.get(1) && !trust.good.get(2));
        assert_eq!(trust.matching, [true, false]);
        let trust = record.trust(&layout, &[None, Some(b)]);
        assert!(!trust.good.get(0) && !trust.good.get(1) && trust.good.get(2));
    }

    #[test]
    fn unsynced_claims_hold_in_the_boot_that_made_them_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        fs::write(&data, [1u8; 100]).expect("write");
        let layout = Layout::new(32, &[100]).expect("layout");
        let mut pieces = Bitfield::new(4);
        pieces.set(0);
        let mut unsynced = Bitfield::new(4);
        unsynced.set(2);
        let files = vec![FileStamp::of(&data)];
        let saved = store(dir.path(), &data);
        let Some(boot) = boot_id() else {
            eprintln!("SKIPPED: this kernel has no boot id, so no record holds unsynced claims");
            return;
        };
        let record = ResumeRecord { pieces, unsynced, boot: Some(boot), files };
        saved.save(&record).expect("save");
        let loaded = saved.load(&layout).expect("load");
        assert_eq!(loaded, record, "this boot keeps them");
        let trust = loaded.trust(&layout, &[FileStamp::of(&data)]);
        assert!(trust.good.get(0) && trust.good.get(2) && !trust.good.get(1));
        assert!(trust.unsynced.get(2) && !trust.unsynced.get(0));

        let other = ResumeRecord { boot: Some("another boot".into()), ..record.clone() };
        saved.save(&other).expect("save");
        let loaded = saved.load(&layout).expect("load");
        assert_eq!(loaded.unsynced.count(), 0, "after a reboot they are hashed again");
        assert_eq!(loaded.pieces, record.pieces, "durable claims stay");
    }
}
