//! Interop with mktorrent: for the same input and piece length, `mt create` must give the same
//! info hash, which proves the same file order, piece hashing across file boundaries, and the
//! same `info` dictionary bytes. mktorrent's torrents must also verify with `mt verify`.

use crate::common::{TestEnv, require_tool};

/// Odd sizes, an empty file, nesting, and names whose order depends on byte comparison
/// (`Z` < `a`, `a.txt` < `a/...` because '.' < '/').
const TREE: &[(&str, usize)] = &[
    ("Z-upper.bin", 33_333),
    ("a.txt", 1),
    ("a/b/deep.dat", 300_001),
    ("a/empty", 0),
    ("a/mid.dat", 65_537),
    ("b c/space name.bin", 111_111),
    ("zz.bin", 262_143),
];

enum Shape {
    SingleFile,
    Folder,
}

/// Makes the input and both torrents; returns (mt's hash, mktorrent's hash).
fn both_hashes(env: &TestEnv, shape: Shape, log2: u32, private: bool) -> (String, String) {
    let input = match shape {
        Shape::SingleFile => {
            env.write_generated("single.iso", 777_777, 42);
            "single.iso"
        }
        Shape::Folder => {
            env.tree("folder", TREE);
            "folder"
        }
    };
    let length = (1u32 << log2).to_string();
    let mut mt_args = vec!["create", "-p", &length, input, "mt.torrent"];
    let log2 = log2.to_string();
    let mut mk_args = vec!["-l", &log2, "-o", "mk.torrent"];
    if private {
        mt_args.push("--private");
        mk_args.push("-p");
    }
    mk_args.push(input);
    env.run(&mt_args).expect_code(0);
    env.run_program("mktorrent", &mk_args).expect_code(0);
    (env.info_hash("mt.torrent"), env.info_hash("mk.torrent"))
}

fn same_hash(shape: Shape, log2: u32) {
    if !require_tool("mktorrent") {
        return;
    }
    let env = TestEnv::new();
    let (mt, mk) = both_hashes(&env, shape, log2, false);
    assert_eq!(mt, mk, "mt and mktorrent disagree at piece length 2^{log2}");
    let (ours, theirs) = (env.show_json("mt.torrent"), env.show_json("mk.torrent"));
    for field in ["name", "total_size", "piece_length", "pieces", "files"] {
        assert_eq!(ours[field], theirs[field], "field {field}");
    }
}

#[test]
fn single_file_at_32_kib_pieces_matches_mktorrent() {
    same_hash(Shape::SingleFile, 15);
}

#[test]
fn single_file_at_256_kib_pieces_matches_mktorrent() {
    same_hash(Shape::SingleFile, 18);
}

#[test]
fn nested_folder_at_32_kib_pieces_matches_mktorrent() {
    same_hash(Shape::Folder, 15);
}

#[test]
fn nested_folder_at_256_kib_pieces_matches_mktorrent() {
    same_hash(Shape::Folder, 18);
}

#[test]
fn private_folder_matches_mktorrent_private() {
    if !require_tool("mktorrent") {
        return;
    }
    let env = TestEnv::new();
    let (mt, mk) = both_hashes(&env, Shape::Folder, 16, true);
    assert_eq!(mt, mk);
    assert_eq!(env.show_json("mk.torrent")["private"], true);
}

#[test]
fn mktorrent_folder_torrent_verifies_with_mt() {
    if !require_tool("mktorrent") {
        return;
    }
    let env = TestEnv::new();
    both_hashes(&env, Shape::Folder, 15, false);
    env.run(&["verify", "mk.torrent", "folder"]).expect_code(0);
    env.flip_byte("folder/a/mid.dat", 65_536);
    let out = env.run(&["verify", "mk.torrent", "folder"]);
    out.expect_code(1);
    assert!(out.stdout.contains("damaged  folder/a/mid.dat"), "{out:#?}");
}
