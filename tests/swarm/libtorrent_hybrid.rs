//! Hybrid torrents (BEP 52) made by `mt create --hybrid` between `mt` and libtorrent 2.0 on
//! loopback, in both directions: the v1 half of the swarm carries them, pad files never
//! reach the disk, and what arrives is byte for byte what was seeded.

use crate::common::swarm::{GET_LIMIT, assert_same_tree};
use crate::common::{TestEnv, require_libtorrent};
use crate::libtorrent::TREE;

/// The nested tree of the v1 libtorrent tests, as a hybrid: every file but the empty one gets
/// a pad.
fn hybrid_tree(env: &TestEnv) {
    env.tree("tree", TREE);
    env.run(&["create", "--hybrid", "-p", "32K", "tree"]).expect_code(0);
}

/// libtorrent seeds the folder `tree` of `tree.torrent` to `mt get`: the copy is the same,
/// and no pad file reaches the disk.
pub fn libtorrent_seeds_the_tree_to_mt_get(env: &TestEnv) {
    let root = env.root().to_str().expect("UTF-8 temp path");
    let seed = env.libtorrent("seed", "tree.torrent", root, &[]);
    let out = env.get("tree.torrent", "copy", &["--peer", &seed.addr]);
    out.expect_code(0);
    assert_same_tree(&env.path("tree"), &env.path("copy"));
    assert!(!env.path("copy/.pad").exists(), "no pad file on disk");
}

/// `mt seed` serves the folder `tree` of `tree.torrent` to libtorrent: the copy is the same,
/// and neither side has a pad file on disk.
pub fn mt_seed_serves_the_tree_to_libtorrent(env: &TestEnv) {
    let seed = env.seed("tree.torrent", "tree", &[]);
    let get = env.libtorrent("get", "tree.torrent", "lt", &["--peer", &seed.addr]);
    get.process.wait(GET_LIMIT).expect_code(0);
    assert_same_tree(&env.path("tree"), &env.path("lt/tree"));
    assert!(!env.path("tree/.pad").exists(), "the seed makes no pad file");
    assert!(!env.path("lt/tree/.pad").exists(), "libtorrent gets no pad file");
}

#[test]
fn libtorrent_seeds_a_hybrid_folder_to_mt_get_without_pad_files() {
    if !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    hybrid_tree(&env);
    libtorrent_seeds_the_tree_to_mt_get(&env);
}

#[test]
fn mt_seed_serves_a_hybrid_folder_to_libtorrent() {
    if !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    hybrid_tree(&env);
    mt_seed_serves_the_tree_to_libtorrent(&env);
}
