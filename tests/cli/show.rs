//! `mt show`: the text and `--json` views of a torrent, and the refusal of unreadable input.

use crate::common::TestEnv;
use serde_json::json;

const ONE: &str = "http://tracker.one/announce";
const TWO: &str = "udp://tracker.two:6969";

/// A multi-file torrent with two tracker tiers, made by `mt create`; returns its JSON view.
fn folder_torrent(env: &TestEnv) -> serde_json::Value {
    env.tree("album", &[("cd1/01.flac", 30_000), ("cd1/02.flac", 20_000), ("cover.jpg", 5_000)]);
    let args = ["create", "-p", "16K", "-t", ONE, "-t", TWO, "--comment", "note", "album"];
    env.run(&[&args[..], &["album.torrent"]].concat()).expect_code(0);
    env.show_json("album.torrent")
}

#[test]
fn show_json_reports_name_sizes_and_pieces() {
    let env = TestEnv::new();
    let shown = folder_torrent(&env);
    assert_eq!(shown["name"], "album");
    assert_eq!(shown["total_size"], 55_000);
    assert_eq!(shown["piece_length"], 16_384);
    assert_eq!(shown["pieces"], 4);
    assert_eq!(shown["private"], false);
    assert_eq!(shown["comment"], "note");
}

#[test]
fn show_json_lists_files_with_path_and_length() {
    let env = TestEnv::new();
    let shown = folder_torrent(&env);
    assert_eq!(
        shown["files"],
        json!([
            { "path": "album/cd1/01.flac", "length": 30_000 },
            { "path": "album/cd1/02.flac", "length": 20_000 },
            { "path": "album/cover.jpg", "length": 5_000 },
        ])
    );
}

#[test]
fn show_json_lists_tracker_tiers() {
    let env = TestEnv::new();
    assert_eq!(folder_torrent(&env)["trackers"], json!([[ONE], [TWO]]));
}

#[test]
fn show_json_magnet_carries_hash_name_and_trackers() {
    let env = TestEnv::new();
    let shown = folder_torrent(&env);
    let hash = shown["info_hash"].as_str().expect("hash");
    assert_eq!(hash.len(), 40);
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{hash}");
    let magnet = shown["magnet"].as_str().expect("magnet");
    assert!(magnet.starts_with(&format!("magnet:?xt=urn:btih:{hash}&dn=album")), "{magnet}");
    assert!(magnet.contains("&tr=http%3A%2F%2Ftracker.one%2Fannounce"), "{magnet}");
    assert_eq!(magnet.matches("&tr=").count(), 2, "{magnet}");
}

#[test]
fn show_json_info_hash_matches_create() {
    let env = TestEnv::new();
    env.write_generated("f", 10_000, 9);
    let made = env.run(&["create", "--json", "f"]).expect_code(0).json();
    assert_eq!(env.show_json("f.torrent")["info_hash"], made["info_hash"]);
}

#[test]
fn show_text_names_every_field() {
    let env = TestEnv::new();
    let hash = folder_torrent(&env)["info_hash"].as_str().expect("hash").to_string();
    let out = env.run(&["show", "album.torrent"]);
    let text = &out.expect_code(0).stdout;
    for want in [
        "name          album",
        &format!("info hash     {hash}"),
        "(55000 bytes)",
        "pieces        4 of 16.0 KiB",
        "private       no",
        &format!("tier 1        {ONE}"),
        &format!("tier 2        {TWO}"),
        "comment       note",
        &format!("magnet:?xt=urn:btih:{hash}"),
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

#[test]
fn show_text_draws_the_file_tree_with_folders_once() {
    let env = TestEnv::new();
    folder_torrent(&env);
    let out = env.run(&["show", "album.torrent"]);
    let text = &out.expect_code(0).stdout;
    let tree: Vec<&str> = text.lines().skip_while(|l| *l != "files").skip(1).collect();
    let names: Vec<&str> =
        tree.iter().map(|l| l.split("  ").find(|s| !s.is_empty()).unwrap_or("")).collect();
    assert_eq!(names, ["album/", "cd1/", "01.flac", "02.flac", "cover.jpg"], "{text}");
}

#[test]
fn show_text_says_trackerless_and_private() {
    let env = TestEnv::new();
    env.write_generated("f", 1000, 1);
    env.run(&["create", "--private", "f"]).expect_code(0);
    let out = env.run(&["show", "f.torrent"]);
    assert!(out.expect_code(0).stdout.contains("none (trackerless)"), "{out:#?}");
    assert!(out.stdout.contains("private       yes"), "{out:#?}");
}

#[test]
fn show_missing_torrent_fails_naming_the_path() {
    let env = TestEnv::new();
    env.run(&["show", "absent.torrent"]).expect_error(2, "absent.torrent");
}

#[test]
fn show_refuses_a_file_that_is_not_a_torrent() {
    let env = TestEnv::new();
    env.write("notes.torrent", b"just some text\n");
    env.run(&["show", "notes.torrent"]).expect_error(2, "invalid torrent notes.torrent");
}

#[test]
fn show_refuses_a_folder() {
    let env = TestEnv::new();
    std::fs::create_dir(env.path("dir.torrent")).expect("mkdir");
    env.run(&["show", "dir.torrent"]).expect_error(2, "dir.torrent");
}

#[test]
fn show_without_a_torrent_argument_is_a_usage_error() {
    let env = TestEnv::new();
    let out = env.run(&["show"]);
    out.expect_code(2);
    assert!(!out.stderr.contains("panicked"), "{out:#?}");
}

#[test]
fn show_text_gives_each_file_its_index() {
    let env = TestEnv::new();
    folder_torrent(&env);
    let out = env.run(&["show", "album.torrent"]);
    let text = &out.expect_code(0).stdout;
    for (index, name) in ["01.flac", "02.flac", "cover.jpg"].iter().enumerate() {
        let line = text.lines().find(|l| l.contains(name)).expect("a line per file");
        assert!(line.ends_with(&format!("(file {index})")), "{line:?} in:\n{text}");
    }
}
