//! How often a download asks its tracker, and how fast it acts on the answer.
//!
//! A download with nobody to talk to asks again at the tracker's interval when that is short,
//! not at the longer lonely interval; and an address a tracker names is dialled as soon as the
//! reply arrives, not at the session's next once-a-second round. Nothing here measures time:
//! the first is a count of replies in a bounded run, the second the order of the download's
//! `--json` events (each second's `stats` line comes from the same round that used to dial).

use crate::common::TestEnv;
use crate::common::swarm::{announce_url, tracker};

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
