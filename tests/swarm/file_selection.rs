//! Downloading some files of a torrent (`--only`, `--files`): only they appear, byte for byte;
//! the parts of shared pieces that belong to other files wait in the hidden parts file, so a
//! wider selection later fetches only the pieces it did not have.

use mt::metainfo::Metainfo;
use mt::selection::Selection;

use crate::common::TestEnv;
use crate::common::swarm::assert_same_file;

/// 32 KiB pieces: every boundary between these files falls inside a piece.
const TREE: &[(&str, usize)] =
    &[("a.bin", 50_000), ("b.bin", 30_001), ("c/d.bin", 70_000), ("e.bin", 20_000)];

/// Bytes of the pieces that `later` wants and `earlier` did not.
fn new_piece_bytes(meta: &Metainfo, earlier: &Selection, later: &Selection) -> u64 {
    let layout = meta.layout();
    let (before, after) = (earlier.pieces(layout), later.pieces(layout));
    layout
        .pieces()
        .filter(|p| after.get(p.0) && !before.get(p.0))
        .map(|p| u64::from(layout.piece_len(p)))
        .sum()
}

#[test]
fn one_selected_file_arrives_alone_and_a_wider_selection_fetches_only_whats_missing() {
    let env = TestEnv::new();
    env.tree("tree", TREE);
    env.run(&["create", "-p", "32K", "tree", "tree.torrent"]).expect_code(0);
    let meta = Metainfo::load(&env.path("tree.torrent")).expect("the torrent loads");
    let seed = env.seed("tree.torrent", "tree", &[]);

    let first = env.get("tree.torrent", "copy", &["--peer", &seed.addr, "--only", "b.bin"]);
    first.expect_code(0);
    assert_same_file(&env.path("tree/b.bin"), &env.path("copy/b.bin"));
    for other in ["copy/a.bin", "copy/c", "copy/e.bin"] {
        assert!(!env.path(other).exists(), "{other} is not selected and must not exist");
    }
    assert!(env.path("copy/.mt-parts").is_file(), "the shared pieces' other parts are kept");
    let done = first.event("done");
    assert_eq!(done["total_bytes"], done["have_bytes"], "progress counts the selection: {done}");
    // verify takes the same selection, and finds the shared pieces' other parts.
    env.run(&["verify", "tree.torrent", "copy", "--only", "b.bin"]).expect_code(0);
    env.run(&["verify", "tree.torrent", "copy", "--files", "1"]).expect_code(0);
    env.run(&["verify", "tree.torrent", "copy"]).expect_code(1);

    // Wider: b.bin and c/d.bin, by index as `mt show` numbers them.
    let second = env.get("tree.torrent", "copy", &["--peer", &seed.addr, "--files", "1-2"]);
    second.expect_code(0);
    assert_same_file(&env.path("tree/b.bin"), &env.path("copy/b.bin"));
    assert_same_file(&env.path("tree/c/d.bin"), &env.path("copy/c/d.bin"));
    assert!(!env.path("copy/a.bin").exists() && !env.path("copy/e.bin").exists());
    let only_b =
        Selection::choose(&meta.info, &["b.bin".into()], &[]).expect("valid").expect("some");
    let b_and_d = Selection::choose(&meta.info, &[], &[(1, 2)]).expect("valid").expect("some");
    let downloaded = second.event("done")["downloaded"].as_u64().expect("downloaded");
    assert_eq!(downloaded, new_piece_bytes(&meta, &only_b, &b_and_d), "{second:#?}");

    // Everything: the rest arrives, and the parts file is gone.
    env.get("tree.torrent", "copy", &["--peer", &seed.addr]).expect_code(0);
    crate::common::swarm::assert_same_tree(&env.path("tree"), &env.path("copy"));
}

#[test]
fn a_pattern_that_matches_nothing_is_one_clear_error() {
    let env = TestEnv::new();
    env.tree("tree", TREE);
    env.run(&["create", "-p", "32K", "tree", "tree.torrent"]).expect_code(0);
    let out = env.get("tree.torrent", "copy", &["--only", "*.mkv"]);
    out.expect_error(2, "*.mkv");
    assert!(!env.path("copy").exists());
}

#[test]
fn a_magnet_links_so_selects_files() {
    let env = TestEnv::new();
    env.tree("tree", TREE);
    env.run(&["create", "-p", "32K", "tree", "tree.torrent"]).expect_code(0);
    let magnet = env.show_json("tree.torrent")["magnet"].as_str().expect("a magnet").to_string();
    let seed = env.seed("tree.torrent", "tree", &[]);
    let link = format!("{magnet}&x.pe={}&so=2", seed.addr);
    env.get(&link, "copy", &[]).expect_code(0);
    assert_same_file(&env.path("tree/c/d.bin"), &env.path("copy/c/d.bin"));
    assert!(!env.path("copy/a.bin").exists() && !env.path("copy/b.bin").exists());
}
