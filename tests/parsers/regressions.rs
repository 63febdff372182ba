//! Inputs the parser properties found mishandled, each kept as a small input that shows the
//! fault, so the fix can be checked by running this file.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use mt::metainfo::{FileEntry, Metainfo, TorrentBuilder};
use mt::tracker::server::http::parse_query;

/// A valid torrent with one file whose path has `components` parts, all `a`.
fn torrent_with_path_of(components: usize) -> Vec<u8> {
    TorrentBuilder {
        name: "deep".into(),
        piece_length: 16384,
        pieces: vec![[0; 20]],
        files: vec![FileEntry::new(vec!["a".into(); components], 1)],
        ..TorrentBuilder::default()
    }
    .to_bytes()
}

/// Parsing takes time linear in the input: a path of 100,000 components (a 300 KB torrent,
/// well under the 10 MiB a `.torrent` may be) must parse about as fast as a 300 KB torrent
/// with one long path component, which takes under a millisecond. Checking that no file path
/// is also a folder compares every prefix of a path against the path set, which is quadratic
/// in the number of components: 10,000 take 0.17 s, 80,000 take 10 s.
#[test]
fn a_torrent_with_a_long_file_path_parses_in_linear_time() {
    let bytes = torrent_with_path_of(100_000);
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let start = Instant::now();
        let parsed = Metainfo::from_bytes(&bytes).map(|meta| meta.info.files[0].path.len());
        let _ = send.send((parsed, start.elapsed()));
    });
    // A bound on hanging, not a speed test: the quadratic check took about 16 s here.
    let limit = Duration::from_secs(8);
    match receive.recv_timeout(limit) {
        Ok((parsed, took)) => assert_eq!(parsed, Ok(100_000), "took {took:?}"),
        Err(_) => panic!("parsing a {}-component path took over {limit:?}", 100_000),
    }
}

/// RFC 3986 escapes are `%` and two hex digits. `%+1` is not one, yet it decodes to byte 1:
/// the two characters after `%` go to `u8::from_str_radix`, which accepts a leading `+`.
#[test]
fn a_percent_escape_with_a_plus_sign_is_refused() {
    assert_eq!(parse_query(b"%+1"), None);
}
