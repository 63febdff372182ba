//! A torrent of thousands of files travels from `mt seed` to `mt get` with both processes
//! held to 1,024 open files, as on most desktops: neither side may keep a descriptor or a
//! mapping per file.

use std::process::Command;

use crate::common::process::Running;
use crate::common::swarm::{GET_LIMIT, GET_TIMEOUT, STARTUP, assert_same_tree};
use crate::common::{MT, TestEnv};

/// How many files the torrent holds: several times the open-file limit.
const FILES: usize = 4_000;

/// Writes [`FILES`] files under `folder`, 40 to a folder; most are a few hundred bytes, every
/// 500th is 100 KB (large enough to be mapped), and every 97th is empty.
fn write_files(env: &TestEnv, folder: &str) {
    for i in 0..FILES {
        let dir = env.path(&format!("{folder}/a{}/b{}", i / 400, i / 40 % 10));
        if i % 40 == 0 {
            std::fs::create_dir_all(&dir).expect("create folder");
        }
        let len = match i {
            _ if i % 500 == 0 => 100_000,
            _ if i % 97 == 0 => 0,
            _ => i * 13 % 700,
        };
        let bytes: Vec<u8> = (0..len).map(|j| ((i * 7 + j * 13) % 251).to_le_bytes()[0]).collect();
        std::fs::write(dir.join(format!("{i}.dat")), bytes).expect("write file");
    }
}

/// `mt ARGS` in `env`'s folder with the open-file limit at 1,024 and its own discovery folder.
fn limited(env: &TestEnv, runtime: &str, args: &[&str]) -> Command {
    let mut command = Command::new("sh");
    command.args(["-c", "ulimit -n 1024 && exec \"$0\" \"$@\"", MT]).args(args);
    command.current_dir(env.root()).env("MT_RUNTIME_DIR", env.path(runtime));
    command
}

#[test]
fn a_torrent_of_4000_files_is_seeded_and_downloaded_under_1024_open_files() {
    let env = TestEnv::new();
    write_files(&env, "tree");
    env.run(&["create", "-p", "32K", "tree"]).expect_code(0);

    let seed_args = ["seed", "tree.torrent", "tree", "--bind", "127.0.0.1", "-p", "0", "--json"];
    let mut seed = Running::spawn(limited(&env, "seed-runtime", &seed_args));
    let seeding = seed.wait_for_event("seeding", STARTUP);
    assert_eq!(seeding["missing_pieces"], 0, "the seed has every piece: {seeding}");
    let addr = seeding["addr"].as_str().expect("seeding line has an addr").to_string();

    let get_args = [
        "get",
        "tree.torrent",
        "copy",
        "--bind",
        "127.0.0.1",
        "-p",
        "0",
        "--json",
        "--timeout",
        GET_TIMEOUT,
        "--peer",
        &addr,
    ];
    let out = Running::spawn(limited(&env, "get-runtime", &get_args)).wait(GET_LIMIT);
    out.expect_code(0);
    assert_eq!(out.event("done")["complete"], true);
    assert_same_tree(&env.path("tree"), &env.path("copy"));
    seed.kill();
}
