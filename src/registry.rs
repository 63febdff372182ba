//! Same-host discovery: running sessions record their listen address per info hash.
//!
//! Each running `mt seed` or `mt get` writes one small file `<info-hash>.<pid>` holding its
//! listen address into a per-user runtime folder (`$XDG_RUNTIME_DIR/mt`, else
//! `/tmp/mt-<uid>`), and removes it on exit. Another `mt` on the same host reads the folder to
//! find peers for a torrent without any tracker; nothing leaves the machine. Entries are
//! written atomically (temporary file, fsync, rename), so a reader never sees half an entry,
//! and an entry whose process is gone (killed with `kill -9`) is ignored and cleaned up.

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::types::InfoHash;

/// The registry folder.
#[derive(Clone, Debug)]
pub struct Registry {
    dir: PathBuf,
    uid: u32,
}

impl Registry {
    /// This user's registry: `MT_RUNTIME_DIR` when set (tests use it), else
    /// `$XDG_RUNTIME_DIR/mt`, else `/tmp/mt-<uid>`.
    pub fn for_user() -> Registry {
        let dir = match (std::env::var_os("MT_RUNTIME_DIR"), std::env::var_os("XDG_RUNTIME_DIR")) {
            (Some(dir), _) => PathBuf::from(dir),
            (None, Some(dir)) if Path::new(&dir).is_dir() => PathBuf::from(dir).join("mt"),
            _ => std::env::temp_dir().join(format!("mt-{}", current_uid())),
        };
        Registry { dir, uid: current_uid() }
    }

    /// A registry in `dir`.
    pub fn at(dir: &Path) -> Registry {
        Registry { dir: dir.to_path_buf(), uid: current_uid() }
    }

    /// A registry in `dir` for a process running as `uid`.
    #[cfg(test)]
    fn at_for_uid(dir: &Path, uid: u32) -> Registry {
        Registry { dir: dir.to_path_buf(), uid }
    }

    /// Records `addr` as a peer for `info_hash`. Failure only costs discovery, so the
    /// caller may treat it as a warning.
    pub fn register(&self, info_hash: InfoHash, addr: SocketAddr) -> std::io::Result<Registration> {
        let dir = &self.dir;
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        let name = format!("{}.{}", info_hash.to_hex(), std::process::id());
        let path = dir.join(&name);
        let temp = dir.join(format!(".{name}.tmp"));
        let mut file = fs::File::create(&temp)?;
        writeln!(file, "{addr}")?;
        file.sync_all()?;
        fs::rename(&temp, &path)?;
        Ok(Registration { path })
    }

    /// Listen addresses recorded for `info_hash` by other live processes.
    pub fn lookup(&self, info_hash: InfoHash) -> Vec<SocketAddr> {
        let Ok(entries) = fs::read_dir(&self.dir) else { return Vec::new() };
        let prefix = format!("{}.", info_hash.to_hex());
        let own = std::process::id();
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else { continue };
            let Ok(pid) = pid.parse::<u32>() else { continue };
            if pid == own {
                continue;
            }
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = fs::remove_file(entry.path());
                continue;
            }
            let text = fs::read_to_string(entry.path()).unwrap_or_default();
            if let Ok(addr) = text.trim().parse() {
                found.push(addr);
            }
        }
        found
    }
}

/// A recorded listen address; the entry is removed when this is dropped.
pub struct Registration {
    path: PathBuf,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn current_uid() -> u32 {
    fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};
    use std::process::{Child, Command};

    use super::*;

    const HASH: InfoHash = InfoHash([3; 20]);

    fn addr() -> SocketAddr {
        "127.0.0.1:7000".parse().expect("addr")
    }

    /// A private registry folder inside a temporary folder.
    fn private_dir(parent: &Path) -> PathBuf {
        let dir = parent.join("registry");
        fs::DirBuilder::new().mode(0o700).create(&dir).expect("create registry folder");
        dir
    }

    /// A live process of ours whose pid an entry can name; killed by its pid when dropped.
    struct Live(Child);

    impl Live {
        fn start() -> Live {
            Live(Command::new("sleep").arg("30").spawn().expect("start sleep"))
        }

        fn entry(&self, dir: &Path) -> PathBuf {
            dir.join(format!("{}.{}", HASH.to_hex(), self.0.id()))
        }
    }

