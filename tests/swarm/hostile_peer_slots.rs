//! Peers that complete a valid handshake and then sit idle take a peer slot each; the seed
//! keeps at most 128 peers, so when it is full it drops the peer that has been of no use the
//! longest to make room. An honest downloader that comes after hundreds of idle peers is
//! served at once instead of waiting for them to time out. The idle peers are three times the
//! cap, so a cap that did not hold would show in the seed's peer count.

use std::time::{Duration, Instant};

use crate::common::TestEnv;
use crate::common::swarm::assert_same_file;
use crate::support::raw_peer::{RawPeer, peer_id};
use mt::metainfo::Metainfo;

/// 2 MiB and a bit in 32 KiB pieces.
const LEN: usize = 2 * 1024 * 1024 + 777;

#[test]
fn idle_handshaken_peers_do_not_lock_an_honest_downloader_out() {
    const IDLERS: u32 = 400;
    const MAX_PEERS: u64 = 128;
    let env = TestEnv::new();
    env.write_generated("video.bin", LEN, 77);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    let info_hash = Metainfo::load(&env.path("video.bin.torrent")).expect("loads").info_hash;
    let mut seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let started = Instant::now();
    let mut idlers = Vec::new();
    for n in 0..IDLERS {
        let Ok(mut peer) = RawPeer::connect(&seed.addr) else { continue };
        // A valid handshake, each with its own peer id; then nothing.
        if peer.handshake(info_hash, peer_id(n)).is_ok() {
            idlers.push(peer);
        }
        if started.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    eprintln!("{} idle peers completed a handshake", idlers.len());
    // Generous: an unhindered download of this torrent takes well under a second.
    let out = env.get("video.bin.torrent", "copy.bin", &["--peer", &seed.addr, "--timeout", "20"]);
    assert!(seed.process.is_running(), "the seed survives");
    assert_eq!(
        out.code,
        0,
        "with {} idle handshaken peers connected, an honest download from the seed should still \
         complete (the seed should make room, e.g. by dropping peers that are neither \
         interested nor interesting); output: {out:#?}",
        idlers.len()
    );
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
    let most = most_peers(&mut seed, Duration::from_millis(1500));
    eprintln!("the seed held at most {most} peers");
    assert!(most <= MAX_PEERS, "the seed held {most} peers; it keeps at most {MAX_PEERS}");
    for peer in &idlers {
        peer.close();
    }
}

/// The most peers the seed's `stats` lines reported so far (waiting `settle` for more).
fn most_peers(seed: &mut crate::common::swarm::Seed, settle: Duration) -> u64 {
    let lines = seed.process.json_lines_for(settle);
    let counts = lines.iter().filter(|v| v["event"] == "stats").filter_map(|v| v["peers"].as_u64());
    counts.max().expect("the seed printed stats lines")
}
