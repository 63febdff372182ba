//! A second `mt get` of the same v2 or hybrid magnet link (a resume after a kill, say) takes
//! the metadata and the piece layers the first run fetched from the state folder, so it
//! needs no peer to hand them over again.

use crate::common::TestEnv;
use crate::common::swarm::assert_same_file;

/// Writes `video.bin` (22 pieces of 32 KiB: a piece layer to fetch) and its torrent made
/// with `kind` (`--v2` or `--hybrid`); returns a magnet link naming only the v2 hash.
fn video(env: &TestEnv, kind: &str) -> String {
    env.write_generated("video.bin", 700_001, 21);
    env.run(&["create", kind, "-p", "32K", "video.bin"]).expect_code(0);
    let v2 = env.show_json("video.bin.torrent")["info_hash_v2"].as_str().expect("v2").to_string();
    format!("magnet:?xt=urn:btmh:1220{v2}&dn=video.bin")
}

#[test]
fn a_second_run_of_a_btmh_link_needs_no_peer_for_metadata_or_piece_layers() {
    for kind in ["--v2", "--hybrid"] {
        let env = TestEnv::new();
        let magnet = video(&env, kind);
        let seed = env.seed("video.bin.torrent", "video.bin", &[]);
        let link = format!("{magnet}&x.pe={}", seed.addr);
        env.get(&link, "copy.bin", &[]).expect_code(0);
        drop(seed);
        // No peer is left: metadata and piece layers must come from the first run.
        let out = env.get(&link, "copy.bin", &["--timeout", "20"]);
        out.expect_code(0);
        assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
    }
}
