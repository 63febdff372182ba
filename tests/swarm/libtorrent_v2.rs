//! v2-only torrents (BEP 52) made by `mt create --v2` between `mt` and libtorrent 2.0 on
//! loopback, in both directions: the handshake carries the v2 hash truncated to 20 bytes with
//! the v2 bit set, every file starts on a piece, each file's last piece is short, and every
//! piece is checked against its file's piece layer. What arrives is byte for byte what was
//! seeded, and no pad file reaches the disk.

use crate::common::swarm::{GET_LIMIT, assert_same_file, assert_same_tree};
use crate::common::{TestEnv, require_libtorrent};
use crate::libtorrent::TREE;
use crate::libtorrent_hybrid::{
    libtorrent_seeds_the_tree_to_mt_get, mt_seed_serves_the_tree_to_libtorrent,
};

/// A single file of 2 MiB and a bit as a v2 torrent with 32 KiB pieces.
fn v2_file(env: &TestEnv) {
    env.write_generated("video.bin", 2 * 1024 * 1024 + 1_234, 7);
    env.run(&["create", "--v2", "-p", "32K", "video.bin"]).expect_code(0);
}

/// The nested tree of the v1 libtorrent tests (odd sizes, an empty file) as a v2 torrent.
fn v2_tree(env: &TestEnv) {
    env.tree("tree", TREE);
    env.run(&["create", "--v2", "-p", "32K", "tree"]).expect_code(0);
}

#[test]
fn libtorrent_seeds_a_v2_file_to_mt_get() {
    if !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    v2_file(&env);
    let root = env.root().to_str().expect("UTF-8 temp path");
    let seed = env.libtorrent("seed", "video.bin.torrent", root, &[]);
    let out = env.get("video.bin.torrent", "copy.bin", &["--peer", &seed.addr]);
    out.expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}

#[test]
fn libtorrent_seeds_a_v2_folder_to_mt_get() {
    if !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    v2_tree(&env);
    libtorrent_seeds_the_tree_to_mt_get(&env);
}

#[test]
fn mt_seed_serves_a_v2_file_to_libtorrent() {
    if !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    v2_file(&env);
    let seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let get = env.libtorrent("get", "video.bin.torrent", "lt", &["--peer", &seed.addr]);
    get.process.wait(GET_LIMIT).expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("lt/video.bin"));
}

#[test]
fn mt_seed_serves_a_v2_folder_to_libtorrent() {
    if !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    v2_tree(&env);
    mt_seed_serves_the_tree_to_libtorrent(&env);
}

/// The magnet link `mt show` prints for `torrent`, with only its v2 hash (`btmh`).
fn v2_magnet(env: &TestEnv, torrent: &str) -> String {
    let magnet = env.show_json(torrent)["magnet"].as_str().expect("magnet").to_string();
    let parts: Vec<&str> = magnet.trim_start_matches("magnet:?").split('&').collect();
    let kept: Vec<&str> = parts.into_iter().filter(|p| !p.starts_with("xt=urn:btih:")).collect();
    assert!(kept.iter().any(|p| p.starts_with("xt=urn:btmh:1220")), "a v2 link: {magnet}");
    format!("magnet:?{}", kept.join("&"))
}

#[test]
fn libtorrent_given_a_v2_magnet_link_gets_metadata_and_piece_layers_from_mt_seed() {
    if !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    v2_tree(&env);
    let magnet = v2_magnet(&env, "tree.torrent");
    let seed = env.seed("tree.torrent", "tree", &[]);
    let get = env.libtorrent("get", &magnet, "lt", &["--peer", &seed.addr]);
    get.process.wait(GET_LIMIT).expect_code(0);
    assert_same_tree(&env.path("tree"), &env.path("lt/tree"));
}

#[test]
fn libtorrent_given_a_hybrid_btmh_link_downloads_from_mt_seed() {
    if !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    env.tree("tree", TREE);
    env.run(&["create", "--hybrid", "-p", "32K", "tree"]).expect_code(0);
    let magnet = v2_magnet(&env, "tree.torrent");
    let seed = env.seed("tree.torrent", "tree", &[]);
    let get = env.libtorrent("get", &magnet, "lt", &["--peer", &seed.addr]);
    get.process.wait(GET_LIMIT).expect_code(0);
    assert_same_tree(&env.path("tree"), &env.path("lt/tree"));
    assert!(!env.path("lt/tree/.pad").exists(), "no pad file on disk");
}

#[test]
fn mt_get_of_a_v2_magnet_link_gets_metadata_and_piece_layers_from_mt_seed() {
    let env = TestEnv::new();
    v2_tree(&env);
    let magnet = v2_magnet(&env, "tree.torrent");
    let seed = env.seed("tree.torrent", "tree", &[]);
    let out = env.get(&magnet, "copy", &["--peer", &seed.addr]);
    out.expect_code(0);
    assert_same_tree(&env.path("tree"), &env.path("copy"));
}

#[test]
fn mt_get_of_a_v2_magnet_link_gets_metadata_and_piece_layers_from_libtorrent() {
    if !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    v2_tree(&env);
    let magnet = v2_magnet(&env, "tree.torrent");
    let root = env.root().to_str().expect("UTF-8 temp path");
    let seed = env.libtorrent("seed", "tree.torrent", root, &[]);
    let out = env.get(&magnet, "copy", &["--peer", &seed.addr]);
    out.expect_code(0);
    assert_same_tree(&env.path("tree"), &env.path("copy"));
}

#[test]
fn mt_get_of_a_hybrid_btmh_link_checks_the_metadata_against_the_v2_hash() {
    let env = TestEnv::new();
    env.tree("tree", TREE);
    env.run(&["create", "--hybrid", "-p", "32K", "tree"]).expect_code(0);
    let magnet = v2_magnet(&env, "tree.torrent");
    let seed = env.seed("tree.torrent", "tree", &[]);
    let out = env.get(&magnet, "copy", &["--peer", &seed.addr]);
    out.expect_code(0);
    assert_same_tree(&env.path("tree"), &env.path("copy"));
}
