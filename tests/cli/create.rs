//! `mt create`: what it writes for files and folders, which options change the torrent, and
//! how it refuses bad input (exit 2, one `mt: ...` line naming the problem).

use crate::common::TestEnv;
use mt::bencode::{self, Value};
use serde_json::json;
use sha1::{Digest, Sha1};

/// A folder whose pieces (16 KiB) cross file boundaries, with nesting and an empty file.
const TREE: &[(&str, usize)] = &[
    ("b.bin", 20_000),
    ("a/deep/x.dat", 7_777),
    ("a/empty", 0),
    ("a/y.dat", 40_001),
    ("Z.txt", 123),
];

fn decoded(env: &TestEnv, torrent: &str) -> Value {
    bencode::decode(&env.read(torrent)).expect("the torrent is valid bencode")
}

#[test]
fn create_defaults_output_to_name_dot_torrent() {
    let env = TestEnv::new();
    env.write_generated("movie.mkv", 50_000, 1);
    let out = env.run(&["create", "movie.mkv"]);
    out.expect_code(0);
    assert!(env.path("movie.mkv.torrent").is_file());
    assert!(out.stdout.contains("movie.mkv.torrent"), "{out:#?}");
}

#[test]
fn create_single_file_describes_name_size_and_piece_count() {
    let env = TestEnv::new();
    env.write_generated("data.bin", 100_000, 2);
    env.run(&["create", "-p", "32K", "data.bin", "out.torrent"]).expect_code(0);
    let shown = env.show_json("out.torrent");
    assert_eq!(shown["name"], "data.bin");
    assert_eq!(shown["total_size"], 100_000);
    assert_eq!(shown["piece_length"], 32_768);
    assert_eq!(shown["pieces"], 4);
    assert_eq!(shown["files"], json!([{ "path": "data.bin", "length": 100_000 }]));
    let info = decoded(&env, "out.torrent").get("info").cloned().expect("info");
    assert!(info.get("length").is_some() && info.get("files").is_none(), "single-file form");
}

#[test]
fn create_folder_lists_nested_and_empty_files_in_path_byte_order() {
    let env = TestEnv::new();
    env.tree("top", TREE);
    env.run(&["create", "-p", "16K", "top", "top.torrent"]).expect_code(0);
    let shown = env.show_json("top.torrent");
    assert_eq!(shown["name"], "top");
    assert_eq!(
        shown["files"],
        json!([
            { "path": "top/Z.txt", "length": 123 },
            { "path": "top/a/deep/x.dat", "length": 7_777 },
            { "path": "top/a/empty", "length": 0 },
            { "path": "top/a/y.dat", "length": 40_001 },
            { "path": "top/b.bin", "length": 20_000 },
        ])
    );
    assert_eq!(shown["total_size"], 67_901);
    assert_eq!(shown["pieces"], 5);
}

#[test]
fn create_piece_hashes_cover_the_files_concatenated_in_torrent_order() {
    let env = TestEnv::new();
    env.tree("top", TREE);
    env.run(&["create", "-p", "16K", "top", "top.torrent"]).expect_code(0);
    let mut stream = Vec::new();
    for name in ["Z.txt", "a/deep/x.dat", "a/empty", "a/y.dat", "b.bin"] {
        stream.extend(env.read(&format!("top/{name}")));
    }
    let want: Vec<u8> = stream.chunks(16 << 10).flat_map(|c| Sha1::digest(c).to_vec()).collect();
    let info = decoded(&env, "top.torrent").get("info").cloned().expect("info");
    assert_eq!(info.get("pieces"), Some(&Value::Bytes(want)));
}

#[test]
fn create_repeated_trackers_give_announce_and_one_tier_each() {
    let env = TestEnv::new();
    env.write_generated("f", 1000, 3);
    let (a, b) = ("http://tracker.one/announce", "udp://tracker.two:6969/announce");
    env.run(&["create", "-t", a, "-t", b, "f", "f.torrent"]).expect_code(0);
    assert_eq!(env.show_json("f.torrent")["trackers"], json!([[a], [b]]));
    assert_eq!(decoded(&env, "f.torrent").get("announce"), Some(&Value::bytes(a)));
}

#[test]
fn create_single_tracker_writes_announce_without_announce_list() {
    let env = TestEnv::new();
    env.write_generated("f", 1000, 3);
    let url = "https://tracker.example/announce";
    env.run(&["create", "-t", url, "f", "f.torrent"]).expect_code(0);
    assert_eq!(env.show_json("f.torrent")["trackers"], json!([[url]]));
    let root = decoded(&env, "f.torrent");
    assert_eq!(root.get("announce"), Some(&Value::bytes(url)));
    assert_eq!(root.get("announce-list"), None);
}

#[test]
fn create_rejects_a_tracker_that_is_not_a_url() {
    let env = TestEnv::new();
    env.write_generated("f", 1000, 3);
    env.run(&["create", "-t", "tracker.example", "f"]).expect_error(2, "tracker.example");
    assert!(!env.path("f.torrent").exists());
}

#[test]
fn create_piece_length_takes_a_binary_suffix() {
    let env = TestEnv::new();
    env.write_generated("f", 1 << 20, 4);
    env.run(&["create", "-p", "256K", "f", "f.torrent"]).expect_code(0);
    let shown = env.show_json("f.torrent");
    assert_eq!(shown["piece_length"], 262_144);
    assert_eq!(shown["pieces"], 4);
}

