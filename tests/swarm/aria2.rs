//! Transfers between `mt` and aria2 1.36 on loopback, in both directions, found through an
//! `mt tracker` process. What arrives is byte for byte what was seeded.
//!
//! aria2 runs with DHT, local peer discovery and peer exchange off, on a free loopback port;
//! it is killed by its pid when a test ends. Without `aria2c` these tests fail under
//! `CI=true` and are skipped loudly otherwise.

use std::process::Command;

use crate::common::process::Running;
use crate::common::swarm::{GET_LIMIT, assert_same_file, free_port};
use crate::common::{TestEnv, require_tool};

/// 3 MB and a bit in 32 KiB pieces.
const LEN: usize = 3_000_017;

/// A torrent of `video.bin` that names a running `mt tracker`.
fn setup(env: &TestEnv) -> crate::common::swarm::TrackerProcess {
    env.write_generated("video.bin", LEN, 21);
    let tracker = env.mt_tracker();
    env.run(&["create", "-p", "32K", "-t", &tracker.http, "video.bin"]).expect_code(0);
    tracker
}

/// An `aria2c` command for `video.bin.torrent` saving under `dir`, on loopback only.
fn aria2(env: &TestEnv, dir: &str, extra: &[&str]) -> Command {
    let port = free_port().to_string();
    let mut command = Command::new("aria2c");
    command
        .args(["--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false"])
        .args(["--enable-peer-exchange=false", "--disable-ipv6=true", "--bt-tracker-interval=1"])
        .args(["--listen-port", &port, "--dir", dir, "--summary-interval=0"])
        .args(["--console-log-level=warn", "--stop=50"])
        .args(extra)
        .arg("video.bin.torrent")
        .current_dir(env.root());
    command
}

#[test]
fn mt_seed_serves_aria2_through_mt_tracker() {
    if !require_tool("aria2c") {
        return;
    }
    let env = TestEnv::new();
    let _tracker = setup(&env);
    let _seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let get = Running::spawn(aria2(&env, "aria2", &["--seed-time=0"]));
    get.wait(GET_LIMIT).expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("aria2/video.bin"));
}

#[test]
fn aria2_seeds_to_mt_get_through_mt_tracker() {
    if !require_tool("aria2c") {
        return;
    }
    let env = TestEnv::new();
    let _tracker = setup(&env);
    std::fs::create_dir_all(env.path("seed")).expect("seed folder");
    std::fs::copy(env.path("video.bin"), env.path("seed/video.bin")).expect("copy the data");
    let _seed =
        Running::spawn(aria2(&env, "seed", &["--check-integrity=true", "--seed-ratio=0.0"]));
    let out = env.get("video.bin.torrent", "copy.bin", &[]);
    out.expect_code(0);
    assert!(!out.events("tracker").is_empty(), "mt get announced: {out:#?}");
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}
