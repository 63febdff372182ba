//! v2 and hybrid torrents (BEP 52) and pad files (BEP 47), read from libtorrent's checked-in
//! fixtures (see `fixtures/README.md`): `mt show` names their hashes and marks pad files,
//! `mt verify` checks the data against them and never looks for a pad file on disk.

use std::path::Path;

use crate::common::{TestEnv, repo_path};
use serde_json::json;

fn fixture(relative: &str) -> String {
    repo_path(&format!("fixtures/{relative}")).to_str().expect("UTF-8 repository path").into()
}

/// Copies the fixture data (`single.bin`, `multi/`) into the test's folder, so a test may
/// change it and can see every file anything writes next to it.
fn copy_data(env: &TestEnv) {
    fn copy(from: &Path, to: &Path) {
        if from.is_dir() {
            std::fs::create_dir_all(to).expect("create folder");
            for entry in std::fs::read_dir(from).expect("list fixture folder") {
                let entry = entry.expect("fixture entry");
                copy(&entry.path(), &to.join(entry.file_name()));
            }
        } else {
            std::fs::copy(from, to).expect("copy fixture file");
        }
    }
    copy(&repo_path("fixtures/data/single.bin"), &env.path("single.bin"));
    copy(&repo_path("fixtures/data/multi"), &env.path("multi"));
}

/// Every path below `folder`, '/'-joined, sorted.
fn listing(folder: &Path) -> Vec<String> {
    fn walk(folder: &Path, prefix: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(folder).expect("list folder") {
            let entry = entry.expect("entry");
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.path().is_dir() {
                walk(&entry.path(), &format!("{name}/"), out);
            }
            out.push(name);
        }
    }
    let mut out = Vec::new();
    walk(folder, "", &mut out);
    out.sort();
    out
}

#[test]
fn show_marks_a_hybrids_pad_files_as_padding_and_counts_them_in_file_indexes() {
    let env = TestEnv::new();
    let shown = env.show_json(&fixture("libtorrent-hybrid-multi.torrent"));
    assert_eq!(
        shown["files"],
        json!([
            { "path": "multi/a.txt", "length": 10_000 },
            { "path": "multi/.pad/6384", "length": 6_384, "padding": true },
            { "path": "multi/b c.dat", "length": 21_000 },
            { "path": "multi/.pad/11768", "length": 11_768, "padding": true },
            { "path": "multi/docs/empty", "length": 0 },
            { "path": "multi/docs/z.bin", "length": 13_000 },
            { "path": "multi/.pad/3384", "length": 3_384, "padding": true },
        ])
    );
    let text = env.run(&["show", &fixture("libtorrent-hybrid-multi.torrent")]);
    text.expect_code(0);
    let pads: Vec<&str> = text.stdout.lines().filter(|l| l.contains("padding")).collect();
    assert_eq!(pads.len(), 3, "{}", text.stdout);
    assert!(pads[0].contains("file 1"), "a pad file is shown with its index: {}", pads[0]);
    assert!(!text.stdout.contains(".pad"), "pad files are not shown as files: {}", text.stdout);
}

#[test]
fn verify_accepts_a_hybrid_folder_and_never_looks_for_pad_files() {
    let env = TestEnv::new();
    copy_data(&env);
    let before = listing(&env.path("multi"));
    let out = env.run(&["verify", &fixture("libtorrent-hybrid-multi.torrent"), "multi"]);
    out.expect_code(0);
    assert!(!out.stdout.contains(".pad"), "{}", out.stdout);
    assert_eq!(listing(&env.path("multi")), before, "verify wrote nothing");
}
