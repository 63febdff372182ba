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
#[test]
fn show_and_verify_read_v2_only_torrents() {
    let env = TestEnv::new();
    copy_data(&env);
    for (torrent, data) in
        [("libtorrent-v2-single.torrent", "single.bin"), ("libtorrent-v2-multi.torrent", "multi")]
    {
        env.run(&["show", &fixture(torrent)]).expect_code(0);
        env.run(&["verify", &fixture(torrent), data]).expect_code(0);
    }
}

/// (torrent, meta version, v1 info hash or "", v2 info hash) as listed in the README.
const HASHES: &[(&str, &str, &str, &str)] = &[
    (
        "libtorrent-v2-single.torrent",
        "v2",
        "",
        "0b507c2c6b0a93b0ffba4c7d22578ef1ebe550ecb3bfad8cecfd89c1870f9126",
    ),
    (
        "libtorrent-v2-multi.torrent",
        "v2",
        "",
        "140eac0fef12eb4b9f24ec0586a357d54f47d74efc80c9fa9e61e56eb24e1995",
    ),
    (
        "libtorrent-hybrid-single.torrent",
        "hybrid",
        "47b86706b6baa62507561a42a8d7361e37499a39",
        "6d7433149f6af3b4f966c9a5c774fa102245dad4e0ba3d68d16cf861d0db6ace",
    ),
    (
        "libtorrent-hybrid-multi.torrent",
        "hybrid",
        "15145a6d2fd2ed52bb6287f9c39ac22cd33984e1",
        "1b2e085298d449e0026e9ae3c76541789b88390cea6237057780263a5d76e723",
    ),
];

#[test]
fn show_reports_the_meta_version_and_both_info_hashes_of_each_fixture() {
    let env = TestEnv::new();
    for (torrent, version, v1, v2) in HASHES {
        let shown = env.show_json(&fixture(torrent));
        assert_eq!(shown["meta_version"], 2, "{torrent}");
        assert_eq!(shown["version"], *version, "{torrent}");
        assert_eq!(shown["info_hash_v2"], *v2, "{torrent}");
        let magnet = shown["magnet"].as_str().expect("magnet text");
        assert!(magnet.contains(&format!("xt=urn:btmh:1220{v2}")), "{magnet}");
        if v1.is_empty() {
            assert_eq!(shown["info_hash"], v2[..40], "v2-only: the truncated v2 hash");
            assert!(!magnet.contains("btih"), "{magnet}");
        } else {
            assert_eq!(shown["info_hash"], *v1, "{torrent}");
            assert!(magnet.contains(&format!("xt=urn:btih:{v1}")), "{magnet}");
        }
        let text = env.run(&["show", &fixture(torrent)]);
        text.expect_code(0);
        assert!(text.stdout.contains(&format!("info hash v2  {v2}")), "{}", text.stdout);
        assert_eq!(text.stdout.contains("info hash     "), !v1.is_empty(), "{}", text.stdout);
    }
    let v1 = env.show_json(&fixture("libtorrent-multi.torrent"));
    assert_eq!((v1["meta_version"].clone(), v1["info_hash_v2"].clone()), (json!(1), json!(null)));
}

#[test]
fn show_reads_the_v2_hash_of_a_btmh_magnet_link() {
    let env = TestEnv::new();
    let v2 = HASHES[1].3;
    let link = format!("magnet:?xt=urn:btmh:1220{v2}&dn=multi");
    let shown = env.run(&["show", "--json", &link]);
    let shown = shown.expect_code(0).json();
    assert_eq!(shown["info_hash_v2"], v2);
    assert_eq!(shown["magnet"], link);
    let hybrid = format!("magnet:?xt=urn:btih:{}&xt=urn:btmh:1220{}", HASHES[3].2, HASHES[3].3);
    let shown = env.run(&["show", "--json", &hybrid]);
    let shown = shown.expect_code(0).json();
    assert_eq!(
        (shown["info_hash"].clone(), shown["magnet"].clone()),
        (json!(HASHES[3].2), json!(hybrid))
    );
    env.run(&["show", &format!("magnet:?xt=urn:btmh:1114{v2}")])
        .expect_error(2, "nor 1220 and 64 hex");
}

