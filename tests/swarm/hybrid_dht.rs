//! A hybrid torrent's seed is found through the DHT by either of its hashes (BEP 52: the
//! v1 hash and the v2 hash truncated to 20 bytes), so a magnet link that names only the v2
//! hash downloads through the DHT alone.

use crate::common::TestEnv;
use crate::common::swarm::assert_same_file;
use crate::dht::Testnet;

fn has_peer(found: &serde_json::Value, addr: &str) -> bool {
    found["peers"].as_array().is_some_and(|peers| peers.iter().any(|p| p == addr))
}

#[test]
fn a_hybrid_seed_is_found_through_the_dht_by_either_hash() {
    let env = TestEnv::new();
    let net = Testnet::start(&env, 12);
    env.write_generated("video.bin", 3 * 1024 * 1024 + 77, 41);
    env.run(&["create", "--hybrid", "-p", "64K", "video.bin"]).expect_code(0);
    let shown = env.show_json("video.bin.torrent");
    let v1 = shown["info_hash"].as_str().expect("v1 hash").to_string();
    let v2 = shown["info_hash_v2"].as_str().expect("v2 hash").to_string();
    let seed = env.seed_alone("video.bin.torrent", "video.bin", &["--dht-bootstrap", &net.root]);
    net.get_peers_until(&env, &v1, |found| has_peer(found, &seed.addr));
    net.get_peers_until(&env, &v2[..40], |found| has_peer(found, &seed.addr));
    let magnet = format!("magnet:?xt=urn:btmh:1220{v2}");
    let out = env.get(&magnet, "copy.bin", &["--dht-bootstrap", &net.root]);
    out.expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}
