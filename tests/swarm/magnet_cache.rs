//! A second `mt get` of the same v2 or hybrid magnet link (a resume after a kill, say) takes
//! the metadata and the piece layers the first run fetched from the state folder, so it
//! needs no peer to hand them over again; a damaged kept entry is a warning and is fetched
//! again.

use crate::common::swarm::assert_same_file;
use crate::common::{Output, TestEnv};

/// Writes `video.bin` (22 pieces of 32 KiB: a piece layer to fetch) and its torrent made
/// with `kind` (`--v2` or `--hybrid`); returns a magnet link naming only the v2 hash, and
/// the 40 hex digits it is known by on the wire.
fn video(env: &TestEnv, kind: &str) -> (String, String) {
    env.write_generated("video.bin", 700_001, 21);
    env.run(&["create", kind, "-p", "32K", "video.bin"]).expect_code(0);
    let v2 = env.show_json("video.bin.torrent")["info_hash_v2"].as_str().expect("v2").to_string();
    (format!("magnet:?xt=urn:btmh:1220{v2}&dn=video.bin"), v2[..40].to_string())
}

/// Where the `metadata` event says the dictionary and the piece layers came from.
fn sources(out: &Output) -> (String, String) {
    let metadata = out.event("metadata");
    let text = |key: &str| metadata[key].as_str().unwrap_or("none").to_string();
    (text("metadata_from"), text("piece_layers_from"))
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

#[test]
fn a_second_run_of_a_btmh_link_needs_no_peer_for_metadata_or_piece_layers() {
    for kind in ["--v2", "--hybrid"] {
        let env = TestEnv::new();
        let (magnet, _) = video(&env, kind);
        let seed = env.seed("video.bin.torrent", "video.bin", &[]);
        let link = format!("{magnet}&x.pe={}", seed.addr);
        let out = env.get(&link, "copy.bin", &[]);
        out.expect_code(0);
        assert_eq!(sources(&out), pair("peers", "peers"), "{kind}");
        drop(seed);
        // No peer is left: metadata and piece layers must come from the first run.
        let out = env.get(&link, "copy.bin", &["--timeout", "20"]);
        out.expect_code(0);
        assert_eq!(sources(&out), pair("kept", "kept"), "{kind}: {out:#?}");
        assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
    }
}

#[test]
fn damaged_kept_metadata_or_piece_layers_are_fetched_again_with_a_warning() {
    let env = TestEnv::new();
    let (magnet, key) = video(&env, "--v2");
    let seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let link = format!("{magnet}&x.pe={}", seed.addr);
    env.get(&link, "copy.bin", &[]).expect_code(0);
    let layers = format!(".mt-state/magnets/{key}.layers");
    let info = format!(".mt-state/magnets/{key}.info");

    // One hash of the layer changed: the layers no longer prove out to the file's root.
    env.flip_byte(&layers, 100);
    let out = env.get(&link, "copy.bin", &[]);
    out.expect_code(0);
    assert_eq!(sources(&out), pair("kept", "peers"), "{out:#?}");
    assert!(out.stderr.contains("piece layers") && out.stderr.contains("damaged"), "{out:#?}");

    // Not a dictionary at all, and a dictionary of another torrent.
    for damage in [&b"garbage"[..], b"d4:name3:abce"] {
        env.write(&info, damage);
        env.write(&layers, b"garbage");
        let out = env.get(&link, "copy.bin", &[]);
        out.expect_code(0);
        assert_eq!(sources(&out), pair("peers", "peers"), "{out:#?}");
        assert!(out.stderr.contains("kept metadata") && out.stderr.contains("damaged"), "{out:#?}");
    }

    // What was fetched again was kept: the next run needs no peer.
    drop(seed);
    let out = env.get(&link, "copy.bin", &["--timeout", "20"]);
    out.expect_code(0);
    assert_eq!(sources(&out), pair("kept", "kept"), "{out:#?}");
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}
