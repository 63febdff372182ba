//! Peer exchange (BEP 11) between `mt` processes: a downloader told of one seed learns of
//! another from it and connects to it. Each process has a discovery folder of its own, so
//! PEX is the only way the downloader can hear of the second seed.

use std::time::Duration;

use crate::common::TestEnv;
use crate::common::swarm::{STARTUP, Seed};

/// 1 MiB in 32 KiB pieces.
const LEN: usize = 1024 * 1024;
/// How long the downloader may take to connect to the seed it was not told of.
const LEARN_LIMIT: Duration = Duration::from_secs(20);

/// Waits until `seed` parted from the other seed, so that it has met it.
fn wait_until_parted(seed: &mut Seed) {
    seed.process.wait_for(STARTUP, |e| {
        e["event"] == "peer_closed" && e["reason"] == "both sides are seeds"
    });
}

/// Seeds A and B meet (`a_dials` says who dials); C, told only of A, must connect to B.
fn downloader_learns_the_other_seed(a_dials: bool) {
    let env = TestEnv::new();
    env.write_generated("video.bin", LEN, 8);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    let (mut a, b) = if a_dials {
        let b = env.seed_alone("video.bin.torrent", "video.bin", &[]);
        let a = env.seed_alone("video.bin.torrent", "video.bin", &["--peer", &b.addr]);
        (a, b)
    } else {
        let a = env.seed_alone("video.bin.torrent", "video.bin", &[]);
        let b = env.seed_alone("video.bin.torrent", "video.bin", &["--peer", &a.addr]);
        (a, b)
    };
    wait_until_parted(&mut a);
    // Kept running after it completes, so it still hears A's first PEX message.
    let mut c = env.start_get("video.bin.torrent", "copy.bin", &["--peer", &a.addr, "--seed"]);
    let b_addr = b.addr.clone();
    let connected =
        c.wait_for(LEARN_LIMIT, |e| e["event"] == "peer_connected" && e["addr"] == b_addr.as_str());
    assert_eq!(connected["outgoing"], true, "C dials B: {connected}");
    c.kill();
}

#[test]
fn a_downloader_learns_of_a_seed_through_pex_when_the_first_seed_dialled_it() {
    downloader_learns_the_other_seed(true);
}

#[test]
fn a_downloader_learns_of_a_seed_through_pex_when_it_dialled_the_first_seed() {
    downloader_learns_the_other_seed(false);
}
