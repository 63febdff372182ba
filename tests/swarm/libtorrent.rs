//! Transfers between `mt` and libtorrent 2.0 on loopback, in both directions, for single-file
//! and nested multi-file torrents: found by direct address, and found through `mt`'s own
//! HTTP tracker run in-process. What arrives is byte for byte what was seeded.
//!
//! The libtorrent side is `tests/interop/lt_swarm.py` under `/usr/bin/python3`; without its
//! bindings these tests fail under `CI=true` and are skipped loudly otherwise.

use crate::common::swarm::{GET_LIMIT, announce_url, assert_same_file, assert_same_tree, tracker};
use crate::common::{TestEnv, require_libtorrent};
use mt::tracker::server::ServerHandle;

/// Nested folders, odd sizes and an empty file; 32 KiB pieces cross the file boundaries.
pub const TREE: &[(&str, usize)] = &[
    ("disc/01 intro.wav", 700_001),
    ("disc/02.wav", 16_383),
    ("disc/empty.cue", 0),
    ("readme.txt", 999),
    ("video/a.mkv", 1_000_003),
];

/// What the torrent holds.
#[derive(Clone, Copy)]
enum Shape {
    /// `video.bin`, 2 MiB and a bit.
    SingleFile,
    /// The [`TREE`] under `tree/`.
    MultiFile,
}

/// How the downloader learns where the seed is.
#[derive(Clone, Copy)]
enum Found {
    /// `--peer HOST:PORT`.
    ByAddress,
    /// A tracker named in the torrent.
    ByTracker,
}

/// A test folder with the data and its torrent, and the tracker if the torrent names one.
struct Setup {
    env: TestEnv,
    tracker: Option<ServerHandle>,
    name: &'static str,
    torrent: &'static str,
}

impl Setup {
    fn new(shape: Shape, found: Found) -> Setup {
        let env = TestEnv::new();
        let (name, torrent) = match shape {
            Shape::SingleFile => {
                env.write_generated("video.bin", 2 * 1024 * 1024 + 1_234, 5);
                ("video.bin", "video.bin.torrent")
            }
            Shape::MultiFile => {
                env.tree("tree", TREE);
                ("tree", "tree.torrent")
            }
        };
        let tracker = matches!(found, Found::ByTracker).then(tracker);
        let mut create = vec!["create".to_string(), "-p".into(), "32K".into(), name.into()];
        if let Some(tracker) = &tracker {
            create.extend(["-t".into(), announce_url(tracker)]);
        }
        let create: Vec<&str> = create.iter().map(String::as_str).collect();
        env.run(&create).expect_code(0);
        Setup { env, tracker, name, torrent }
    }

    /// Asserts `copy` (relative to the env) holds exactly the seeded data.
    fn assert_copy(&self, copy: &str) {
        let (want, got) = (self.env.path(self.name), self.env.path(copy));
        if want.is_dir() { assert_same_tree(&want, &got) } else { assert_same_file(&want, &got) }
    }
}

fn libtorrent_seeds_to_mt_get(shape: Shape, found: Found) {
    if !require_libtorrent() {
        return;
    }
    let setup = Setup::new(shape, found);
    let env = &setup.env;
    let root = env.root().to_str().expect("UTF-8 temp path");
    let seed = env.libtorrent("seed", setup.torrent, root, &[]);
    let peer = ["--peer", seed.addr.as_str()];
    let extra: &[&str] = if setup.tracker.is_some() { &[] } else { &peer };
    let out = env.get(setup.torrent, "copy", extra);
    out.expect_code(0);
    if setup.tracker.is_some() {
        // Whichever side announced second learned of the other from the tracker.
        assert!(!out.events("tracker").is_empty(), "mt get announced: {out:#?}");
    }
    setup.assert_copy("copy");
}

fn mt_seeds_to_libtorrent(shape: Shape, found: Found) {
    if !require_libtorrent() {
        return;
    }
    let setup = Setup::new(shape, found);
    let env = &setup.env;
    let seed = env.seed(setup.torrent, setup.name, &[]);
    let peer = ["--peer", seed.addr.as_str()];
    let extra: &[&str] = if setup.tracker.is_some() { &[] } else { &peer };
    let get = env.libtorrent("get", setup.torrent, "lt", extra);
    get.process.wait(GET_LIMIT).expect_code(0);
    setup.assert_copy(&format!("lt/{}", setup.name));
}

#[test]
fn libtorrent_seeds_a_single_file_to_mt_get_by_address() {
    libtorrent_seeds_to_mt_get(Shape::SingleFile, Found::ByAddress);
}

#[test]
fn libtorrent_seeds_a_multi_file_torrent_to_mt_get_by_address() {
    libtorrent_seeds_to_mt_get(Shape::MultiFile, Found::ByAddress);
}

#[test]
fn libtorrent_seeds_a_single_file_to_mt_get_through_a_tracker() {
    libtorrent_seeds_to_mt_get(Shape::SingleFile, Found::ByTracker);
}

#[test]
fn libtorrent_seeds_a_multi_file_torrent_to_mt_get_through_a_tracker() {
    libtorrent_seeds_to_mt_get(Shape::MultiFile, Found::ByTracker);
}

#[test]
fn mt_seed_serves_a_single_file_to_libtorrent_by_address() {
    mt_seeds_to_libtorrent(Shape::SingleFile, Found::ByAddress);
}

#[test]
fn mt_seed_serves_a_multi_file_torrent_to_libtorrent_by_address() {
    mt_seeds_to_libtorrent(Shape::MultiFile, Found::ByAddress);
}

#[test]
fn mt_seed_serves_a_single_file_to_libtorrent_through_a_tracker() {
    mt_seeds_to_libtorrent(Shape::SingleFile, Found::ByTracker);
}

#[test]
fn mt_seed_serves_a_multi_file_torrent_to_libtorrent_through_a_tracker() {
    mt_seeds_to_libtorrent(Shape::MultiFile, Found::ByTracker);
}
