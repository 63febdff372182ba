//! Same-host discovery: running sessions record their listen address per info hash.
//!
//! Each running `mt seed` or `mt get` writes one small file `<info-hash>.<pid>` holding its
//! listen address into a per-user runtime folder (`$XDG_RUNTIME_DIR/mt`, else
//! `/tmp/mt-<uid>`), and removes it on exit. Another `mt` on the same host reads the folder to
//! find peers for a torrent without any tracker; nothing leaves the machine.
//!
//! Invariants, because the folder may sit in a shared `/tmp`:
//! - the folder is used only when it is a real folder (not a symlink), owned by this process's
//!   uid, with mode 0700; [`Registry::check`] says why otherwise, and every operation refuses;
//! - an entry is written under an unpredictable temporary name opened with
//!   `O_CREAT|O_EXCL|O_NOFOLLOW` and mode 0600, fsynced, then renamed into place, so a reader
//!   never sees half an entry and no planted symlink is ever written through;
//! - an entry is read only when it is a regular file of ours (opened with `O_NOFOLLOW`), at most
//!   [`MAX_ENTRY_BYTES`] long, naming a live process of ours and holding exactly one address
//!   with a port; anything else is ignored, and an entry whose process is gone is removed.

use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::types::InfoHash;

/// The longest entry read; an address with brackets, scope and port fits in 64 bytes.
pub const MAX_ENTRY_BYTES: u64 = 128;

/// The most addresses one lookup returns.
const MAX_FOUND: usize = 256;

/// Why the registry folder is not used.
#[derive(Debug)]
pub struct RegistryError {
    /// The folder.
    pub dir: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "same-host registry {}: {}", self.dir.display(), self.reason)
    }
}

impl std::error::Error for RegistryError {}

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
        let uid = current_uid().unwrap_or(u32::MAX);
        let dir = match (std::env::var_os("MT_RUNTIME_DIR"), std::env::var_os("XDG_RUNTIME_DIR")) {
            (Some(dir), _) => PathBuf::from(dir),
            (None, Some(dir)) if Path::new(&dir).is_dir() => PathBuf::from(dir).join("mt"),
            _ => std::env::temp_dir().join(format!("mt-{uid}")),
        };
        Registry { dir, uid }
    }

    /// A registry in `dir`.
    pub fn at(dir: &Path) -> Registry {
        Registry { dir: dir.to_path_buf(), uid: current_uid().unwrap_or(u32::MAX) }
    }

    /// A registry in `dir` for a process running as `uid`.
    #[cfg(test)]
    fn at_for_uid(dir: &Path, uid: u32) -> Registry {
        Registry { dir: dir.to_path_buf(), uid }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the folder (mode 0700) when it is missing, then checks that it is a real
    /// folder, ours, that nobody else may enter. Callers warn and go on without the registry
    /// when this fails.
    pub fn check(&self) -> Result<(), RegistryError> {
        let refuse = |reason: String| RegistryError { dir: self.dir.clone(), reason };
        if self.uid == u32::MAX {
            return Err(refuse("cannot tell which user this process runs as".into()));
        }
        if fs::symlink_metadata(&self.dir).is_err() {
            if let Some(parent) = self.dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).map_err(|e| {
                    refuse(format!("cannot create: {}", crate::error::lower_io(&e)))
                })?;
            }
            // Not recursive: if someone else made it meanwhile, the checks below see theirs.
            let _ = fs::DirBuilder::new().mode(0o700).create(&self.dir);
        }
        let meta = fs::symlink_metadata(&self.dir)
            .map_err(|e| refuse(format!("cannot read: {}", crate::error::lower_io(&e))))?;
        if meta.file_type().is_symlink() {
            return Err(refuse("is a symlink, not a folder".into()));
        }
        if !meta.is_dir() {
            return Err(refuse("is not a folder".into()));
        }
        if meta.uid() != self.uid {
            return Err(refuse(format!("is owned by uid {}, not by uid {}", meta.uid(), self.uid)));
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(refuse(format!("has mode {mode:04o}; only its owner may use it (0700)")));
        }
        Ok(())
    }

    /// Records `addr` as a peer for `info_hash`. Failure only costs discovery, so the
    /// caller may treat it as a warning.
    pub fn register(&self, info_hash: InfoHash, addr: SocketAddr) -> io::Result<Registration> {
        self.check().map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e))?;
        let name = format!("{}.{}", info_hash.to_hex(), std::process::id());
        let path = self.dir.join(&name);
        let (temp, mut file) = self.create_temporary(&name)?;
        let written = writeln!(file, "{addr}").and_then(|()| file.sync_all());
        let renamed = written.and_then(|()| fs::rename(&temp, &path));
        if let Err(err) = renamed {
            let _ = fs::remove_file(&temp);
            return Err(err);
        }
        Ok(Registration { path })
    }

    /// Opens a new file under an unpredictable name that did not exist (never through a
    /// symlink), readable by us only.
    fn create_temporary(&self, name: &str) -> io::Result<(PathBuf, fs::File)> {
        let mut last = io::Error::other("no temporary name was free");
        for _ in 0..16 {
            let temp = self.dir.join(format!(".{name}.{:016x}.tmp", unpredictable()));
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&temp)
            {
                Ok(file) => return Ok((temp, file)),
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => last = err,
                Err(err) => return Err(err),
            }
        }
        Err(last)
    }

    /// Listen addresses recorded for `info_hash` by other live processes of ours.
    pub fn lookup(&self, info_hash: InfoHash) -> Vec<SocketAddr> {
        if self.check().is_err() {
            return Vec::new();
        }
        let Ok(entries) = fs::read_dir(&self.dir) else { return Vec::new() };
        let prefix = format!("{}.", info_hash.to_hex());
        let own = std::process::id();
        let mut found = Vec::new();
        for entry in entries.flatten() {
            if found.len() >= MAX_FOUND {
                break;
            }
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else { continue };
            if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let Ok(pid) = pid.parse::<u32>() else { continue };
            if pid == own {
                continue;
            }
            match fs::metadata(format!("/proc/{pid}")) {
                Err(_) => {
                    let _ = fs::remove_file(entry.path());
                    continue;
                }
                Ok(process) if process.uid() != self.uid => continue,
                Ok(_) => {}
            }
            if let Some(addr) = self.read_entry(&entry.path()) {
                found.push(addr);
            }
        }
        found
    }

    /// The one address in an entry that passes every check in the module docs.
    fn read_entry(&self, path: &Path) -> Option<SocketAddr> {
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .ok()?;
        let meta = file.metadata().ok()?;
        if !meta.is_file() || meta.uid() != self.uid || meta.len() > MAX_ENTRY_BYTES {
            return None;
        }
        let mut text = String::new();
        file.take(MAX_ENTRY_BYTES + 1).read_to_string(&mut text).ok()?;
        if u64::try_from(text.len()).ok()? > MAX_ENTRY_BYTES {
            return None;
        }
        let line = text.strip_suffix('\n').unwrap_or(&text);
        let addr: SocketAddr = line.parse().ok()?;
        let usable = addr.port() != 0 && !addr.ip().is_unspecified() && !addr.ip().is_multicast();
        usable.then_some(addr)
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

/// The uid this process runs as (the owner of its `/proc` folder), if it can be told.
fn current_uid() -> Option<u32> {
    fs::metadata("/proc/self").map(|m| m.uid()).ok()
}

/// 64 bits nobody else can guess: the standard library seeds `RandomState` from the
/// operating system's random source.
fn unpredictable() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
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
        let other = current_uid().expect("uid").wrapping_add(1);
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
