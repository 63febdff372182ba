//! `mt get --seed` with a stopping rule: `--seed-time` ends seeding that long after the
//! download completed, `--ratio` once it uploaded that many times the download's size; both
//! exit 0 as a completed download does.

use std::time::Duration;

use crate::common::TestEnv;
use crate::common::swarm::{GET_LIMIT, STARTUP, assert_same_file};

const LEN: usize = 600_001;

fn setup() -> TestEnv {
    let env = TestEnv::new();
    env.write_generated("video.bin", LEN, 23);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    env
}

#[test]
fn seed_time_ends_seeding_after_the_download() {
    let env = setup();
    let seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let args = ["--peer", seed.addr.as_str(), "--seed", "--seed-time", "2s"];
    let out = env.get("video.bin.torrent", "copy.bin", &args);
    out.expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
    let complete = out.event("complete")["elapsed"].as_f64().expect("elapsed");
    let done = out.event("done")["elapsed"].as_f64().expect("elapsed");
    assert!(done >= complete + 2.0, "seeded for 2 s after completing: {complete} → {done}");
}

#[test]
fn ratio_ends_seeding_once_the_download_was_uploaded_that_many_times() {
    let env = setup();
    let seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let args = ["--peer", seed.addr.as_str(), "--seed", "--ratio", "1.0"];
    let mut first = env.start_get("video.bin.torrent", "copy.bin", &args);
    let started = first.wait_for_event("started", STARTUP);
    let addr = started["addr"].as_str().expect("an address").to_string();
    first.wait_for_event("complete", GET_LIMIT);
    // It keeps seeding until someone has taken one copy from it.
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(first.is_running(), "ratio 1.0 is not met before anyone downloads");
    env.get("video.bin.torrent", "second.bin", &["--peer", &addr]).expect_code(0);
    let out = first.wait(GET_LIMIT);
    out.expect_code(0);
    let uploaded = out.event("done")["uploaded"].as_u64().expect("uploaded");
    assert!(uploaded >= LEN as u64, "stopped at ratio 1.0: uploaded {uploaded} of {LEN}");
}

#[test]
fn ratio_without_seed_is_a_usage_error() {
    let env = setup();
    env.get("video.bin.torrent", "copy.bin", &["--ratio", "2"]).expect_error(2, "--seed");
}
