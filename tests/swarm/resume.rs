//! Fast resume: `mt seed` and `mt get` keep a resume record per torrent and data path, so a
//! restart trusts what was verified before instead of hashing it again; a file that changed
//! is hashed again alone; `--recheck` hashes everything; and after `kill -9` the record lags
//! behind the disk but never claims a piece that is not there.
//!
//! A download exits without waiting for its data to reach the disk: its record lists the
//! pieces not yet synced as trusted in the running boot only, so a restart in the same boot
//! (a seed of what was just downloaded) hashes nothing.
//!
//! "Hashed" is the `hashed_bytes` of the `seeding`/`started` line. That the data is not even
//! read is checked from the kernel's side: the data is dropped from the page cache first
//! (`posix_fadvise(POSIX_FADV_DONTNEED)`), then `read_bytes` in `/proc/<pid>/io` counts what
//! the restarted seed made the disk read.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use mt::metainfo::Metainfo;
use mt::resume::ResumeStore;
use mt::state::StateDir;
use sha1::{Digest, Sha1};

use crate::common::TestEnv;
use crate::common::process::Running;
use crate::common::swarm::{GET_LIMIT, STARTUP, assert_same_file, assert_same_tree};
use crate::support::fake_peer::{Behaviour, FakePeer};

/// Pieces of 64 KiB over three files:
/// a.bin is pieces 0..=3, b.bin pieces 3..=7 (5 whole pieces), c.bin pieces 7..=9.
const FILES: &[(&str, usize)] = &[("a.bin", 200_000), ("b.bin", 300_000), ("c.bin", 100_000)];
const TOTAL: u64 = 600_000;
/// The bytes of the pieces b.bin touches.
const B_PIECES: u64 = 5 * 65_536;

fn album(env: &TestEnv) {
    env.tree("album", FILES);
    env.run(&["create", "-p", "64K", "album"]).expect_code(0);
}

/// Starts `mt seed album.torrent album` with `extra`; returns it and its `seeding` line.
fn seed(env: &TestEnv, extra: &[&str]) -> (Running, serde_json::Value) {
    let mut args = vec!["seed", "album.torrent", "album", "--bind", "127.0.0.1", "-p", "0"];
    args.push("--json");
    args.extend_from_slice(extra);
    let mut process = Running::spawn(env.mt(&args));
    let seeding = process.wait_for_event("seeding", STARTUP);
    (process, seeding)
}

fn hashed(line: &serde_json::Value) -> u64 {
    line["hashed_bytes"].as_u64().unwrap_or_else(|| panic!("no hashed_bytes: {line}"))
}

/// Writes the files under `folder` to disk and drops them from the page cache.
fn drop_from_page_cache(folder: &Path) {
    for (name, _) in FILES {
        let file = File::open(folder.join(name)).expect("open data");
        file.sync_all().expect("sync data");
        rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).expect("fadvise");
    }
}

/// Bytes `pid` has made the storage layer read (`read_bytes` of `/proc/<pid>/io`).
fn read_bytes(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).expect("read /proc/<pid>/io");
    io.lines()
        .find_map(|l| l.strip_prefix("read_bytes: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no read_bytes in {io}"))
}

#[test]
fn a_complete_seed_restarts_without_hashing_or_reading_its_data() {
    let env = TestEnv::new();
    album(&env);
    let (first, seeding) = seed(&env, &[]);
    assert_eq!(hashed(&seeding), TOTAL, "the first start hashes everything");
    drop(first);

    drop_from_page_cache(&env.path("album"));
    let (again, seeding) = seed(&env, &[]);
    assert_eq!(hashed(&seeding), 0, "the record vouches for every piece: {seeding}");
    assert_eq!(seeding["missing_pieces"], 0);
    let read = read_bytes(again.pid());
    assert!(read < TOTAL / 4, "the data was not read: {read} bytes read");
    drop(again);

    // The measure would have seen hashing: --recheck reads the data from disk.
    drop_from_page_cache(&env.path("album"));
    let (checked, seeding) = seed(&env, &["--recheck"]);
    assert_eq!(hashed(&seeding), TOTAL, "--recheck hashes everything");
    let read = read_bytes(checked.pid());
    assert!(read >= TOTAL, "hashing reads the data from disk: {read} bytes read");
}

#[test]
fn a_touched_file_is_hashed_again_alone() {
    let env = TestEnv::new();
    album(&env);
    drop(seed(&env, &[]));
    let b = File::options().write(true).open(env.path("album/b.bin")).expect("open b.bin");
    b.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000)).expect("touch");
    let (_seed, seeding) = seed(&env, &[]);
    assert_eq!(hashed(&seeding), B_PIECES, "only b.bin's pieces: {seeding}");
    assert_eq!(seeding["missing_pieces"], 0);
}

