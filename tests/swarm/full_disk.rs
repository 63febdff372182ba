//! Disks that are too small or fill up: `mt get` fails before transferring when the output
//! filesystem cannot hold the torrent, naming the space it needs and the space that is free;
//! and space taken by someone else during a download cannot hurt it, because every byte was
//! reserved up front.
//!
//! These tests mount size-limited tmpfs filesystems, which needs root (CI has it). Without
//! root they fail under `CI=true` and are skipped through `missing`, loudly, elsewhere.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::process::Running;
use crate::common::swarm::{GET_LIMIT, STARTUP, assert_same_file};
use crate::common::{TestEnv, missing};

/// A tmpfs of `size` mounted on a folder of the env, unmounted when dropped.
struct SmallDisk {
    mount_point: PathBuf,
}

impl SmallDisk {
    fn mount(env: &TestEnv, name: &str, size: &str) -> Option<SmallDisk> {
        let mount_point = env.path(name);
        std::fs::create_dir_all(&mount_point).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&mount_point)
            .status();
        if status.is_ok_and(|s| s.success()) {
            return Some(SmallDisk { mount_point });
        }
        missing("root, to mount a size-limited tmpfs");
        None
    }

    fn path(&self, name: &str) -> PathBuf {
        self.mount_point.join(name)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount_point).status();
    }
}

fn make_torrent(env: &TestEnv, len: usize) {
    env.write_generated("video.bin", len, 77);
    env.run(&["create", "-p", "64K", "video.bin"]).expect_code(0);
}

fn fill(path: &Path) {
    // Write until the filesystem refuses: whatever is left free is taken.
    let chunk = vec![0x55u8; 1 << 20];
    let mut file = std::fs::File::create(path).expect("filler");
    while std::io::Write::write_all(&mut file, &chunk).is_ok() {}
}

#[test]
fn get_into_a_filesystem_too_small_fails_before_transferring_and_names_the_space() {
    let env = TestEnv::new();
    let Some(disk) = SmallDisk::mount(&env, "small", "4m") else { return };
    make_torrent(&env, 8 << 20);
    let seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let out = disk.path("copy.bin");
    let out = out.to_str().expect("utf-8 path");
    let result = env.get("video.bin.torrent", out, &["--peer", &seed.addr]);
    result.expect_error(2, "not enough space");
    let line = result.stderr_lines().join("\n");
    assert!(line.contains("needs 8.0 MiB more") && line.contains("free"), "{line}");
    assert!(result.events("peer_connected").is_empty(), "nothing was transferred: {result:#?}");
}

#[test]
fn a_filesystem_filling_up_during_a_download_cannot_break_it() {
    let env = TestEnv::new();
    let Some(disk) = SmallDisk::mount(&env, "tight", "12m") else { return };
    make_torrent(&env, 8 << 20);
    let out = disk.path("copy.bin");
    let out_arg = out.to_str().expect("utf-8 path").to_string();
    // The seed will listen on a port chosen now; the download starts first, reserves its
    // space and waits for it, and meanwhile another program fills the disk.
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let peer = format!("127.0.0.1:{port}");
    let get = env.start_get("video.bin.torrent", &out_arg, &["--peer", &peer]);
    let mut get = get;
    get.wait_for_event("started", STARTUP);
    fill(&disk.path("filler"));
    let port = port.to_string();
    let args = ["seed", "video.bin.torrent", "video.bin", "--bind", "127.0.0.1", "-p", &port];
    let mut seed = Running::spawn(env.mt(&[&args[..], &["--json"]].concat()));
    seed.wait_for_event("seeding", STARTUP);
    get.wait(GET_LIMIT).expect_code(0);
    assert_same_file(&env.path("video.bin"), &out);
}
