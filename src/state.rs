//! What mt keeps between runs in this user's state folder: the `info` dictionaries fetched
//! for magnet links, so running the same magnet command again fetches no metadata, the
//! resume records of [`crate::resume`], below `resume/`, and (kept by
//! [`crate::dht::persist`]) each listen port's DHT node id and routing table.
//!
//! The folder is `MT_STATE_DIR` when set (tests use it), else `$XDG_STATE_HOME/mt`, else
//! `~/.local/state/mt`, created with mode 0700. Each dictionary is `<info hash>.info`,
//! written to a temporary name and renamed into place. A stored dictionary is trusted only
//! if its SHA-1 is still the info hash, and is read only up to the metadata size limit.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use sha1::{Digest, Sha1};

use crate::create::write_atomically;
use crate::types::InfoHash;
use crate::wire::metadata::MAX_METADATA_SIZE;

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

    /// The stored `info` dictionary of `info_hash`, if there is one that still matches it.
    pub fn load_info(&self, info_hash: InfoHash) -> Option<Vec<u8>> {
        let file = fs::File::open(self.info_path(info_hash)).ok()?;
        let mut bytes = Vec::new();
        file.take(MAX_METADATA_SIZE + 1).read_to_end(&mut bytes).ok()?;
        let digest: [u8; 20] = Sha1::digest(&bytes).into();
        (InfoHash(digest) == info_hash).then_some(bytes)
    }

    /// Stores the `info` dictionary of `info_hash`.
    pub fn save_info(&self, info_hash: InfoHash, info: &[u8]) -> io::Result<()> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir)?;
        write_atomically(&self.info_path(info_hash), info, true)
            .map_err(|e| io::Error::other(e.to_string()))
    }

    fn info_path(&self, info_hash: InfoHash) -> PathBuf {
        self.dir.join(format!("{}.info", info_hash.to_hex()))
    }
}

#[cfg(test)]
mod tests {
    use super::StateDir;
    use crate::types::InfoHash;
    use sha1::{Digest, Sha1};

    #[test]
    fn a_stored_dictionary_comes_back_only_while_it_matches_its_hash() {
        let folder = tempfile::tempdir().expect("temp folder");
        let state = StateDir { dir: folder.path().join("state") };
        let info = b"d4:name3:abce".to_vec();
        let hash = InfoHash(Sha1::digest(&info).into());
        assert_eq!(state.load_info(hash), None);
        state.save_info(hash, &info).expect("save");
        assert_eq!(state.load_info(hash), Some(info));
        std::fs::write(state.info_path(hash), b"d4:name3:xyze").expect("tamper");
        assert_eq!(state.load_info(hash), None);
    }
}
