//! Folders of many small files: `mt create` and `mt verify` stay below the open-file limit
//! (run here at 1,024) and the kernel's mapping limit however many files a torrent holds,
//! and give the same info hash as mktorrent.

use crate::common::{MT, Output, TestEnv, require_tool};

/// Writes `count` tiny files (0 to 63 bytes) under `folder`, nested three levels deep.
fn many_files(env: &TestEnv, folder: &str, count: usize) {
    for i in 0..count {
        let dir =
            env.path(&format!("{folder}/d{}/e{}/f{}", i / 10_000, i / 1_000 % 10, i / 100 % 10));
        if i % 100 == 0 {
            std::fs::create_dir_all(&dir).expect("create folder");
        }
        let len = i * 7 % 64;
        let bytes: Vec<u8> = (0..len).map(|j| ((i * 31 + j * 17) % 256).to_le_bytes()[0]).collect();
        std::fs::write(dir.join(format!("{i}.bin")), bytes).expect("write file");
    }
}

/// Runs `mt` with the open-file limit at 1,024, as on most desktops.
fn run_limited(env: &TestEnv, args: &[&str]) -> Output {
    let mut all = vec!["-c", "ulimit -n 1024 && exec \"$0\" \"$@\"", MT];
    all.extend_from_slice(args);
    env.run_program("sh", &all)
}

#[test]
fn a_folder_of_100_000_files_is_created_and_verified_under_1024_open_files() {
    let env = TestEnv::new();
    many_files(&env, "many", 100_000);
    let out = run_limited(&env, &["create", "-p", "16K", "--no-date", "many", "many.torrent"]);
    out.expect_code(0);
    assert_eq!(env.show_json("many.torrent")["files"].as_array().map(Vec::len), Some(100_000));
    let out = run_limited(&env, &["verify", "--json", "many.torrent", "many"]);
    out.expect_code(0);
    assert_eq!(out.json()["complete"], true);
    env.flip_byte("many/d9/e9/f9/99999.bin", 3);
    run_limited(&env, &["verify", "--json", "many.torrent", "many"]).expect_code(1);
}

#[test]
fn a_folder_of_20_000_files_has_the_info_hash_mktorrent_gives_it() {
    if !require_tool("mktorrent") {
        return;
    }
    let env = TestEnv::new();
    many_files(&env, "many", 20_000);
    run_limited(&env, &["create", "-p", "32K", "many", "mt.torrent"]).expect_code(0);
    env.run_program("mktorrent", &["-l", "15", "-o", "mk.torrent", "many"]).expect_code(0);
    assert_eq!(env.info_hash("mt.torrent"), env.info_hash("mk.torrent"));
}
