//! `mt seed` over data with a damaged piece: it serves what verifies, and, the way libtorrent
//! does, opens the files writable only because something is missing, fetches the missing
//! piece from a peer that has it, verifies it, writes it, and then serves everything. Where
//! the data cannot be opened writable (a read-only filesystem here), it warns once and keeps
//! serving what verifies; it never crashes. Both storage backends behave the same.
//!
//! The read-only case bind-mounts a folder read-only, which needs root (CI has it). Without
//! root it fails under `CI=true` and is skipped through `missing`, loudly, elsewhere.

use std::path::PathBuf;
use std::process::Command;

use crate::common::process::Running;
use crate::common::swarm::{GET_LIMIT, STARTUP, assert_same_file};
use crate::common::{Output, TestEnv, missing};

/// 1 MiB in 32 pieces of 32 KiB.
const LEN: usize = 1 << 20;
/// Where the damage goes: inside piece 3 only.
const DAMAGE_AT: usize = 100_000;

/// Writes `video.bin`, its torrent, and `damaged/video.bin`: the same bytes with four of
/// them flipped.
fn damaged_copy(env: &TestEnv) {
    let mut bytes = env.write_generated("video.bin", LEN, 41);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    for byte in &mut bytes[DAMAGE_AT..DAMAGE_AT + 4] {
        *byte ^= 0xa5;
    }
    env.write("damaged/video.bin", &bytes);
}

/// A started seed, with what it said when it began serving.
struct Started {
    process: Running,
    addr: String,
    missing: u64,
}

/// Starts `mt seed` on `data` that dials `peer`, and waits until it serves.
fn start_seed(env: &TestEnv, data: &str, peer: &str, io: &str) -> Started {
    let args = [
        "seed",
        "video.bin.torrent",
        data,
        "--bind",
        "127.0.0.1",
        "-p",
        "0",
        "--json",
        "--io",
        io,
        "--peer",
        peer,
    ];
    let mut process = Running::spawn(env.mt(&args));
    let seeding = process.wait_for_event("seeding", STARTUP);
    let missing = seeding["missing_pieces"].as_u64().expect("missing_pieces is a number");
    let addr = seeding["addr"].as_str().expect("seeding line has an addr").to_string();
    Started { process, addr, missing }
}

/// Stops a seed with Ctrl-C; it must still be running and exit 0.
fn stop(process: Running) -> Output {
    let pid = process.pid().to_string();
    let status = Command::new("kill").args(["-INT", &pid]).status().expect("kill runs");
    assert!(status.success(), "the seed is still running");
    let out = process.wait(GET_LIMIT);
    out.expect_code(0);
    out
}

fn damaged_seed_repairs_itself(io: &str) {
    let env = TestEnv::new();
    damaged_copy(&env);
    let good = env.seed("video.bin.torrent", "video.bin", &["--io", io]);
    let mut repairing = start_seed(&env, "damaged/video.bin", &good.addr, io);
    assert_eq!(repairing.missing, 1, "the damaged piece is found missing");

    repairing.process.wait_for_event("complete", STARTUP);
    assert_same_file(&env.path("video.bin"), &env.path("damaged/video.bin"));

    // Repaired, it serves every piece: a download from it alone completes.
    let alone = ["--peer", &repairing.addr, "--io", io];
    env.get("video.bin.torrent", "copy.bin", &alone).expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
    stop(repairing.process);
}

#[test]
fn a_mapped_seed_with_a_damaged_piece_fetches_it_and_then_serves_everything() {
    damaged_seed_repairs_itself("mmap");
}

#[test]
fn a_pread_seed_with_a_damaged_piece_fetches_it_and_then_serves_everything() {
    damaged_seed_repairs_itself("pread");
}

/// A folder of the env bind-mounted read-only over itself, unmounted when dropped.
struct ReadOnlyFolder {
    path: PathBuf,
}

impl ReadOnlyFolder {
    fn mount(env: &TestEnv, name: &str) -> Option<ReadOnlyFolder> {
        let path = env.path(name);
        let bind = Command::new("mount").arg("--bind").arg(&path).arg(&path).status();
        if bind.is_ok_and(|s| s.success()) {
            let folder = ReadOnlyFolder { path };
            let remount =
                Command::new("mount").args(["-o", "remount,bind,ro"]).arg(&folder.path).status();
            assert!(remount.is_ok_and(|s| s.success()), "cannot make the bind mount read-only");
            return Some(folder);
        }
        missing("root, to bind-mount a folder read-only");
        None
    }
}

impl Drop for ReadOnlyFolder {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn read_only_damaged_seed_serves_what_verifies(io: &str) {
    let env = TestEnv::new();
    damaged_copy(&env);
    let Some(_read_only) = ReadOnlyFolder::mount(&env, "damaged") else { return };
    let good = env.seed("video.bin.torrent", "video.bin", &["--io", io]);
    let mut stuck = start_seed(&env, "damaged/video.bin", &good.addr, io);
    assert_eq!(stuck.missing, 1, "the damaged piece is found missing");
    // Once connected, the good seed offers the missing piece to the read-only one.
    stuck.process.wait_for_event("peer_connected", STARTUP);

    // It serves what verifies: with the good seed beside it, a download completes.
    let both = ["--peer", &stuck.addr, "--peer", &good.addr, "--io", io];
    env.get("video.bin.torrent", "copy.bin", &both).expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));

    let out = stop(stuck.process);
    let warnings: Vec<String> = out
        .events("warning")
        .iter()
        .filter_map(|w| w["message"].as_str().map(String::from))
        .filter(|m| m.contains("video.bin"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning names the file it cannot write: {out:#?}");
    assert!(warnings[0].contains("cannot repair"), "{warnings:?}");
}

#[test]
fn a_mapped_seed_on_read_only_data_warns_once_and_serves_what_verifies() {
    read_only_damaged_seed_serves_what_verifies("mmap");
}

#[test]
fn a_pread_seed_on_read_only_data_warns_once_and_serves_what_verifies() {
    read_only_damaged_seed_serves_what_verifies("pread");
}
