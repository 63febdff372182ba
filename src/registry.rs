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
        Registry { dir }
    }

    /// A registry in `dir`.
    pub fn at(dir: &Path) -> Registry {
        Registry { dir: dir.to_path_buf() }
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
    use super::*;

    #[test]
    fn entries_appear_and_vanish_and_dead_ones_are_ignored() {
        let dir = tempfile::tempdir().expect("temp dir");
        let registry = Registry::at(dir.path());
        let hash = InfoHash([3; 20]);
        let addr: SocketAddr = "127.0.0.1:7000".parse().expect("addr");
        let stale = dir.path().join(format!("{}.{}", hash.to_hex(), u32::MAX - 1));
        fs::write(&stale, "127.0.0.1:9\n").expect("write");
        // Our own entries are skipped, so register from this process and read it back raw.
        let registration = registry.register(hash, addr).expect("register");
        assert!(registry.lookup(hash).is_empty());
        assert!(!stale.exists());
        let own = dir.path().join(format!("{}.{}", hash.to_hex(), std::process::id()));
        assert_eq!(fs::read_to_string(&own).expect("read"), "127.0.0.1:7000\n");
        drop(registration);
        assert!(!own.exists());
    }
}
