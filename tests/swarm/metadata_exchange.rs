//! `mt seed` gives a torrent's `info` dictionary to peers that have only its magnet link
//! (BEP 9), so libtorrent, given the link and the seed's address, downloads the data.

use crate::common::swarm::{GET_LIMIT, assert_same_file};
use crate::common::{TestEnv, require_libtorrent};

#[test]
fn libtorrent_given_only_a_magnet_link_downloads_from_mt_seed() {
    if !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    // 1,025 pieces' hashes make an info dictionary of two 16 KiB metadata pieces.
    env.write_generated("video.bin", 16 * 1024 * 1024 + 4_321, 11);
    env.run(&["create", "-p", "16K", "video.bin"]).expect_code(0);
    let magnet = env.show_json("video.bin.torrent")["magnet"].as_str().expect("magnet").to_string();
    let seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let get = env.libtorrent("get", &magnet, "lt", &["--peer", seed.addr.as_str()]);
    get.process.wait(GET_LIMIT).expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("lt/video.bin"));
}
