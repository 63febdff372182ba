//! Two peers that dial each other at the same moment, as two `mt` on one host do once each
//! finds the other in the same-host discovery folder: the downloader must still end up with
//! a working connection to the seed.
//!
//! The seed is `support::fake_peer` with `ConnectsBack`: while the download's connection to
//! it is still in its handshake, it connects back to the download as the same peer; once the
//! download has accepted that second connection and received the seed's handshake on the
//! first, it closes the second, keeping the first, as a peer does that keeps the connection
//! it accepted first. Any answer but "no connection at all" lets the download complete.

use crate::common::TestEnv;
use crate::common::swarm::{GET_LIMIT, STARTUP, assert_same_file};
use crate::support::fake_peer::{Behaviour, FakePeer};

#[test]
fn a_seed_dialling_back_during_our_handshake_still_leaves_a_connection_to_download_from() {
    let env = TestEnv::new();
    let bytes = env.write_generated("video.bin", 1024 * 1024 + 3, 31);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    let seed = FakePeer::start(&env.path("video.bin.torrent"), bytes, Behaviour::ConnectsBack);
    // Far below the time the engine waits before dialling an address again after a dial.
    let extra = ["--peer", &seed.addr(), "--timeout", "20"];
    let mut get = env.start_get("video.bin.torrent", "copy.bin", &extra);
    let started = get.wait_for_event("started", STARTUP);
    let listen = started["addr"].as_str().and_then(|a| a.parse().ok()).expect("listen address");
    seed.connect_back_to(listen);
    get.wait(GET_LIMIT).expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}
