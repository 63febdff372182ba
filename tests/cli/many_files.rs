//! Folders of many small files: `mt create` and `mt verify` stay below the open-file limit
//! (run here at 1,024) and the kernel's mapping limit however many files a torrent holds,
//! and give the same info hash as mktorrent.
//!
//! The 100,000 files are made once per test run and shared by every check here, because
//! making them is most of the cost. mktorrent needs about 12 s for 100,000 files on an idle
//! 2-core machine (it keeps its file list sorted by insertion), so here it runs on a tenth of
//! the folder, and the whole folder's hash is checked against the one mktorrent gave it;
//! `make bench` (benches/storage.sh) compares with mktorrent on all 100,000 again each time.

use crate::common::{MT, Output, TestEnv, require_tool};

/// Info hash of the [`many_files`] folder of 100,000 files named `many` with 32 KiB pieces
/// and no date, as `mktorrent -l 15 -o mk.torrent many` makes it.
const MKTORRENT_100K: &str = "0b7fe6f0c74c5f6fdbf28f58599f2d5a1acfa3a2";

/// Writes `count` tiny files (0 to 63 bytes) under `folder`, nested three levels deep
/// (`d*/e*/f*/N.bin`, 100 files to a folder), on two threads.
fn many_files(env: &TestEnv, folder: &str, count: usize) {
    let write_range = |range: std::ops::Range<usize>| {
        for i in range {
            let dir = env.path(&format!(
                "{folder}/d{}/e{}/f{}",
                i / 10_000,
                i / 1_000 % 10,
                i / 100 % 10
            ));
            if i % 100 == 0 {
                std::fs::create_dir_all(&dir).expect("create folder");
            }
            let len = i * 7 % 64;
            let bytes: Vec<u8> =
                (0..len).map(|j| ((i * 31 + j * 17) % 256).to_le_bytes()[0]).collect();
            std::fs::write(dir.join(format!("{i}.bin")), bytes).expect("write file");
        }
    };
    // Split on a multiple of 100, so each thread makes the folders of its own files.
    let half = count / 200 * 100;
    std::thread::scope(|scope| {
        scope.spawn(|| write_range(0..half));
        write_range(half..count);
    });
}

/// Runs `mt` with the open-file limit at 1,024, as on most desktops.
fn run_limited(env: &TestEnv, args: &[&str]) -> Output {
    let mut all = vec!["-c", "ulimit -n 1024 && exec \"$0\" \"$@\"", MT];
    all.extend_from_slice(args);
    env.run_program("sh", &all)
}

#[test]
fn a_folder_of_100_000_files_is_created_and_verified_under_1024_open_files_as_mktorrent_would() {
    let env = TestEnv::new();
    many_files(&env, "many", 100_000);
    let out = run_limited(&env, &["create", "-p", "32K", "--no-date", "many", "many.torrent"]);
    out.expect_code(0);
    assert_eq!(env.show_json("many.torrent")["files"].as_array().map(Vec::len), Some(100_000));
    assert_eq!(env.info_hash("many.torrent"), MKTORRENT_100K, "differs from mktorrent's");

    let out = run_limited(&env, &["verify", "--json", "many.torrent", "many"]);
    out.expect_code(0);
    assert_eq!(out.json()["complete"], true);

    if require_tool("mktorrent") {
        run_limited(&env, &["create", "-p", "32K", "many/d3", "mt.torrent"]).expect_code(0);
        env.run_program("mktorrent", &["-l", "15", "-o", "mk.torrent", "many/d3"]).expect_code(0);
        assert_eq!(env.info_hash("mt.torrent"), env.info_hash("mk.torrent"), "10,000 files");
    }

    env.flip_byte("many/d9/e9/f9/99999.bin", 3);
    run_limited(&env, &["verify", "--json", "many.torrent", "many"]).expect_code(1);
}
