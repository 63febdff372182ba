//! Hostile `.torrent` files: a corpus of malformed input built in code. Every case must be
//! refused by `Metainfo::from_bytes` without a panic, and by `mt show` with exit 2 and exactly
//! one stderr line starting `mt: invalid torrent`, all within a time bound.

use std::sync::mpsc;
use std::time::Duration;

use crate::common::TestEnv;
use crate::corpus::{
    Case, all_cases, bencode_cases, dict, duplicate_cases, int, length_prefix_cases, list,
    multi_info, nesting_cases, path_cases, piece_cases, single_info, size_cases, text, torrent,
    truncation_cases, wrong_type_cases,
};
use mt::bencode::Value;
use mt::metainfo::Metainfo;

/// Runs `f` on another thread and fails the test if it takes longer than a minute.
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || send.send(f()));
    receive.recv_timeout(Duration::from_secs(60)).expect("finished within the time bound")
}

/// Asserts the library refuses every case, naming any case it accepts or panics on.
fn library_refuses(cases: Vec<Case>) {
    let failures = bounded(move || {
        let mut failures = Vec::new();
        for Case { name, bytes } in &cases {
            match std::panic::catch_unwind(|| Metainfo::from_bytes(bytes)) {
                Ok(Err(_)) => {}
                Ok(Ok(_)) => failures.push(format!("{name}: accepted")),
                Err(_) => failures.push(format!("{name}: panicked")),
            }
        }
        failures
    });
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Asserts `mt show` refuses every case with exit 2 and one `mt: invalid torrent` line.
fn cli_refuses(cases: &[Case]) {
    let env = TestEnv::new();
    for Case { name, bytes } in cases {
        env.write("case.torrent", bytes);
        let out = env.run(&["show", "case.torrent"]);
        let lines = out.stderr_lines();
        let ok = out.code == 2
            && lines.len() == 1
            && lines[0].starts_with("mt: invalid torrent")
            && !out.stderr.contains("panicked");
        assert!(ok, "case {name:?}: {out:#?}");
    }
}

#[test]
fn the_unmodified_corpus_bases_are_valid() {
    for info in [single_info(), multi_info()] {
        Metainfo::from_bytes(&torrent(Value::Dict(info))).expect("base torrent is valid");
    }
}

#[test]
fn truncation_at_every_offset_is_refused() {
    library_refuses(truncation_cases());
}

#[test]
fn wrong_field_types_are_refused() {
    library_refuses(wrong_type_cases());
}

#[test]
fn negative_zero_and_overflowing_sizes_are_refused() {
    library_refuses(size_cases());
}

#[test]
fn piece_hashes_must_be_whole_and_match_the_piece_count() {
    library_refuses(piece_cases());
}

#[test]
fn deep_nesting_is_refused_without_exhausting_the_stack() {
    library_refuses(nesting_cases());
}

#[test]
fn huge_length_prefixes_are_refused_without_allocating() {
    library_refuses(length_prefix_cases());
}

#[test]
fn path_traversal_in_name_and_file_paths_is_refused() {
    library_refuses(path_cases());
}

#[test]
fn duplicate_and_clashing_file_paths_are_refused() {
    library_refuses(duplicate_cases());
}

#[test]
fn malformed_bencode_and_missing_fields_are_refused() {
    library_refuses(bencode_cases());
}

#[test]
fn mt_show_refuses_every_named_case_with_one_invalid_torrent_line() {
    cli_refuses(&all_cases());
}

#[test]
fn mt_show_refuses_truncations_with_one_invalid_torrent_line() {
    let cases = truncation_cases();
    let step = cases.len() / 24;
    cli_refuses(&cases.into_iter().step_by(step.max(1)).collect::<Vec<_>>());
}

#[test]
fn mt_show_refuses_a_torrent_over_the_size_limit() {
    let env = TestEnv::new();
    let limit = usize::try_from(mt::metainfo::MAX_TORRENT_SIZE).expect("fits");
    env.write("huge.torrent", &vec![b'l'; limit + 1]);
    env.run(&["show", "huge.torrent"]).expect_error(2, "invalid torrent huge.torrent");
}

#[test]
fn wrong_types_in_optional_outer_fields_are_ignored() {
    let root = dict([
        ("announce", int(1)),
        ("comment", list([])),
        ("created by", int(2)),
        ("creation date", text("yesterday")),
        ("info", Value::Dict(single_info())),
    ]);
    let meta = Metainfo::from_bytes(&Value::Dict(root).encode()).expect("still a valid torrent");
    assert!(meta.trackers.is_empty() && meta.comment.is_none() && meta.creation_date.is_none());
}
