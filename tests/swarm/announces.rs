//! How often a download asks its tracker, and how fast it acts on the answer.
//!
//! A download with nobody to talk to asks again at the tracker's interval when that is short,
//! not at the longer lonely interval; and an address a tracker names is dialled as soon as the
//! reply arrives, not at the session's next once-a-second round. Nothing here measures time:
//! the first is a count of replies in a bounded run, the second the order of the download's
//! `--json` events (each second's `stats` line comes from the same round that used to dial).

use crate::common::TestEnv;
use crate::common::swarm::{GET_LIMIT, STARTUP, announce_url, assert_same_file, tracker};

/// 1 MiB in 32 KiB pieces.
const LEN: usize = 1024 * 1024;

#[test]
fn a_lonely_download_asks_again_at_the_trackers_short_interval() {
    let env = TestEnv::new();
    let tracker = tracker(); // a two-second interval
    env.write_generated("video.bin", LEN, 5);
    env.run(&["create", "-p", "32K", "-t", &announce_url(&tracker), "video.bin"]).expect_code(0);
    // Nobody seeds it: the download runs until its timeout, asking the tracker all along.
    let out = env.get("video.bin.torrent", "copy.bin", &["--timeout", "9"]);
    assert_ne!(out.code, 0, "nothing to download from: {out:#?}");
    let replies = out.events("tracker").len();
    assert!(
        replies >= 3,
        "in 9 s with a 2 s interval and no peer the download should ask at least 3 times, not \
         wait a longer lonely interval; it asked {replies} times: {out:#?}"
    );
}

#[test]
fn a_seed_named_by_the_tracker_is_dialled_before_the_next_round() {
    let env = TestEnv::new();
    let tracker = tracker();
    env.write_generated("video.bin", LEN, 6);
    env.run(&["create", "-p", "32K", "-t", &announce_url(&tracker), "video.bin"]).expect_code(0);
    let mut seed = env.seed("video.bin.torrent", "video.bin", &[]);
    // The seed is on the tracker's list before the download asks.
    seed.process.wait_for(STARTUP, |e| e["event"] == "tracker");
    let get = env.start_get("video.bin.torrent", "copy.bin", &[]);
    let out = get.wait(GET_LIMIT);
    out.expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));

    let lines = out.json_lines();
    let named = lines
        .iter()
        .position(|e| e["event"] == "tracker" && e["peers"].as_u64() >= Some(1))
        .unwrap_or_else(|| panic!("the tracker never named the seed: {out:#?}"));
    let connected = lines
        .iter()
        .position(|e| e["event"] == "peer_connected" && e["addr"] == seed.addr.as_str())
        .unwrap_or_else(|| panic!("never connected to the seed: {out:#?}"));
    assert!(named < connected, "connected before the tracker named the seed: {out:#?}");
    let rounds = lines[named..connected].iter().filter(|e| e["event"] == "stats").count();
    assert_eq!(
        rounds, 0,
        "the seed the tracker named should be dialled on the reply, not at the next \
         once-a-second round (whose stats line came first): {out:#?}"
    );
}
