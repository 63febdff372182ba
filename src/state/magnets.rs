//! What a magnet link's first `mt get` fetched, kept for the next run of the same link: the
//! `info` dictionary, and for a v2 or hybrid torrent the piece layers, which its metadata
//! lacks. A resume after a kill then needs no peer to hand them over again.
//!
//! Entries live in the state folder's `magnets/` folder, named by the 20-byte hash the link
//! is known by on the wire (its v1 hash, or its v2 hash truncated): `<hash>.info` holds the
//! raw dictionary, `<hash>.layers` the bencoded `piece layers` dictionary (pieces root →
//! concatenated hashes), each written to a temporary name and renamed into place. Nothing
//! read back is trusted: the caller checks the dictionary against the link's hashes and the
//! layers against the files' roots, and a [`Kept::Damaged`] entry is fetched again. Reads
//! stop at the torrent size limit. The folder is bounded: after each save the entries used
//! least recently (a read counts as a use) are removed until at most [`MAX_ENTRIES`] links
//! and [`MAX_BYTES`] remain.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::bencode::{self, Value};
use crate::create::write_atomically;
use crate::merkle::Node;
use crate::metainfo::MAX_TORRENT_SIZE;
use crate::types::InfoHash;

/// Most magnet links whose metadata is kept.
pub const MAX_ENTRIES: usize = 64;
/// Most bytes the kept metadata and piece layers take together.
pub const MAX_BYTES: u64 = 64 << 20;

/// One file's piece layer: its `pieces root` and the hashes of its pieces.
pub type PieceLayer = (Node, Vec<Node>);

/// What the folder holds for a link.
#[derive(Debug, PartialEq, Eq)]
pub enum Kept<T> {
    /// Nothing.
    Absent,
    /// This, read back.
    Found(T),
    /// Something that cannot be used, and why.
    Damaged(String),
}

/// The kept metadata of magnet links, in `dir`.
pub struct MagnetCache {
    dir: PathBuf,
}

impl MagnetCache {
    /// The cache in `dir` (it may not exist yet).
    pub fn at(dir: PathBuf) -> MagnetCache {
        MagnetCache { dir }
    }

    /// The kept `info` dictionary of `key`, if `accept` (a check against the link's hashes)
    /// takes it.
    pub fn load_info(&self, key: InfoHash, accept: impl Fn(&[u8]) -> bool) -> Kept<Vec<u8>> {
        match self.read(&self.path(key, "info")) {
            Kept::Found(bytes) if accept(&bytes) => Kept::Found(bytes),
            Kept::Found(_) => Kept::Damaged("it does not match the link's info hash".into()),
            other => other,
        }
    }

    /// Keeps the `info` dictionary of `key`.
    pub fn save_info(&self, key: InfoHash, info: &[u8]) -> io::Result<()> {
        self.save(key, "info", info)
    }

    /// The kept piece layers of `key`, as pieces root and hashes; whether they prove out to
    /// the roots is the caller's to check.
    pub fn load_layers(&self, key: InfoHash) -> Kept<Vec<PieceLayer>> {
        match self.read(&self.path(key, "layers")) {
            Kept::Found(bytes) => match decode_layers(&bytes) {
                Ok(layers) => Kept::Found(layers),
                Err(reason) => Kept::Damaged(reason),
            },
            Kept::Absent => Kept::Absent,
            Kept::Damaged(reason) => Kept::Damaged(reason),
        }
    }

    /// Keeps the piece layers of `key`.
    pub fn save_layers(&self, key: InfoHash, layers: &[PieceLayer]) -> io::Result<()> {
        self.save(key, "layers", &encode_layers(layers))
    }

    fn path(&self, key: InfoHash, kind: &str) -> PathBuf {
        self.dir.join(format!("{}.{kind}", key.to_hex()))
    }

    /// Reads a kept file (at most the torrent size limit) and marks it used.
    fn read(&self, path: &Path) -> Kept<Vec<u8>> {
        let file = match fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Kept::Absent,
            Err(e) => return Kept::Damaged(crate::error::lower_io(&e)),
        };
        let mut bytes = Vec::new();
        if let Err(e) = (&file).take(MAX_TORRENT_SIZE + 1).read_to_end(&mut bytes) {
            return Kept::Damaged(crate::error::lower_io(&e));
        }
        if bytes.len() as u64 > MAX_TORRENT_SIZE {
            return Kept::Damaged(format!("it is larger than {MAX_TORRENT_SIZE} bytes"));
        }
        let _ = file.set_modified(SystemTime::now());
        Kept::Found(bytes)
    }

    fn save(&self, key: InfoHash, kind: &str, bytes: &[u8]) -> io::Result<()> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir)?;
        write_atomically(&self.path(key, kind), bytes, true)
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.prune(key);
        Ok(())
    }

    /// Removes the links used least recently until the bounds hold; never `keep`.
    fn prune(&self, keep: InfoHash) {
        let Ok(listing) = fs::read_dir(&self.dir) else { return };
        // Per link: the latest use of its files, their bytes and their paths.
        let mut links: Vec<(String, SystemTime, u64, Vec<PathBuf>)> = Vec::new();
        for entry in listing.flatten() {
            let path = entry.path();
            let Some(stem) = kept_stem(&path) else { continue };
            let Ok(meta) = entry.metadata() else { continue };
            let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            match links.iter_mut().find(|link| link.0 == stem) {
                Some(link) => {
                    link.1 = link.1.max(used);
                    link.2 += meta.len();
                    link.3.push(path);
                }
                None => links.push((stem, used, meta.len(), vec![path])),
            }
        }
        links.sort_by_key(|link| std::cmp::Reverse(link.1));
        let keep = keep.to_hex();
        let (mut count, mut bytes) = (0usize, 0u64);
        for (stem, _, size, paths) in links {
            count += 1;
            bytes = bytes.saturating_add(size);
            if stem != keep && (count > MAX_ENTRIES || bytes > MAX_BYTES) {
                paths.iter().for_each(|path| drop(fs::remove_file(path)));
                count -= 1;
                bytes -= size;
            }
        }
    }
}

