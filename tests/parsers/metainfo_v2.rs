//! v2 and hybrid `.torrent` files (BEP 52): every torrent `TorrentBuilder` makes in either
//! kind parses back to the same files, pieces roots and piece layers, with the SHA-256 of
//! the raw `info` bytes as its v2 info hash; and mutated ones never panic, while whatever
//! is accepted keeps the v2 promises (every file starts on a piece, every long file's piece
//! layer hashes to its pieces root, a hybrid's pad files are zeros that align the next file).

use mt::merkle::{self, Node};
use mt::metainfo::{FileAttr, FileEntry, MetaVersion, Metainfo, TorrentBuilder};
use proptest::collection::vec;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

use crate::samples::{component, hash_like, paths};
use crate::support::{bounded, config, mutated};

fn node(seed: u64) -> Node {
    let mut out = [0u8; 32];
    out[..20].copy_from_slice(&hash_like(seed));
    out[20..].copy_from_slice(&hash_like(!seed)[..12]);
    out
}

/// Valid v2-only or hybrid torrents: 1 to 6 files (or a single file) of 0 to 100,000
/// bytes in 16 or 32 KiB pieces, with made-up but consistent pieces roots and piece layers.
fn v2_torrent() -> impl Strategy<Value = TorrentBuilder> {
    let shape = prop_oneof![
        (1..=100_000u64).prop_map(|length| vec![(Vec::new(), length)]),
        (paths(), vec(0..=100_000u64, 6)).prop_map(|(mut paths, lengths)| {
            paths.sort();
            paths.into_iter().zip(lengths).collect()
        }),
    ];
    (
        component(),
        shape,
        prop_oneof![Just(16384u32), Just(32768u32)],
        any::<u64>(),
        any::<(bool, bool)>(),
    )
        .prop_map(|(name, shape, piece_length, seed, (hybrid, pad_last))| {
            let mut shape: Vec<(Vec<String>, u64)> = shape;
            // A tree whose only entry is one file at its top is a single-file torrent, so a
            // folder holding one file keeps it in a subfolder.
            if let [(path, _)] = shape.as_mut_slice()
                && path.len() == 1
            {
                path.insert(0, "sub".into());
            }
            if shape.iter().all(|(_, length)| *length == 0) {
                shape[0].1 = 1;
            }
            let count = shape.len();
            let mut files = Vec::new();
            let mut piece_layers = Vec::new();
            for (index, (path, length)) in shape.into_iter().enumerate() {
                let seed = seed ^ (index as u64) << 40;
                let pieces = length.div_ceil(u64::from(piece_length));
                let layer: Vec<Node> = if pieces > 1 {
                    (0..pieces).map(|i| node(seed ^ i)).collect()
                } else {
                    Vec::new()
                };
                let root = match (length, layer.is_empty()) {
                    (0, _) => None,
                    (_, true) => Some(node(seed ^ 0xffff)),
                    (_, false) => Some(merkle::root_from_layer(&layer, piece_length)),
                };
                let single = path.is_empty();
                files.push(FileEntry { pieces_root: root, ..FileEntry::new(path, length) });
                piece_layers.push(layer);
                let rest = length % u64::from(piece_length);
                let last = index + 1 == count;
                if hybrid && rest != 0 && (!last || (pad_last && !single)) {
                    let pad = u64::from(piece_length) - rest;
                    files.push(FileEntry {
                        attr: FileAttr { padding: true, ..FileAttr::default() },
                        ..FileEntry::new(vec![".pad".into(), pad.to_string()], pad)
                    });
                    piece_layers.push(Vec::new());
                }
            }
            let total: u64 = files.iter().map(|f| f.length).sum();
            let pieces = if hybrid {
                (0..total.div_ceil(u64::from(piece_length))).map(|i| hash_like(seed ^ i)).collect()
            } else {
                Vec::new()
            };
            TorrentBuilder {
                name,
                piece_length,
                pieces,
                files,
                version: if hybrid { MetaVersion::Hybrid } else { MetaVersion::V2 },
                piece_layers,
                ..TorrentBuilder::default()
            }
        })
}

/// The promises of an accepted v2 or hybrid torrent.
fn check_v2(meta: &Metainfo) -> Result<(), TestCaseError> {
    if !meta.info.version.has_v2() {
        return Ok(());
    }
    let layout = meta.layout();
    let piece_length = u64::from(meta.info.piece_length);
    prop_assert!(meta.info.piece_length.is_power_of_two() && piece_length >= 16384);
    let v2 = meta.info_hash_v2.expect("a v2 hash");
    prop_assert_eq!(v2.0, <[u8; 32]>::from(Sha256::digest(&meta.raw_info)));
    let mut offset = 0u64;
    for (index, file) in meta.info.files.iter().enumerate() {
        if !file.is_padding() {
            prop_assert_eq!(offset % piece_length, 0, "file {} starts inside a piece", index);
            prop_assert_eq!(file.pieces_root.is_some(), file.length > 0);
            let layer = &meta.piece_layers[index];
            if file.length > piece_length {
                prop_assert_eq!(layer.len() as u64, file.length.div_ceil(piece_length));
                prop_assert_eq!(
                    Some(merkle::root_from_layer(layer, meta.info.piece_length)),
                    file.pieces_root
                );
            }
        }
        prop_assert_eq!(layout.is_virtual(index), file.is_virtual());
        offset += file.length;
    }
    if meta.info.version.has_v1() {
        prop_assert_eq!(meta.info.pieces.len(), layout.piece_count() as usize);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_built_v2_or_hybrid_torrent_parses_back_to_its_files_and_layers(built in v2_torrent()) {
        let bytes = built.to_bytes();
        let meta = Metainfo::from_bytes(&bytes).map_err(TestCaseError::fail)?;
        prop_assert_eq!(meta.info.version, built.version);
        prop_assert_eq!(&meta.raw_info, &built.info_bytes());
        let real = |files: &[FileEntry]| -> Vec<FileEntry> {
            files.iter().filter(|f| !f.is_padding()).cloned().collect()
        };
        prop_assert_eq!(real(&meta.info.files), real(&built.files));
        let layers = |files: &[FileEntry], layers: &[Vec<Node>]| -> Vec<Vec<Node>> {
            files.iter().zip(layers).filter(|(f, _)| !f.is_padding()).map(|(_, l)| l.clone()).collect()
        };
        prop_assert_eq!(layers(&meta.info.files, &meta.piece_layers), layers(&built.files, &built.piece_layers));
        let per_file: u64 = built
            .files
            .iter()
            .filter(|f| !f.is_padding())
            .map(|f| f.length.div_ceil(u64::from(built.piece_length)))
            .sum();
        prop_assert_eq!(u64::from(meta.layout().piece_count()), per_file);
        if built.version == MetaVersion::V2 {
            let v2 = meta.info_hash_v2.expect("v2 hash");
            prop_assert_eq!(meta.info_hash, v2.truncated());
        }
        check_v2(&meta)?;
    }

    #[test]
    fn mutated_v2_and_hybrid_torrents_never_panic_and_keep_their_promises(
        input in mutated(v2_torrent().prop_map(|t| t.to_bytes()))
    ) {
        if let Ok(meta) = bounded("Metainfo::from_bytes", &input, || Metainfo::from_bytes(&input))? {
            check_v2(&meta)?;
        }
    }
}