#[test]
fn create_rejects_piece_length_that_is_not_a_power_of_two() {
    let env = TestEnv::new();
    env.write_generated("f", 1000, 5);
    env.run(&["create", "-p", "48K", "f"]).expect_error(2, "power of two");
    assert!(!env.path("f.torrent").exists());
}

#[test]
fn create_rejects_piece_length_below_16_kib() {
    let env = TestEnv::new();
    env.write_generated("f", 1000, 5);
    env.run(&["create", "-p", "8K", "f"]).expect_error(2, "16 KiB");
}

#[test]
fn create_rejects_unreadable_piece_length() {
    let env = TestEnv::new();
    env.write_generated("f", 1000, 5);
    let out = env.run(&["create", "-p", "lots", "f"]);
    out.expect_code(2);
    assert!(out.stderr.contains("lots"), "{out:#?}");
}

#[test]
fn create_refuses_to_overwrite_output_without_force() {
    let env = TestEnv::new();
    env.write_generated("f", 1000, 6);
    env.write("f.torrent", b"precious");
    env.run(&["create", "f"]).expect_error(2, "--force");
    assert_eq!(env.read("f.torrent"), b"precious");
}

#[test]
fn create_force_replaces_existing_output() {
    let env = TestEnv::new();
    env.write_generated("f", 1000, 6);
    env.write("f.torrent", b"precious");
    env.run(&["create", "--force", "f"]).expect_code(0);
    assert_eq!(env.show_json("f.torrent")["total_size"], 1000);
}

#[test]
fn create_json_reports_the_torrent_it_wrote() {
    let env = TestEnv::new();
    env.tree("top", TREE);
    let out = env.run(&["create", "--json", "-p", "16K", "top", "t.torrent"]);
    let made = out.expect_code(0).json();
    let shown = env.show_json("t.torrent");
    assert_eq!(made["torrent"], "t.torrent");
    for field in ["name", "info_hash", "magnet", "total_size", "piece_length", "pieces", "files"] {
        assert_eq!(made[field], shown[field], "field {field}");
    }
    assert!(made["hash_seconds"].is_number() && made["hash_bytes_per_second"].is_number());
    assert_eq!(made["info_hash"].as_str().map(str::len), Some(40));
}

#[test]
fn create_private_comment_and_webseeds_are_stored() {
    let env = TestEnv::new();
    env.write_generated("f", 5000, 7);
    let (w1, w2) = ("http://mirror.one/f", "https://mirror.two/f");
    let args = ["create", "--private", "--comment", "hello there", "--webseed", w1];
    env.run(&[&args[..], &["--webseed", w2, "f", "f.torrent"]].concat()).expect_code(0);
    let shown = env.show_json("f.torrent");
    assert_eq!(shown["private"], true);
    assert_eq!(shown["comment"], "hello there");
    assert_eq!(shown["web_seeds"], json!([w1, w2]));
}

#[test]
fn create_private_flag_changes_the_info_hash() {
    let env = TestEnv::new();
    env.write_generated("f", 5000, 7);
    env.run(&["create", "f", "public.torrent"]).expect_code(0);
    env.run(&["create", "--private", "f", "private.torrent"]).expect_code(0);
    assert_ne!(env.info_hash("public.torrent"), env.info_hash("private.torrent"));
}

#[test]
fn create_no_date_makes_byte_identical_files() {
    let env = TestEnv::new();
    env.tree("top", TREE);
    let options = [
        "create",
        "--no-date",
        "--private",
        "--comment",
        "c",
        "--webseed",
        "http://w/",
        "-t",
        "http://t/a",
    ];
    env.run(&[&options[..], &["top", "one.torrent"]].concat()).expect_code(0);
    env.run(&[&options[..], &["top", "two.torrent"]].concat()).expect_code(0);
    assert_eq!(env.read("one.torrent"), env.read("two.torrent"));
    assert!(env.show_json("one.torrent")["creation_date"].is_null());
}

#[test]
fn create_missing_input_fails_naming_the_path() {
    let env = TestEnv::new();
    env.run(&["create", "no-such-thing"]).expect_error(2, "no-such-thing");
}

#[test]
fn create_refuses_an_empty_file() {
    let env = TestEnv::new();
    env.write("empty.bin", b"");
    env.run(&["create", "empty.bin"]).expect_error(2, "empty.bin");
    assert!(!env.path("empty.bin.torrent").exists());
}

#[test]
fn create_refuses_a_folder_holding_no_bytes() {
    let env = TestEnv::new();
    env.write("top/a/empty", b"");
    env.run(&["create", "top"]).expect_error(2, "no bytes");
}

#[test]
fn create_refuses_a_symlink_pointing_outside_the_input() {
    let env = TestEnv::new();
    env.write("secret", b"not for sharing");
    env.tree("top", &[("inside.bin", 1000)]);
    std::os::unix::fs::symlink(env.path("secret"), env.path("top/leak")).expect("symlink");
    env.run(&["create", "top"]).expect_error(2, "symlink points outside the input");
    assert!(!env.path("top.torrent").exists());
}

#[test]
fn create_follows_a_symlink_that_stays_inside_the_input() {
    let env = TestEnv::new();
    env.tree("top", &[("real.bin", 1000)]);
    std::os::unix::fs::symlink(env.path("top/real.bin"), env.path("top/alias")).expect("link");
    env.run(&["create", "top"]).expect_code(0);
    let files = env.show_json("top.torrent")["files"].clone();
    assert_eq!(
        files,
        json!([{"path": "top/alias", "length": 1000}, {"path": "top/real.bin", "length": 1000}])
    );
}
