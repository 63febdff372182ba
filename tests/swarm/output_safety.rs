//! `mt get` never writes outside its output folder through a symbolic link already there,
//! and never cuts a longer file at the output path unless told to with `--force`.

use crate::common::TestEnv;
use crate::common::swarm::assert_same_file;

/// A folder torrent `tree.torrent` of `tree/album/song.flac` and `tree/notes.txt`.
fn folder_torrent(env: &TestEnv) {
    env.tree("tree", &[("album/song.flac", 70_000), ("notes.txt", 999)]);
    env.run(&["create", "-p", "32K", "tree"]).expect_code(0);
}

#[test]
fn get_refuses_a_symlinked_folder_under_its_output_folder_and_writes_nothing_through_it() {
    let env = TestEnv::new();
    folder_torrent(&env);
    std::fs::create_dir_all(env.path("copy")).expect("output folder");
    std::fs::create_dir_all(env.path("elsewhere")).expect("link target");
    std::os::unix::fs::symlink("../elsewhere", env.path("copy/album")).expect("symlink");
    let out = env.get("tree.torrent", "copy", &["--timeout", "2"]);
    out.expect_error(2, "album");
    assert!(out.stderr.contains("symbolic link"), "{out:#?}");
    let written: Vec<_> = std::fs::read_dir(env.path("elsewhere")).expect("list").collect();
    assert!(written.is_empty(), "nothing is written through the link: {written:?}");
}

#[test]
fn get_refuses_a_symlink_at_a_file_path_and_leaves_its_target_alone() {
    let env = TestEnv::new();
    folder_torrent(&env);
    env.write("victim.txt", b"someone's data");
    std::fs::create_dir_all(env.path("copy")).expect("output folder");
    std::os::unix::fs::symlink("../victim.txt", env.path("copy/notes.txt")).expect("symlink");
    let out = env.get("tree.torrent", "copy", &["--timeout", "2"]);
    out.expect_error(2, "notes.txt");
    assert!(out.stderr.contains("symbolic link"), "{out:#?}");
    assert_eq!(env.read("victim.txt"), b"someone's data");
}

#[test]
fn get_refuses_to_cut_a_longer_file_at_the_output_path_unless_forced() {
    let env = TestEnv::new();
    env.write_generated("video.bin", 100_000, 3);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    let longer = vec![9u8; 150_000];
    env.write("copy.bin", &longer);
    let out = env.get("video.bin.torrent", "copy.bin", &["--timeout", "2"]);
    out.expect_error(2, "copy.bin");
    assert!(out.stderr.contains("--force"), "the error says how to allow it: {out:#?}");
    assert_eq!(env.read("copy.bin"), longer, "the longer file is untouched");

    let seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let out = env.get("video.bin.torrent", "copy.bin", &["--peer", &seed.addr, "--force"]);
    out.expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}
