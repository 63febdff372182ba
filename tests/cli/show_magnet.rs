//! `mt show '<magnet>'`: what a magnet link says, as text and as one JSON object, and one
//! clear error with exit code 2 for a malformed link.

use crate::common::TestEnv;
use serde_json::json;

const HASH: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

fn link() -> String {
    format!(
        "magnet:?xt=urn:btih:{HASH}&dn=My+Album&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce\
         &tr=udp://127.0.0.1:6970&x.pe=127.0.0.1:6881&ws=http://127.0.0.1/f&zz=ignored"
    )
}

#[test]
fn show_json_reports_what_a_magnet_link_says() {
    let env = TestEnv::new();
    let shown = env.run(&["show", &link(), "--json"]);
    shown.expect_code(0);
    let shown = shown.json();
    assert_eq!(shown["info_hash"], HASH);
    assert_eq!(shown["name"], "My Album");
    assert_eq!(
        shown["trackers"],
        json!(["http://127.0.0.1:6969/announce", "udp://127.0.0.1:6970"])
    );
    assert_eq!(shown["peers"], json!(["127.0.0.1:6881"]));
    assert_eq!(shown["web_seeds"], json!(["http://127.0.0.1/f"]));
    let again = env.run(&["show", shown["magnet"].as_str().expect("magnet"), "--json"]);
    assert_eq!(again.expect_code(0).json(), shown);
}

#[test]
fn show_prints_a_magnet_links_hash_name_trackers_and_peers() {
    let env = TestEnv::new();
    let out = env.run(&["show", &link()]);
    out.expect_code(0);
    assert!(out.stdout.contains(&format!("info hash     {HASH}")), "{out:#?}");
    assert!(out.stdout.contains("name          My Album"), "{out:#?}");
    assert!(out.stdout.contains("tracker       udp://127.0.0.1:6970"), "{out:#?}");
    assert!(out.stdout.contains("peer          127.0.0.1:6881"), "{out:#?}");
}

#[test]
fn show_refuses_a_malformed_magnet_link_with_exit_2() {
    let env = TestEnv::new();
    let cases = [
        ("magnet:?dn=x", "no xt=urn:btih:"),
        ("magnet:?xt=urn:btih:1234", "neither 40 hex nor 32 base32"),
        (&*format!("magnet:?xt=urn:btih:{HASH}&x.pe=127.0.0.1:0"), "not HOST:PORT"),
    ];
    for (text, needle) in cases {
        let out = env.run(&["show", text]);
        out.expect_error(2, needle);
        assert!(out.stderr.contains("invalid magnet link"), "{out:#?}");
    }
}
