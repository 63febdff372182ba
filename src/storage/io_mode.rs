//! Which backend serves a torrent's files: shared mappings or `pread`/`pwrite`.
//!
//! `Auto` maps files on local filesystems and uses `pread`/`pwrite` on network and user-space
//! filesystems, where a mapping can fault on a server hiccup and page-ins are slow.

use std::path::Path;

/// How file bytes are accessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IoMode {
    /// Mappings, except on network filesystems, where pread/pwrite is used (default).
    #[default]
    Auto,
    /// Shared memory mappings.
    Mmap,
    /// `pread`/`pwrite` system calls.
    Pread,
}

/// Filesystem magic numbers (statfs `f_type`) of network and user-space filesystems, where a
/// mapping can fault on a server hiccup and page-ins are slow: NFS, SMB/CIFS (three values),
/// FUSE, 9p, AFS, Ceph, Coda.
const NETWORK_FILESYSTEMS: [u32; 9] = [
    0x6969,
    0x517b,
    0xff53_4d42,
    0xfe53_4d42,
    0x6573_5546,
    0x0102_1997,
    0x6b41_4653,
    0x00c3_6400,
    0x7375_7245,
];

impl IoMode {
    /// The backend to use for files under `path`: `Auto` becomes `Pread` on a network
    /// filesystem and `Mmap` elsewhere.
    pub fn resolve(self, path: &Path) -> IoMode {
        if self != IoMode::Auto {
            return self;
        }
        let existing = path.ancestors().find(|p| p.exists() && !p.as_os_str().is_empty());
        let kind = existing.and_then(|p| rustix::fs::statfs(p).ok()).map(|s| s.f_type);
        let network = kind
            .and_then(|kind| u32::try_from(kind).ok())
            .is_some_and(|kind| NETWORK_FILESYSTEMS.contains(&kind));
        if network { IoMode::Pread } else { IoMode::Mmap }
    }
}

impl std::str::FromStr for IoMode {
    type Err = String;
    fn from_str(text: &str) -> Result<IoMode, String> {
        match text {
            "auto" => Ok(IoMode::Auto),
            "mmap" => Ok(IoMode::Mmap),
            "pread" => Ok(IoMode::Pread),
            other => Err(format!("unknown io mode {other:?}; use auto, mmap or pread")),
        }
    }
}
