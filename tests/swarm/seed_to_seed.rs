//! Two seeds of the same torrent have nothing to give each other. When they meet they part
//! ("both sides are seeds"), and from then on neither dials the other again: each remembers
//! the other as a seed, by address and by peer id, for as long as it is complete itself.

use std::time::Duration;

use crate::common::TestEnv;
use crate::common::swarm::STARTUP;

/// 1 MiB in 32 KiB pieces.
const LEN: usize = 1024 * 1024;
/// How long the two seeds are watched. Without the memory they meet again every few seconds.
const WINDOW: Duration = Duration::from_secs(14);

/// The "both sides are seeds" closes among `lines`.
fn seed_closes(lines: &[serde_json::Value]) -> usize {
    lines
        .iter()
        .filter(|e| e["event"] == "peer_closed" && e["reason"] == "both sides are seeds")
        .count()
}

#[test]
fn two_seeds_part_once_and_do_not_dial_each_other_again() {
    let env = TestEnv::new();
    env.write_generated("video.bin", LEN, 8);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    let mut first = env.seed("video.bin.torrent", "video.bin", &[]);
    // The second seed dials the first; the first learns the second's listen port from its
    // extension handshake, so either could dial the other again later.
    let mut second = env.seed("video.bin.torrent", "video.bin", &["--peer", &first.addr]);
    second.process.wait_for(STARTUP, |e| {
        e["event"] == "peer_closed" && e["reason"] == "both sides are seeds"
    });
    let later_second = second.process.json_lines_for(WINDOW);
    let later_first = first.process.json_lines_for(Duration::from_millis(200));
    let again = seed_closes(&later_second);
    assert!(
        again <= 1,
        "after the seeds first parted they met {again} more times in {WINDOW:?} (the other \
         side's dial may cross the first parting once); first: {later_first:#?}; second: \
         {later_second:#?}"
    );
}