#[test]
fn verify_names_the_damaged_file_and_offset_of_v2_and_hybrid_torrents() {
    for torrent in ["libtorrent-v2-multi.torrent", "libtorrent-hybrid-multi.torrent"] {
        let env = TestEnv::new();
        copy_data(&env);
        env.flip_byte("multi/b c.dat", 20_000);
        let out = env.run(&["verify", &fixture(torrent), "multi"]);
        out.expect_code(1);
        let damaged: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("damaged")).collect();
        assert_eq!(damaged.len(), 1, "{torrent}: {}", out.stdout);
        assert!(damaged[0].contains("b c.dat"), "{}", damaged[0]);
        assert!(damaged[0].contains("1 of 2 pieces bad, at offset 16384"), "{}", damaged[0]);
    }
    let env = TestEnv::new();
    copy_data(&env);
    env.flip_byte("single.bin", 19_999);
    let out = env.run(&["verify", &fixture("libtorrent-v2-single.torrent"), "single.bin"]);
    assert!(out.expect_code(1).stdout.contains("at offset 16384"), "{}", out.stdout);
}

/// `torrent`'s bytes with the first `from` replaced by `to`.
fn patched(torrent: &str, from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut bytes = std::fs::read(fixture(torrent)).expect("read fixture");
    let at = bytes.windows(from.len()).position(|w| w == from).expect("pattern in fixture");
    bytes.splice(at..at + from.len(), to.iter().copied());
    bytes
}

#[test]
fn a_hybrid_is_verified_against_its_v2_hashes_too() {
    let env = TestEnv::new();
    copy_data(&env);
    // a.txt is one piece long, so its pieces root has no piece layer to be checked against:
    // a wrong root still parses, and only the v2 check of the data can find it.
    let mut bytes = std::fs::read(fixture("libtorrent-hybrid-multi.torrent")).expect("read");
    let key = b"5:a.txtd0:d6:lengthi10000e11:pieces root32:";
    let at = bytes.windows(key.len()).position(|w| w == key).expect("a.txt's pieces root");
    bytes[at + key.len()] ^= 1;
    env.write("wrong-root.torrent", &bytes);
    let out = env.run(&["verify", "wrong-root.torrent", "multi"]);
    out.expect_code(1);
    let damaged: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("damaged")).collect();
    assert_eq!(damaged.len(), 1, "{}", out.stdout);
    assert!(damaged[0].contains("a.txt"), "{}", damaged[0]);
}

#[test]
fn broken_v2_structure_is_refused_with_a_reason() {
    let env = TestEnv::new();
    let cases: [(&str, &[u8], &[u8], &str); 5] = [
        (
            "libtorrent-v2-multi.torrent",
            b"12:piece layers",
            b"12:piece_layers",
            "piece layers has no entry for file",
        ),
        (
            "libtorrent-v2-multi.torrent",
            b"12:meta versioni2e",
            b"12:meta versioni3e",
            "meta version 3",
        ),
        (
            "libtorrent-v2-multi.torrent",
            b"12:piece lengthi16384e",
            b"12:piece lengthi16383e",
            "not a power of two",
        ),
        (
            "libtorrent-hybrid-multi.torrent",
            b"6:lengthi21000e4:pathl7:b c.date",
            b"6:lengthi21001e4:pathl7:b c.date",
            "hybrid: v1 file 2",
        ),
        (
            "libtorrent-v2-single.torrent",
            b"11:pieces root32:",
            b"11:pieces rooT32:",
            "has no pieces root",
        ),
    ];
    for (torrent, from, to, reason) in cases {
        env.write("broken.torrent", &patched(torrent, from, to));
        env.run(&["show", "broken.torrent"]).expect_error(2, reason);
    }
}
