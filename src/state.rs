//! What mt keeps between runs in this user's state folder: what the first run of a magnet
//! link fetched (its `info` dictionary and piece layers, below `magnets/`, see
//! [`magnets`]), so running the same link again fetches neither, the resume records of
//! [`crate::resume`], below `resume/`, and (kept by [`crate::dht::persist`]) each listen
//! port's DHT node id and routing table.
//!
//! The folder is `MT_STATE_DIR` when set (tests use it), else `$XDG_STATE_HOME/mt`, else
//! `~/.local/state/mt`, created with mode 0700.

pub mod magnets;

use std::path::PathBuf;

/// This user's state folder.
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// The folder for this user (see the module docs), or `None` without a home folder.
    pub fn for_user() -> Option<StateDir> {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let dir = var("MT_STATE_DIR")
            .or_else(|| var("XDG_STATE_HOME").map(|d| d.join("mt")))
            .or_else(|| var("HOME").map(|h| h.join(".local/state/mt")))?;
        Some(StateDir { dir })
    }

    /// The state folder at `dir`.
    pub fn at(dir: PathBuf) -> StateDir {
        StateDir { dir }
    }

    /// The folder itself (it may not exist yet).
    pub fn folder(&self) -> &std::path::Path {
        &self.dir
    }

    /// The kept metadata of magnet links.
    pub fn magnets(&self) -> magnets::MagnetCache {
        magnets::MagnetCache::at(self.dir.join("magnets"))
    }
}
