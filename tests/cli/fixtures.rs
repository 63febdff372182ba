//! Checked-in torrents from mktorrent and libtorrent (see `fixtures/README.md`): `mt show`
//! reports the documented info hashes, `mt verify` accepts the stored data, and `mt create`
//! reproduces the hashes of the creators that sort files as it does.

use crate::common::{TestEnv, repo_path};
use serde_json::json;

/// (torrent, data under fixtures/, expected info hash) as listed in the README.
const FIXTURES: &[(&str, &str, &str)] = &[
    ("mktorrent-single.torrent", "data/single.bin", "7ab23df79ef0969fe36e157ab7903f22f74f322d"),
    ("mktorrent-multi.torrent", "data/multi", "5a297a75b575778788b238cb11f7193c7da59fde"),
    ("libtorrent-single.torrent", "data/single.bin", "25dedb1a43d0301c8ff76f328450778d80d8dbd6"),
    ("libtorrent-multi.torrent", "data/multi", "d34221b6c2e07634fe3574b756854921b3cab591"),
];

fn fixture(relative: &str) -> String {
    repo_path(&format!("fixtures/{relative}")).to_str().expect("UTF-8 repository path").into()
}

#[test]
fn show_reports_each_fixtures_documented_info_hash() {
    let env = TestEnv::new();
    for (torrent, _, hash) in FIXTURES {
        assert_eq!(env.info_hash(&fixture(torrent)), *hash, "{torrent}");
    }
}

#[test]
fn verify_accepts_each_fixtures_stored_data() {
    let env = TestEnv::new();
    for (torrent, data, _) in FIXTURES {
        let out = env.run(&["verify", &fixture(torrent), &fixture(data)]);
        assert_eq!(out.code, 0, "{torrent}: {out:#?}");
    }
}

#[test]
fn show_keeps_the_file_order_a_torrent_gives() {
    let env = TestEnv::new();
    let shown = env.show_json(&fixture("libtorrent-multi.torrent"));
    assert_eq!(
        shown["files"],
        json!([
            { "path": "multi/docs/z.bin", "length": 13_000 },
            { "path": "multi/docs/empty", "length": 0 },
            { "path": "multi/b c.dat", "length": 21_000 },
            { "path": "multi/a.txt", "length": 10_000 },
        ])
    );
    assert_eq!(shown["trackers"], json!([["udp://tracker.invalid:6969/announce"]]));
}

#[test]
fn create_reproduces_the_hashes_of_creators_that_sort_files() {
    let env = TestEnv::new();
    for (torrent, data, piece_length) in [
        ("mktorrent-single.torrent", "data/single.bin", "32K"),
        ("mktorrent-multi.torrent", "data/multi", "32K"),
        ("libtorrent-single.torrent", "data/single.bin", "16K"),
    ] {
        let made = env.run(&[
            "create",
            "--force",
            "--json",
            "-p",
            piece_length,
            &fixture(data),
            "made.torrent",
        ]);
        let made = made.expect_code(0).json();
        let (_, _, hash) = FIXTURES.iter().find(|f| f.0 == torrent).expect("listed fixture");
        assert_eq!(made["info_hash"], *hash, "{torrent}");
    }
}
