//! `mt get TORRENT` without an output path saves under the torrent's name in the current
//! folder, as other clients do.

use crate::common::TestEnv;
use crate::common::run_bounded;
use crate::common::swarm::{assert_same_file, assert_same_tree};

/// Runs `mt get ../TORRENT` from `downloads/` with no output path, from `seed_addr`.
fn get_into_downloads(env: &TestEnv, torrent: &str, seed_addr: &str) {
    std::fs::create_dir_all(env.path("downloads")).expect("create downloads/");
    let from = format!("../{torrent}");
    let args = ["get", &from, "--bind", "127.0.0.1", "-p", "0", "--json", "--timeout", "60"];
    let mut command = env.mt(&[&args[..], &["--peer", seed_addr]].concat());
    command.current_dir(env.path("downloads"));
    let out = run_bounded(command);
    out.expect_code(0);
    assert_eq!(out.event("done")["complete"], true, "{out:#?}");
}

#[test]
fn a_single_file_goes_to_the_torrents_name_in_the_current_folder() {
    let env = TestEnv::new();
    env.write_generated("seeded/clip.bin", 700_001, 3);
    env.run(&["create", "-p", "32K", "seeded/clip.bin", "clip.torrent"]).expect_code(0);
    let seed = env.seed("clip.torrent", "seeded/clip.bin", &[]);
    get_into_downloads(&env, "clip.torrent", &seed.addr);
    assert_same_file(&env.path("seeded/clip.bin"), &env.path("downloads/clip.bin"));
}

#[test]
fn a_folder_goes_to_the_torrents_name_in_the_current_folder() {
    let env = TestEnv::new();
    env.tree("seeded/album", &[("cd1/01.flac", 90_000), ("cover.jpg", 5_000), ("empty", 0)]);
    env.run(&["create", "-p", "32K", "seeded/album", "album.torrent"]).expect_code(0);
    let seed = env.seed("album.torrent", "seeded/album", &[]);
    get_into_downloads(&env, "album.torrent", &seed.addr);
    assert_same_tree(&env.path("seeded/album"), &env.path("downloads/album"));
}
