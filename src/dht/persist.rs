//! The node id and routing table kept between runs: one file per listen port in the state
//! folder, `dht-<port>.table`, guarded by `dht-<port>.lock`.
//!
//! The lock is an advisory `flock` held for the node's whole life, so two processes never
//! run with one id (a second process on the same port number, bound to another address,
//! gets a fresh id and saves nothing). The table file is written to a temporary name and
//! renamed; reading it is bounded ([`MAX_FILE`]) and goes through the same checks as a
//! network message, so a damaged file costs only a fresh start.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::id::NodeId;
use super::krpc::{NodeInfo, compact_nodes, parse_nodes};
use crate::bencode::{self, Value};
use crate::create::write_atomically;

/// Largest table file read.
pub const MAX_FILE: u64 = 64 << 10;

/// What is saved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Saved {
    /// Our id.
    pub id: NodeId,
    /// The nodes of the table.
    pub nodes: Vec<NodeInfo>,
}

/// The held lock and the file it guards.
pub struct TableFile {
    path: PathBuf,
    _lock: File,
}

impl TableFile {
    /// Takes the lock for `port` in `dir`; `None` when another process holds it or the
    /// folder cannot be made.
    pub fn lock(dir: &Path, port: u16) -> io::Result<Option<TableFile>> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("dht-{port}.lock")))?;
        match lock.try_lock() {
            Ok(()) => {
                Ok(Some(TableFile { path: dir.join(format!("dht-{port}.table")), _lock: lock }))
            }
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// The saved table, if there is a readable one.
    pub fn load(&self) -> Option<Saved> {
        let mut bytes = Vec::new();
        File::open(&self.path).ok()?.take(MAX_FILE).read_to_end(&mut bytes).ok()?;
        let value = bencode::decode(&bytes).ok()?;
        let id = NodeId(value.get("id")?.as_bytes()?.try_into().ok()?);
        let mut nodes = Vec::new();
        if let Some(compact) = value.get("nodes").and_then(Value::as_bytes) {
            nodes.extend(parse_all(compact, 4));
        }
        if let Some(compact) = value.get("nodes6").and_then(Value::as_bytes) {
            nodes.extend(parse_all(compact, 16));
        }
        Some(Saved { id, nodes })
    }

    /// Saves the table.
    pub fn save(&self, saved: &Saved) -> Result<(), crate::Error> {
        let (v4, v6): (Vec<NodeInfo>, Vec<NodeInfo>) =
            saved.nodes.iter().partition(|n| n.addr.is_ipv4());
        let value = bencode::dict([
            ("id", Value::bytes(saved.id.0)),
            ("nodes", Value::Bytes(compact_nodes(&v4))),
            ("nodes6", Value::Bytes(compact_nodes(&v6))),
        ]);
        write_atomically(&self.path, &value.encode(), true)
    }
}

/// Every whole entry of a compact node list (the network parser stops at 64).
fn parse_all(bytes: &[u8], ip_len: usize) -> Vec<NodeInfo> {
    let entry = 20 + ip_len + 2;
    bytes.chunks_exact(entry).filter_map(|chunk| parse_nodes(chunk, ip_len).ok()?.pop()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn a_table_survives_a_save_and_the_lock_is_exclusive() {
        let folder = tempfile::tempdir().expect("temp folder");
        let dir = folder.path().join("state");
        let file = TableFile::lock(&dir, 6881).expect("lock").expect("free");
        assert!(file.load().is_none());
        let nodes: Vec<NodeInfo> = (0..300u16)
            .map(|n| NodeInfo {
                id: NodeId::random(),
                addr: SocketAddr::from(([127, 0, 0, 1], 1000 + n)),
            })
            .chain([NodeInfo { id: NodeId::random(), addr: "[::1]:7".parse().expect("addr") }])
            .collect();
        let saved = Saved { id: NodeId::random(), nodes };
        file.save(&saved).expect("save");
        assert_eq!(file.load(), Some(saved));
        assert!(TableFile::lock(&dir, 6881).expect("lock").is_none(), "held by the first");
        assert!(TableFile::lock(&dir, 6882).expect("lock").is_some(), "another port is free");
        drop(file);
        let again = TableFile::lock(&dir, 6881).expect("lock").expect("free again");
        fs::write(&again.path, b"d2:id3:abce").expect("damage");
        assert!(again.load().is_none());
    }
}
