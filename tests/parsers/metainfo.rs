//! `.torrent` parsing: `Metainfo::from_bytes` never panics and returns quickly on arbitrary
//! bytes, bencode token soups, mutated valid torrents and large torrents; whatever it accepts
//! keeps its promises (safe path components, one hash per piece, the info hash is the SHA-1 of
//! raw bytes found in the input); and every torrent `TorrentBuilder` makes parses back to the
//! same fields, with an info hash that keys outside `info` do not change.

use mt::bencode::{Value, decode, decode_dict_spans};
use mt::metainfo::{Metainfo, TorrentBuilder, check_component};
use proptest::collection::btree_map;
use proptest::prelude::*;
use sha1::{Digest, Sha1};

use crate::samples::{torrent, value};
use crate::support::{
    LARGE_LIMIT, arbitrary_bytes, bencode_soup, bounded, bounded_or_panic, config, mutated,
};

/// Parses `input` within the time bound and checks the promises of an accepted torrent.
fn check(input: &[u8]) -> Result<(), TestCaseError> {
    let Ok(meta) = bounded("Metainfo::from_bytes", input, || Metainfo::from_bytes(input))? else {
        return Ok(());
    };
    let info = &meta.info;
    prop_assert!(check_component(&info.name).is_ok(), "unsafe name {:?}", info.name);
    for file in &info.files {
        for part in &file.path {
            prop_assert!(check_component(part).is_ok(), "unsafe path part {:?}", part);
        }
    }
    prop_assert_eq!(Ok(info.pieces.len()), usize::try_from(meta.layout().piece_count()));
    prop_assert_eq!(info.total_length(), meta.layout().total_length());
    let (_, spans) = decode_dict_spans(input).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let span = spans.get(&b"info"[..]).cloned().unwrap_or_default();
    prop_assert_eq!(&input[span], &meta.raw_info[..]);
    prop_assert_eq!(meta.info_hash.0, <[u8; 20]>::from(Sha1::digest(&meta.raw_info)));
    Ok(())
}

/// Every field `TorrentBuilder` writes, as `Metainfo::from_bytes` must read it back.
fn assert_fields(built: &TorrentBuilder, meta: &Metainfo) -> Result<(), TestCaseError> {
    prop_assert_eq!(&meta.info.name, &built.name);
    prop_assert_eq!(meta.info.piece_length, built.piece_length);
    prop_assert_eq!(&meta.info.pieces, &built.pieces);
    prop_assert_eq!(&meta.info.files, &built.files);
    prop_assert_eq!(meta.info.private, built.private);
    let tiers: Vec<Vec<String>> = built.trackers.iter().map(|url| vec![url.clone()]).collect();
    prop_assert_eq!(&meta.trackers, &tiers);
    prop_assert_eq!(&meta.web_seeds, &built.web_seeds);
    prop_assert_eq!(&meta.comment, &built.comment);
    prop_assert_eq!(meta.creation_date, built.creation_date);
    prop_assert_eq!(&meta.raw_info, &built.info_bytes());
    prop_assert_eq!(meta.info_hash.0, <[u8; 20]>::from(Sha1::digest(built.info_bytes())));
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn metainfo_from_bytes_never_panics_on_arbitrary_bytes(input in arbitrary_bytes()) {
        check(&input)?;
    }

    #[test]
    fn metainfo_from_bytes_never_panics_on_token_soup(input in bencode_soup()) {
        check(&input)?;
    }

    #[test]
    fn metainfo_from_bytes_never_panics_on_mutated_torrents(
        input in mutated(torrent().prop_map(|t| t.to_bytes()))
    ) {
        check(&input)?;
    }

    #[test]
    fn metainfo_built_torrents_round_trip_every_field(built in torrent()) {
        let bytes = built.to_bytes();
        let meta = bounded("Metainfo::from_bytes", &bytes, || Metainfo::from_bytes(&bytes))?;
        let meta = meta.map_err(|e| TestCaseError::fail(format!("valid torrent refused: {e}")))?;
        assert_fields(&built, &meta)?;
    }

    #[test]
    fn metainfo_info_hash_ignores_keys_outside_info(
        built in torrent(),
        extra in btree_map("[a-z ]{1,12}", value(), 1..4),
    ) {
        let Ok(Value::Dict(mut root)) = decode(&built.to_bytes()) else {
            return Err(TestCaseError::fail("a built torrent is a dictionary"));
        };
        let known = ["announce", "announce-list", "comment", "created by", "creation date", "info", "url-list"];
        for (key, v) in extra.into_iter().filter(|(k, _)| !known.contains(&k.as_str())) {
            root.insert(key.into_bytes(), v);
        }
        // The builder writes `info` canonically, so re-encoding the root keeps its bytes.
        let bytes = Value::Dict(root).encode();
        let meta = Metainfo::from_bytes(&bytes)
            .map_err(|e| TestCaseError::fail(format!("valid torrent refused: {e}")))?;
        assert_fields(&built, &meta)?;
    }
}

#[test]
fn metainfo_from_bytes_returns_quickly_on_large_torrents() {
    let single = |name: String, count: usize| TorrentBuilder {
        name,
        piece_length: 1,
        pieces: vec![[7; 20]; count],
        files: vec![mt::metainfo::FileEntry::new(Vec::new(), u64::try_from(count).expect("fits"))],
        ..TorrentBuilder::default()
    };
    let many_files = TorrentBuilder {
        name: "many".into(),
        piece_length: 1 << 20,
        pieces: vec![[1; 20]],
        files: (0..50_000)
            .map(|i| mt::metainfo::FileEntry::new(vec![format!("f{i}")], 1))
            .collect(),
        ..TorrentBuilder::default()
    };
    let many_trackers = TorrentBuilder {
        trackers: (0..50_000).map(|i| format!("http://t{i}.example/")).collect(),
        web_seeds: (0..20_000).map(|i| format!("http://w{i}.example/")).collect(),
        ..single("trackers".into(), 1)
    };
    let cases = [
        ("a long name", single("n".repeat(1 << 20), 1).to_bytes()),
        ("many pieces", single("pieces".into(), 50_000).to_bytes()),
        ("many files", many_files.to_bytes()),
        ("many trackers", many_trackers.to_bytes()),
    ];
    for (name, bytes) in cases {
        let parsed = bounded_or_panic(name, &bytes, LARGE_LIMIT, || Metainfo::from_bytes(&bytes));
        assert!(parsed.is_ok(), "{name}: {:?}", parsed.err());
    }
    for (name, input) in crate::support::large_inputs(1 << 20) {
        bounded_or_panic(name, &input, LARGE_LIMIT, || Metainfo::from_bytes(&input).is_ok());
    }
}