/// The hash a kept file belongs to: `<40 hex>.info` or `<40 hex>.layers`; `None` for any
/// other name (temporary files included).
fn kept_stem(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let (stem, kind) = name.split_once('.')?;
    let hex = stem.len() == 40 && stem.bytes().all(|b| b.is_ascii_hexdigit());
    (hex && matches!(kind, "info" | "layers")).then(|| stem.to_string())
}

fn encode_layers(layers: &[PieceLayer]) -> Vec<u8> {
    let dict = layers.iter().map(|(root, layer)| (root.to_vec(), Value::Bytes(layer.concat())));
    Value::Dict(dict.collect()).encode()
}

fn decode_layers(bytes: &[u8]) -> Result<Vec<PieceLayer>, String> {
    let value = bencode::decode(bytes).map_err(|e| format!("it is not bencoded: {e}"))?;
    let dict = value.as_dict().ok_or("it is not a dictionary")?;
    let mut layers = Vec::with_capacity(dict.len());
    for (root, layer) in dict.iter() {
        let root: Node = root.as_slice().try_into().map_err(|_| "a root is not 32 bytes")?;
        let layer = layer.as_bytes().ok_or("a layer is not a string")?;
        if layer.is_empty() || layer.len() % 32 != 0 {
            return Err("a layer is not a whole number of hashes".into());
        }
        let nodes = layer.chunks_exact(32).filter_map(|hash| hash.try_into().ok()).collect();
        layers.push((root, nodes));
    }
    Ok(layers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> InfoHash {
        InfoHash([n; 20])
    }

    fn cache() -> (tempfile::TempDir, MagnetCache) {
        let folder = tempfile::tempdir().expect("temp folder");
        let cache = MagnetCache::at(folder.path().join("magnets"));
        (folder, cache)
    }

    #[test]
    fn a_kept_dictionary_comes_back_only_while_the_check_takes_it() {
        let (_folder, cache) = cache();
        assert_eq!(cache.load_info(hash(1), |_| true), Kept::Absent);
        cache.save_info(hash(1), b"d4:name3:abce").expect("save");
        assert_eq!(cache.load_info(hash(1), |_| true), Kept::Found(b"d4:name3:abce".to_vec()));
        assert!(matches!(cache.load_info(hash(1), |_| false), Kept::Damaged(_)));
    }

    #[test]
    fn piece_layers_come_back_as_they_were_kept_and_damage_is_named() {
        let (_folder, cache) = cache();
        let layers = vec![([1; 32], vec![[2; 32], [3; 32]]), ([4; 32], vec![[5; 32]; 3])];
        cache.save_layers(hash(2), &layers).expect("save");
        let Kept::Found(mut back) = cache.load_layers(hash(2)) else { panic!("kept") };
        back.sort();
        assert_eq!(back, layers);
        let path = cache.path(hash(2), "layers");
        for (bytes, why) in [
            (&b"d32:"[..], "not bencoded"),
            (b"le", "not a dictionary"),
            (b"d3:abc1:xe", "not 32 bytes"),
        ] {
            fs::write(&path, bytes).expect("damage");
            let Kept::Damaged(reason) = cache.load_layers(hash(2)) else { panic!("damaged") };
            assert!(reason.contains(why), "{reason}");
        }
        let mut ragged = b"d32:".to_vec();
        ragged.extend_from_slice(&[1; 32]);
        ragged.extend_from_slice(b"33:");
        ragged.extend_from_slice(&[2; 33]);
        ragged.push(b'e');
        fs::write(&path, ragged).expect("damage");
        assert!(matches!(cache.load_layers(hash(2)), Kept::Damaged(r) if r.contains("whole")));
    }

    #[test]
    fn the_links_used_least_recently_go_first_when_there_are_too_many() {
        let (_folder, cache) = cache();
        let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        for n in 0..MAX_ENTRIES {
            let key = hash(u8::try_from(n).expect("small"));
            cache.save_info(key, b"de").expect("save");
            let at = old + std::time::Duration::from_secs(u64::try_from(n).expect("small"));
            let file = fs::File::options().write(true).open(cache.path(key, "info")).expect("open");
            file.set_modified(at).expect("age it");
        }
        // Reading the oldest makes it the most recently used.
        assert!(matches!(cache.load_info(hash(0), |_| true), Kept::Found(_)));
        cache.save_info(hash(200), b"de").expect("save one more");
        assert!(matches!(cache.load_info(hash(200), |_| true), Kept::Found(_)));
        assert!(matches!(cache.load_info(hash(0), |_| true), Kept::Found(_)));
        assert_eq!(cache.load_info(hash(1), |_| true), Kept::Absent, "the least recent went");
        let kept = fs::read_dir(&cache.dir).expect("list").count();
        assert_eq!(kept, MAX_ENTRIES);
    }

    #[test]
    fn only_kept_files_are_counted_or_removed() {
        assert_eq!(
            kept_stem(Path::new("x/0123456789abcdef0123456789abcdef01234567.info")).as_deref(),
            Some("0123456789abcdef0123456789abcdef01234567")
        );
        assert_eq!(kept_stem(Path::new("x/0123456789abcdef0123456789abcdef01234567.tmp")), None);
        assert_eq!(kept_stem(Path::new("x/notes.info")), None);
    }
}
