//! BEP 47 file attributes in a transfer between `mt` processes: pad files are never written
//! to (or read from) disk, `x` makes a downloaded file executable, and a symbolic link listed
//! in a torrent is not created, with a warning.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use mt::metainfo::{FileAttr, FileEntry, TorrentBuilder};
use sha1::{Digest, Sha1};

use crate::common::swarm::assert_same_tree;
use crate::common::{TestEnv, repo_path};

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("create folder");
        for entry in std::fs::read_dir(from).expect("list folder") {
            let entry = entry.expect("entry");
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).expect("copy file");
    }
}

#[test]
fn a_hybrid_folder_downloads_without_pad_files_on_disk() {
    let env = TestEnv::new();
    copy_tree(&repo_path("fixtures/data/multi"), &env.path("multi"));
    let torrent = repo_path("fixtures/libtorrent-hybrid-multi.torrent");
    let torrent = torrent.to_str().expect("UTF-8 path");
    let seed = env.seed(torrent, "multi", &[]);
    let out = env.get(torrent, "copy", &["--peer", &seed.addr]);
    out.expect_code(0);
    assert_same_tree(&env.path("multi"), &env.path("copy"));
    assert!(!env.path("copy/.pad").exists(), "no pad file is written");
    assert!(!env.path("multi/.pad").exists(), "the seed reads no pad file");
}

#[test]
fn a_download_sets_the_executable_bit_and_creates_no_symlink() {
    let env = TestEnv::new();
    let script = env.write_generated("top/run.sh", 5_000, 1);
    let data = env.write_generated("top/data.bin", 3_000, 2);
    let piece_length = 16_384u32;
    let stream = [script, data].concat();
    let pieces = stream.chunks(16_384).map(|c| Sha1::digest(c).into()).collect();
    let executable = FileAttr { executable: true, ..FileAttr::default() };
    let link = FileAttr { symlink: Some(vec!["run.sh".into()]), ..FileAttr::default() };
    let builder = TorrentBuilder {
        name: "top".into(),
        piece_length,
        pieces,
        files: vec![
            FileEntry { attr: executable, ..FileEntry::new(vec!["run.sh".into()], 5_000) },
            FileEntry { attr: link, ..FileEntry::new(vec!["link".into()], 0) },
            FileEntry::new(vec!["data.bin".into()], 3_000),
        ],
        ..TorrentBuilder::default()
    };
    let (bytes, _) = builder.build().expect("a valid torrent");
    std::fs::write(env.path("top.torrent"), bytes).expect("write torrent");

    let seed = env.seed("top.torrent", "top", &[]);
    let out = env.get("top.torrent", "copy", &["--peer", &seed.addr]);
    out.expect_code(0);
    assert!(out.stderr.contains("symbolic links in the torrent are not created"), "{out:#?}");
    assert!(std::fs::symlink_metadata(env.path("copy/link")).is_err(), "no link is created");
    let mode = std::fs::metadata(env.path("copy/run.sh")).expect("stat").permissions().mode();
    assert_eq!(mode & 0o100, 0o100, "run.sh is executable: {mode:o}");
    let mode = std::fs::metadata(env.path("copy/data.bin")).expect("stat").permissions().mode();
    assert_eq!(mode & 0o111, 0, "data.bin is not: {mode:o}");
    assert_eq!(env.read("copy/run.sh"), env.read("top/run.sh"));
}
