//! Interop with Transmission 3.00's torrent tools: `mt` reads a torrent `transmission-create`
//! made, with the info hash `transmission-show` gives it, and verifies the data against it;
//! `transmission-show` reads a torrent `mt create` made, with the info hash `mt` gives it.
//! The two tools do not make identical torrents: Transmission writes `private` 0 into `info`
//! and leaves empty files out, so only the reading is compared.
//!
//! Without `transmission-create` and `transmission-show` these tests fail under `CI=true` and
//! are skipped loudly otherwise.

use crate::common::{Output, TestEnv, require_tool};

/// Odd sizes, an empty file and nesting; 32 KiB pieces cross the file boundaries.
const TREE: &[(&str, usize)] =
    &[("a.txt", 1), ("a/b/deep.dat", 300_001), ("a/empty", 0), ("b c/space name.bin", 111_111)];

/// The value of `transmission-show`'s `  Key: value` line.
fn shown(show: &Output, key: &str) -> String {
    let prefix = format!("{key}: ");
    show.stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("transmission-show printed no {key}: {show:#?}"))
        .to_string()
}

#[test]
fn mt_reads_and_verifies_a_torrent_transmission_created() {
    if !require_tool("transmission-create") || !require_tool("transmission-show") {
        return;
    }
    let env = TestEnv::new();
    env.tree("folder", TREE);
    let create = ["-o", "tr.torrent", "-s", "32", "-t", "http://127.0.0.1:1/announce", "folder"];
    env.run_program("transmission-create", &create).expect_code(0);
    let show = env.run_program("transmission-show", &["tr.torrent"]);
    show.expect_code(0);
    let mine = env.show_json("tr.torrent");
    assert_eq!(mine["info_hash"], shown(&show, "Hash"), "{mine}");
    assert_eq!(mine["name"], "folder");
    assert_eq!(mine["piece_length"], 32 * 1024);
    env.run(&["verify", "tr.torrent", "folder"]).expect_code(0);
}

#[test]
fn transmission_reads_a_torrent_mt_created_with_the_same_info_hash() {
    if !require_tool("transmission-show") {
        return;
    }
    let env = TestEnv::new();
    env.tree("folder", TREE);
    env.run(&["create", "-p", "32K", "-t", "http://127.0.0.1:1/announce", "folder", "mt.torrent"])
        .expect_code(0);
    let show = env.run_program("transmission-show", &["mt.torrent"]);
    show.expect_code(0);
    let mine = env.show_json("mt.torrent");
    assert_eq!(shown(&show, "Hash"), mine["info_hash"].as_str().expect("hex"), "{show:#?}");
    assert_eq!(shown(&show, "Name"), "folder");
    assert_eq!(shown(&show, "Piece Count"), mine["pieces"].to_string());
}