    impl Drop for Live {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn entries_appear_and_vanish_and_dead_ones_are_ignored() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = private_dir(temp.path());
        let registry = Registry::at(&dir);
        let stale = dir.join(format!("{}.{}", HASH.to_hex(), u32::MAX - 1));
        fs::write(&stale, "127.0.0.1:9\n").expect("write");
        // Our own entries are skipped, so register from this process and read it back raw.
        let registration = registry.register(HASH, addr()).expect("register");
        assert!(registry.lookup(HASH).is_empty());
        assert!(!stale.exists());
        let own = dir.join(format!("{}.{}", HASH.to_hex(), std::process::id()));
        assert_eq!(fs::read_to_string(&own).expect("read"), "127.0.0.1:7000\n");
        assert_eq!(fs::symlink_metadata(&own).expect("stat").permissions().mode() & 0o777, 0o600);
        drop(registration);
        assert!(!own.exists());
    }

    #[test]
    fn an_entry_of_a_live_process_is_found() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = private_dir(temp.path());
        let live = Live::start();
        fs::write(live.entry(&dir), "127.0.0.1:7001\n").expect("write entry");
        assert_eq!(Registry::at(&dir).lookup(HASH), vec!["127.0.0.1:7001".parse().expect("a")]);
    }

    #[test]
    fn a_folder_anyone_may_write_is_refused() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = private_dir(temp.path());
        let live = Live::start();
        fs::write(live.entry(&dir), "127.0.0.1:7001\n").expect("write entry");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod");
        let registry = Registry::at(&dir);
        assert!(registry.register(HASH, addr()).is_err());
        assert!(registry.lookup(HASH).is_empty());
    }

    #[test]
    fn a_folder_owned_by_another_uid_is_refused() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = private_dir(temp.path());
        let live = Live::start();
        fs::write(live.entry(&dir), "127.0.0.1:7001\n").expect("write entry");
        // The folder belongs to the uid running this test; a process of another uid must
        // not use it.
        let other = current_uid().wrapping_add(1);
        let registry = Registry::at_for_uid(&dir, other);
        assert!(registry.register(HASH, addr()).is_err());
        assert!(registry.lookup(HASH).is_empty());
    }

    #[test]
    fn a_symlink_in_place_of_the_folder_is_refused() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = private_dir(temp.path());
        let link = temp.path().join("link");
        symlink(&dir, &link).expect("symlink");
        let registry = Registry::at(&link);
        assert!(registry.register(HASH, addr()).is_err());
        assert_eq!(fs::read_dir(&dir).expect("list").count(), 0);
    }

    #[test]
    fn a_symlink_planted_at_a_temporary_name_is_not_followed() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = private_dir(temp.path());
        let victim = temp.path().join("victim");
        fs::write(&victim, "precious").expect("write victim");
        let name = format!("{}.{}", HASH.to_hex(), std::process::id());
        symlink(&victim, dir.join(format!(".{name}.tmp"))).expect("plant temp symlink");
        let _registration = Registry::at(&dir).register(HASH, addr());
        assert_eq!(fs::read_to_string(&victim).expect("read victim"), "precious");
    }

    #[test]
    fn a_symlink_planted_at_an_entry_name_is_not_followed() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = private_dir(temp.path());
        let live = Live::start();
        let elsewhere = temp.path().join("elsewhere");
        fs::write(&elsewhere, "127.0.0.1:7002\n").expect("write target");
        symlink(&elsewhere, live.entry(&dir)).expect("plant entry symlink");
        assert!(Registry::at(&dir).lookup(HASH).is_empty());
        // Registering over a planted symlink replaces the link, never writes through it.
        let own = dir.join(format!("{}.{}", HASH.to_hex(), std::process::id()));
        symlink(&elsewhere, &own).expect("plant own symlink");
        let _registration = Registry::at(&dir).register(HASH, addr()).expect("register");
        assert_eq!(fs::read_to_string(&elsewhere).expect("read"), "127.0.0.1:7002\n");
        assert!(fs::symlink_metadata(&own).expect("stat").is_file());
    }

    #[test]
    fn an_oversized_entry_is_ignored() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = private_dir(temp.path());
        let live = Live::start();
        let mut text = String::from("127.0.0.1:7003");
        text.push_str(&" ".repeat(1 << 20));
        text.push('\n');
        fs::write(live.entry(&dir), text).expect("write entry");
        assert!(Registry::at(&dir).lookup(HASH).is_empty());
    }

    #[test]
    fn an_entry_that_is_not_one_usable_address_is_ignored() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = private_dir(temp.path());
        for text in ["0.0.0.0:7004\n", "127.0.0.1:0\n", "127.0.0.1:7004\n127.0.0.1:7005\n"] {
            let live = Live::start();
            fs::write(live.entry(&dir), text).expect("write entry");
            assert!(Registry::at(&dir).lookup(HASH).is_empty(), "{text:?} was accepted");
        }
    }
}
