//! libtorrent opens connections with an encrypted handshake (message stream encryption)
//! first, and at its defaults falls back to a plain one only after that fails, which costs
//! about a second for every new peer. `mt seed` answers the encrypted handshake, choosing a
//! plaintext stream after it, so libtorrent's first connection carries the transfer.

use crate::common::swarm::{GET_LIMIT, assert_same_file};
use crate::common::{TestEnv, require_libtorrent};

/// Seeds `video.bin` (2 MiB and a bit, 32 KiB pieces) from `mt seed` and fetches it with
/// libtorrent given `extra`; returns libtorrent's JSON lines.
fn libtorrent_fetches_from_mt_seed(extra: &[&str]) -> Vec<serde_json::Value> {
    let env = TestEnv::new();
    env.write_generated("video.bin", 2 * 1024 * 1024 + 1_234, 9);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    let seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let args = [&["--peer", seed.addr.as_str()], extra].concat();
    let get = env.libtorrent("get", "video.bin.torrent", "lt", &args);
    let out = get.process.wait(GET_LIMIT);
    out.expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("lt/video.bin"));
    out.json_lines()
}

#[test]
fn libtorrent_that_requires_encrypted_handshakes_downloads_from_mt_seed() {
    if !require_libtorrent() {
        return;
    }
    libtorrent_fetches_from_mt_seed(&["--require-encryption"]);
}

#[test]
fn libtorrent_at_its_defaults_keeps_its_first_tcp_connection_to_mt_seed() {
    if !require_libtorrent() {
        return;
    }
    // --utp keeps libtorrent's defaults whole and logs each connection it makes.
    let lines = libtorrent_fetches_from_mt_seed(&["--utp"]);
    let tcp = lines.iter().filter(|l| l["event"] == "peer_connect" && l["socket"] == "tcp");
    assert_eq!(tcp.count(), 1, "one TCP connection carried the whole transfer: {lines:#?}");
}
