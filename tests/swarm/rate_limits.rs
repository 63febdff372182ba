//! `--max-down` and `--max-up` over a real transfer with libtorrent: the transfer completes,
//! and over every stretch of two seconds or more of `mt`'s own `stats` lines the payload
//! moved stays within 1.5 times the limit.

use serde_json::Value;

use crate::common::swarm::{GET_LIMIT, assert_same_file};
use crate::common::{TestEnv, require_libtorrent};

/// 3 MiB and a bit: about six seconds at the limit below.
const LEN: usize = 3 * 1024 * 1024 + 4_321;
/// The limit under test, and the same in bytes per second.
const LIMIT: &str = "512K";
const LIMIT_BYTES: f64 = 512.0 * 1024.0;

fn setup() -> TestEnv {
    let env = TestEnv::new();
    env.write_generated("video.bin", LEN, 14);
    env.run(&["create", "-p", "64K", "video.bin"]).expect_code(0);
    env
}

/// (seconds, bytes) from each `stats` line's `elapsed` and `field`.
fn samples(lines: &[Value], field: &str) -> Vec<(f64, u64)> {
    lines
        .iter()
        .filter(|v| v["event"] == "stats")
        .filter_map(|v| Some((v["elapsed"].as_f64()?, v[field].as_u64()?)))
        .collect()
}

/// Asserts that no stretch of at least two seconds between samples moved more than 1.5 times
/// the limit, and that the limit was reported.
fn assert_within_limit(samples: &[(f64, u64)], what: &str) {
    assert!(samples.len() >= 3, "too few stats lines to judge the {what} rate: {samples:?}");
    for (i, &(t0, b0)) in samples.iter().enumerate() {
        for &(t1, b1) in &samples[i + 1..] {
            if t1 - t0 < 2.0 {
                continue;
            }
            let rate = (b1 - b0) as f64 / (t1 - t0);
            assert!(
                rate <= 1.5 * LIMIT_BYTES,
                "{what} at {rate:.0} B/s from {t0:.1} s to {t1:.1} s, over 1.5 × {LIMIT}: \
                 {samples:?}"
            );
        }
    }
}

#[test]
fn max_down_paces_a_download_from_libtorrent() {
    if !require_libtorrent() {
        return;
    }
    let env = setup();
    let root = env.root().to_str().expect("UTF-8 temp path");
    let seed = env.libtorrent("seed", "video.bin.torrent", root, &[]);
    let out =
        env.get("video.bin.torrent", "copy.bin", &["--peer", &seed.addr, "--max-down", LIMIT]);
    out.expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
    let lines = out.json_lines();
    let stats = lines.iter().find(|v| v["event"] == "stats").expect("a stats line");
    assert_eq!(stats["max_down"], 512 * 1024, "the limit is reported: {stats}");
    assert_within_limit(&samples(&lines, "downloaded"), "download");
}

#[test]
fn max_up_paces_uploads_to_libtorrent() {
    if !require_libtorrent() {
        return;
    }
    let env = setup();
    let mut seed = env.seed("video.bin.torrent", "video.bin", &["--max-up", LIMIT]);
    let get = env.libtorrent("get", "video.bin.torrent", "lt", &["--peer", &seed.addr]);
    get.process.wait(GET_LIMIT).expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("lt/video.bin"));
    // Two more stats lines, so the last stretch of the upload is seen.
    let lines = seed.process.json_lines_for(std::time::Duration::from_millis(2_500));
    let uploads = samples(&lines, "uploaded");
    assert_eq!(uploads.last().map(|s| s.1), Some(LEN as u64), "all uploaded once: {uploads:?}");
    let stats = lines.iter().find(|v| v["event"] == "stats").expect("a stats line");
    assert_eq!(stats["max_up"], 512 * 1024, "the limit is reported: {stats}");
    assert_within_limit(&uploads, "upload");
}
