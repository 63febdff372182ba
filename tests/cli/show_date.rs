//! `mt show` prints a torrent's creation date as a UTC date and time; `--json` keeps the
//! number the torrent holds.

use crate::common::TestEnv;

/// A minimal single-file torrent whose `creation date` is `date`.
fn torrent_created_at(env: &TestEnv, date: i64) {
    let mut bytes = format!("d13:creation datei{date}e4:infod6:lengthi5e4:name1:f").into_bytes();
    bytes.extend_from_slice(b"12:piece lengthi16384e6:pieces20:");
    bytes.extend_from_slice(&[7; 20]);
    bytes.extend_from_slice(b"ee");
    env.write("dated.torrent", &bytes);
}

fn created_line(date: i64) -> String {
    let env = TestEnv::new();
    torrent_created_at(&env, date);
    let out = env.run(&["show", "dated.torrent"]);
    let text = &out.expect_code(0).stdout;
    let line = text.lines().find(|l| l.starts_with("created  "));
    line.unwrap_or_else(|| panic!("no created line: {text}")).to_string()
}

#[test]
fn show_prints_the_creation_date_in_utc() {
    assert_eq!(created_line(1_796_162_400), "created       2026-12-01 22:00:00 UTC");
}

#[test]
fn show_prints_a_leap_day_and_the_epoch() {
    assert_eq!(created_line(951_786_123), "created       2000-02-29 01:02:03 UTC");
    assert_eq!(created_line(0), "created       1970-01-01 00:00:00 UTC");
    assert_eq!(created_line(-1), "created       1969-12-31 23:59:59 UTC");
    assert_eq!(created_line(253_402_300_799), "created       9999-12-31 23:59:59 UTC");
}

#[test]
fn show_json_keeps_the_creation_date_as_a_number() {
    let env = TestEnv::new();
    torrent_created_at(&env, 1_796_162_400);
    assert_eq!(env.show_json("dated.torrent")["creation_date"], 1_796_162_400);
}
