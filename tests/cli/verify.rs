//! `mt verify`: exit 0 when every piece is good, 1 when data is damaged or missing (naming the
//! files at fault), 2 when the torrent or the data path cannot be used at all.

use crate::common::TestEnv;

/// Files of a 16 KiB-piece torrent whose pieces cross file boundaries.
const TREE: &[(&str, usize)] =
    &[("big.bin", 50_000), ("docs/empty.txt", 0), ("docs/notes.txt", 9_000), ("tail.bin", 17_000)];

/// Creates `top/` and `top.torrent` from [`TREE`].
fn folder(env: &TestEnv) {
    env.tree("top", TREE);
    env.run(&["create", "-p", "16K", "top", "top.torrent"]).expect_code(0);
}

/// The verify output line about `file`, which must exist.
fn line_about<'a>(stdout: &'a str, file: &str) -> &'a str {
    let found = stdout.lines().find(|l| l.split_whitespace().nth(1) == Some(file));
    found.unwrap_or_else(|| panic!("no line about {file} in:\n{stdout}"))
}

#[test]
fn verify_complete_folder_exits_zero() {
    let env = TestEnv::new();
    folder(&env);
    let out = env.run(&["verify", "top.torrent", "top"]);
    out.expect_code(0);
    assert!(out.stdout.contains("5 of 5 pieces good, 0 bad, 0 missing"), "{out:#?}");
    assert!(line_about(&out.stdout, "top/docs/notes.txt").starts_with("ok"), "{out:#?}");
}

#[test]
fn verify_complete_single_file_exits_zero() {
    let env = TestEnv::new();
    env.write_generated("one.bin", 70_000, 4);
    env.run(&["create", "-p", "16K", "one.bin"]).expect_code(0);
    env.run(&["verify", "one.bin.torrent", "one.bin"]).expect_code(0);
}

#[test]
fn verify_one_flipped_byte_exits_one_and_names_the_damaged_file() {
    let env = TestEnv::new();
    folder(&env);
    // Byte 20 000 of big.bin lies in piece 1 (16 384..32 768), which only big.bin covers.
    env.flip_byte("top/big.bin", 20_000);
    let out = env.run(&["verify", "top.torrent", "top"]);
    out.expect_code(1);
    assert!(line_about(&out.stdout, "top/big.bin").starts_with("damaged"), "{out:#?}");
    assert!(line_about(&out.stdout, "top/tail.bin").starts_with("ok"), "{out:#?}");
    assert!(out.stdout.contains("4 of 5 pieces good, 1 bad, 0 missing"), "{out:#?}");
}

#[test]
fn verify_damage_in_a_shared_piece_marks_both_files() {
    let env = TestEnv::new();
    folder(&env);
    // Piece 3 (49 152..65 536) holds the end of big.bin and the start of docs/notes.txt.
    env.flip_byte("top/docs/notes.txt", 10);
    let out = env.run(&["verify", "top.torrent", "top"]);
    out.expect_code(1);
    assert!(line_about(&out.stdout, "top/big.bin").starts_with("damaged"), "{out:#?}");
    assert!(line_about(&out.stdout, "top/docs/notes.txt").starts_with("damaged"), "{out:#?}");
}

#[test]
fn verify_missing_file_exits_one_and_reports_it_missing() {
    let env = TestEnv::new();
    folder(&env);
    std::fs::remove_file(env.path("top/tail.bin")).expect("remove");
    let out = env.run(&["verify", "top.torrent", "top"]);
    out.expect_code(1);
    let line = line_about(&out.stdout, "top/tail.bin");
    assert!(line.starts_with("missing") && line.contains("file is missing"), "{out:#?}");
    assert!(out.stdout.contains("missing ("), "{out:#?}");
}

#[test]
fn verify_wrong_size_file_exits_one_and_gives_both_sizes() {
    let env = TestEnv::new();
    folder(&env);
    let mut bytes = env.read("top/docs/notes.txt");
    bytes.push(b'!');
    env.write("top/docs/notes.txt", &bytes);
    let out = env.run(&["verify", "top.torrent", "top"]);
    out.expect_code(1);
    let line = line_about(&out.stdout, "top/docs/notes.txt");
    assert!(line.contains("has 9001 bytes, the torrent says 9000"), "{out:#?}");
}

#[test]
fn verify_file_where_a_folder_is_expected_exits_two() {
    let env = TestEnv::new();
    folder(&env);
    env.run(&["verify", "top.torrent", "top/big.bin"]).expect_error(2, "holds a folder");
}

#[test]
fn verify_folder_where_a_file_is_expected_exits_two() {
    let env = TestEnv::new();
    env.write_generated("one.bin", 1000, 4);
    env.run(&["create", "one.bin"]).expect_code(0);
    std::fs::create_dir(env.path("somewhere")).expect("mkdir");
    env.run(&["verify", "one.bin.torrent", "somewhere"]).expect_error(2, "single file");
}

#[test]
fn verify_missing_data_path_exits_two_naming_it() {
    let env = TestEnv::new();
    folder(&env);
    env.run(&["verify", "top.torrent", "elsewhere"]).expect_error(2, "elsewhere");
}

#[test]
fn verify_bad_torrent_exits_two() {
    let env = TestEnv::new();
    env.tree("top", TREE);
    env.write("top.torrent", b"d4:infod4:name3:topee");
    env.run(&["verify", "top.torrent", "top"]).expect_error(2, "invalid torrent top.torrent");
}

#[test]
fn verify_json_reports_counts_and_each_file() {
    let env = TestEnv::new();
    folder(&env);
    env.flip_byte("top/big.bin", 0);
    std::fs::remove_file(env.path("top/tail.bin")).expect("remove");
    let report = env.run(&["verify", "--json", "top.torrent", "top"]).expect_code(1).json();
    assert_eq!(report["info_hash"].as_str(), Some(env.info_hash("top.torrent").as_str()));
    assert_eq!(report["pieces"], 5);
    assert_eq!(report["good"], 2);
    assert_eq!(report["bad"], 1);
    assert_eq!(report["missing"], 2);
    assert_eq!(report["complete"], false);
    assert!(report["seconds"].is_number());
    let files = report["files"].as_array().expect("files");
    let status = |path: &str| {
        let file = files.iter().find(|f| f["path"] == path);
        file.and_then(|f| f["status"].as_str()).unwrap_or_else(|| panic!("{path}: {report}"))
    };
    assert!(status("top/big.bin").starts_with("damaged"));
    assert_eq!(status("top/docs/empty.txt"), "ok");
    assert!(status("top/tail.bin").starts_with("missing"));
}

#[test]
fn verify_json_of_complete_data_says_complete() {
    let env = TestEnv::new();
    folder(&env);
    let report = env.run(&["verify", "--json", "top.torrent", "top"]).expect_code(0).json();
    assert_eq!(report["complete"], true);
    assert_eq!(report["good"], 5);
}
