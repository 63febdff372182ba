//! `mt create --v2` and `--hybrid` (BEP 52): the same info hashes as libtorrent's
//! `create_torrent` for the same input and piece length, a torrent `mt` and libtorrent read
//! back, and pad files only where a hybrid needs them.

use serde_json::Value;

use crate::common::{SYSTEM_PYTHON, TestEnv, repo_path, require_libtorrent};

/// (fixture, data, v1 hash or "", v2 hash), as `fixtures/README.md` lists them.
const FIXTURES: &[(&str, &str, &str, &str)] = &[
    ("--v2", "single.bin", "", "0b507c2c6b0a93b0ffba4c7d22578ef1ebe550ecb3bfad8cecfd89c1870f9126"),
    ("--v2", "multi", "", "140eac0fef12eb4b9f24ec0586a357d54f47d74efc80c9fa9e61e56eb24e1995"),
    (
        "--hybrid",
        "single.bin",
        "47b86706b6baa62507561a42a8d7361e37499a39",
        "6d7433149f6af3b4f966c9a5c774fa102245dad4e0ba3d68d16cf861d0db6ace",
    ),
    (
        "--hybrid",
        "multi",
        "15145a6d2fd2ed52bb6287f9c39ac22cd33984e1",
        "1b2e085298d449e0026e9ae3c76541789b88390cea6237057780263a5d76e723",
    ),
];

fn create(env: &TestEnv, flag: &str, input: &str, piece_length: &str) -> Value {
    let out = env.run(&[
        "create",
        flag,
        "-p",
        piece_length,
        "--no-date",
        "--force",
        "--json",
        input,
        "made.torrent",
    ]);
    out.expect_code(0).json()
}

#[test]
fn create_reproduces_libtorrents_v2_and_hybrid_fixtures() {
    let env = TestEnv::new();
    for (flag, data, v1, v2) in FIXTURES {
        let input = repo_path(&format!("fixtures/data/{data}"));
        let made = create(&env, flag, input.to_str().expect("UTF-8"), "16K");
        assert_eq!(made["info_hash_v2"], *v2, "{flag} {data}");
        if !v1.is_empty() {
            assert_eq!(made["info_hash"], *v1, "{flag} {data}");
        }
        let verify = env.run(&["verify", "made.torrent", input.to_str().expect("UTF-8")]);
        verify.expect_code(0);
        assert!(!verify.stdout.contains(".pad"), "{data}: {}", verify.stdout);
    }
}

/// libtorrent's hashes of `input` (under the env) as `kind` with `piece_length` bytes.
fn libtorrent_hashes(env: &TestEnv, input: &str, piece_length: u32, kind: &str) -> Value {
    let script = repo_path("tests/interop/lt_create.py");
    let script = script.to_str().expect("UTF-8");
    let path = env.path(input);
    let size = piece_length.to_string();
    let out = env.run_program(SYSTEM_PYTHON, &[script, path.to_str().expect("UTF-8"), &size, kind]);
    out.expect_code(0).json()
}

#[test]
fn create_gives_libtorrents_info_hashes_for_odd_files_and_nested_folders() {
    if !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    env.write_generated("one.bin", 1_000_003, 3);
    env.tree(
        "tree",
        &[
            ("a b", 40_000),
            ("a.txt", 70_001),
            ("a/deep/x.dat", 16_384),
            ("a/deep/y.dat", 300_000),
            ("a/empty", 0),
            ("B/z", 1),
            ("zz-last", 5_555),
            ("zz-empty", 0),
        ],
    );
    for (input, piece_length) in
        [("one.bin", 16_384u32), ("one.bin", 65_536), ("tree", 16_384), ("tree", 32_768)]
    {
        for (flag, kind) in [("--v2", "v2"), ("--hybrid", "hybrid")] {
            let theirs = libtorrent_hashes(&env, input, piece_length, kind);
            let ours = create(&env, flag, input, &piece_length.to_string());
            assert_eq!(ours["info_hash_v2"], theirs["v2"], "{input} {kind} {piece_length}");
            if kind == "hybrid" {
                assert_eq!(ours["info_hash"], theirs["v1"], "{input} {kind} {piece_length}");
            }
            env.run(&["verify", "made.torrent", input]).expect_code(0);
        }
    }
}
