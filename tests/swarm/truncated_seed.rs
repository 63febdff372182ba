//! A file truncated by another program while `mt seed` serves it: the seeder reports the
//! error for that torrent instead of crashing (a mapped read past the new end would be a
//! SIGBUS), stops offering what it can no longer read, and a downloader still ends with the
//! right bytes from another seed. Both storage backends behave the same.

use std::process::Command;

use crate::common::TestEnv;
use crate::common::swarm::{GET_LIMIT, assert_same_file};

fn truncated_seed_is_survived(io: &str) {
    let env = TestEnv::new();
    let bytes = env.write_generated("video.bin", 4 << 20, 91);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    env.write("a/video.bin", &bytes);
    env.write("b/video.bin", &bytes);
    let damaged = env.seed("video.bin.torrent", "a/video.bin", &["--io", io]);
    let file = std::fs::OpenOptions::new().write(true).open(env.path("a/video.bin"));
    file.and_then(|f| f.set_len(1 << 20)).expect("truncate the served file");

    // Alone, the damaged seed is asked for pieces it can no longer read, so the download
    // cannot finish; with the honest seed too, it resumes and completes. The honest seed
    // starts only now, so the damaged one cannot name it to the first download through PEX.
    let alone = ["--peer", &damaged.addr, "--io", io, "--timeout", "4"];
    env.get("video.bin.torrent", "copy.bin", &alone).expect_code(1);
    let honest = env.seed("video.bin.torrent", "b/video.bin", &["--io", io]);
    let both = ["--peer", &damaged.addr, "--peer", &honest.addr, "--io", io];
    env.get("video.bin.torrent", "copy.bin", &both).expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));

    // The damaged seed is still up, stops cleanly, and said what went wrong.
    let pid = damaged.process.pid().to_string();
    let status = Command::new("kill").args(["-INT", &pid]).status().expect("kill runs");
    assert!(status.success(), "the damaged seed is still running");
    let out = damaged.process.wait(GET_LIMIT);
    out.expect_code(0);
    let warnings = out.events("warning");
    assert!(
        warnings.iter().any(|w| w["message"].as_str().is_some_and(|m| m.contains("video.bin"))),
        "the seed names the file it can no longer read: {out:#?}"
    );
}

#[test]
fn a_file_truncated_under_a_mapped_seed_is_an_error_not_a_crash() {
    truncated_seed_is_survived("mmap");
}

#[test]
fn a_file_truncated_under_a_pread_seed_is_an_error_not_a_crash() {
    truncated_seed_is_survived("pread");
}