#[test]
fn a_change_with_size_and_time_put_back_is_caught_by_recheck() {
    let env = TestEnv::new();
    album(&env);
    drop(seed(&env, &[]));
    let path = env.path("album/b.bin");
    let before = std::fs::metadata(&path).and_then(|m| m.modified()).expect("mtime");
    let b = File::options().read(true).write(true).open(&path).expect("open b.bin");
    let mut byte = [0u8];
    b.read_exact_at(&mut byte, 1_000).expect("read");
    b.write_all_at(&[!byte[0]], 1_000).expect("change a byte in place");
    b.set_modified(before).expect("put the time back");
    drop(b);

    // Same inode, size and time: the record cannot tell, and is trusted.
    let (trusting, seeding) = seed(&env, &[]);
    assert_eq!((hashed(&seeding), &seeding["missing_pieces"]), (0, &0.into()), "{seeding}");
    drop(trusting);

    let (_checking, seeding) = seed(&env, &["--recheck"]);
    assert_eq!(hashed(&seeding), TOTAL);
    assert_eq!(seeding["missing_pieces"], 1, "the changed piece is found: {seeding}");
}

#[test]
fn a_download_killed_with_sigkill_restarts_from_a_record_that_never_leads() {
    let env = TestEnv::new();
    album(&env);
    let bytes: Vec<u8> =
        FILES.iter().flat_map(|(name, _)| env.read(&format!("album/{name}"))).collect();
    let slow = FakePeer::start(
        &env.path("album.torrent"),
        bytes,
        Behaviour::Slow(Duration::from_millis(100)),
    );
    let mut first = env.start_get("album.torrent", "copy", &["--peer", &slow.addr()]);
    // Past one sync of the record (each second), with pieces still missing.
    let partial = first.wait_for(GET_LIMIT, |line| {
        line["event"] == "complete"
            || line["event"] == "stats" && line["elapsed"].as_f64().is_some_and(|t| t > 2.0)
    });
    first.kill();
    drop(slow);
    assert_eq!(partial["event"], "stats", "it finished before it could be killed");

    // Every piece the record claims is on disk and good.
    let meta = Metainfo::load(&env.path("album.torrent")).expect("torrent");
    let state = StateDir::at(env.path(".mt-state"));
    let record = ResumeStore::new(&state, meta.info_hash, &env.path("copy"))
        .load(meta.layout())
        .expect("a record was written while downloading");
    let data: Vec<u8> =
        FILES.iter().flat_map(|(name, _)| env.read(&format!("copy/{name}"))).collect();
    // Durable or unsynced (trusted in this boot only): either way on disk as every reader
    // sees it, since a kill leaves the page cache alone.
    let claimed: Vec<u32> = record.pieces.iter_set().chain(record.unsynced.iter_set()).collect();
    assert!(!claimed.is_empty(), "pieces were recorded: {partial}");
    for &piece in &claimed {
        let range = meta.layout().piece_range(mt::types::PieceIndex(piece));
        let bytes = &data[usize::try_from(range.start).expect("small")..]
            [..usize::try_from(range.end - range.start).expect("small")];
        let digest: [u8; 20] = Sha1::digest(bytes).into();
        assert_eq!(digest, meta.info.pieces[piece as usize], "claimed piece {piece} is on disk");
    }

    let (_seed, seeding) = seed(&env, &[]);
    let addr = seeding["addr"].as_str().expect("seeding line has an addr");
    let out = env.get("album.torrent", "copy", &["--peer", addr]);
    out.expect_code(0);
    assert!(out.event("started")["have_pieces"].as_u64() >= Some(claimed.len() as u64));
    assert_same_tree(&env.path("album"), &env.path("copy"));
    assert_same_file(&env.path("album/b.bin"), &env.path("copy/b.bin"));
}

#[test]
fn a_finished_download_is_seeded_in_the_same_boot_without_hashing() {
    let env = TestEnv::new();
    album(&env);
    let (_seed, seeding) = seed(&env, &[]);
    let addr = seeding["addr"].as_str().expect("seeding line has an addr");
    env.get("album.torrent", "copy", &["--peer", addr]).expect_code(0);

    let mut args = vec!["seed", "album.torrent", "copy", "--bind", "127.0.0.1", "-p", "0"];
    args.push("--json");
    let mut again = Running::spawn(env.mt(&args));
    let seeding = again.wait_for_event("seeding", STARTUP);
    assert_eq!(hashed(&seeding), 0, "the download's record vouches for every piece: {seeding}");
    assert_eq!(seeding["missing_pieces"], 0);
}
