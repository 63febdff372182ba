//! Transfers between `mt` and Transmission 3.00 on loopback, in both directions, found through
//! an `mt tracker` process. What arrives is byte for byte what was seeded.
//!
//! Transmission runs as `transmission-daemon -f` with a config folder of its own inside the
//! test's folder, bound to 127.0.0.1 with its RPC on a free port, and DHT, local peer
//! discovery, peer exchange, uTP and port forwarding off; `transmission-remote` drives it, and
//! the daemon is killed by its pid when the test ends. Without those two programs these tests
//! fail under `CI=true` and are skipped loudly otherwise.
//!
//! Two habits of Transmission 3.00 shape these tests. It never dials 127.x peers it learns
//! from a tracker, so `mt seed` must dial it, which it does for every downloader the tracker
//! names. And it decides whom it is interested in only at its ten-second rechoke, so a
//! download from `mt` starts about ten seconds after the two have connected. It also keeps one
//! record per IP address, not per address and port: once a peer on 127.0.0.1 is known to be a
//! seed, a seeding Transmission drops every later connection from 127.0.0.1 as another seed.
//! Each test therefore starts its own daemon.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::process::Running;
use crate::common::swarm::{GET_LIMIT, STARTUP, TrackerProcess, assert_same_file, free_port};
use crate::common::{Output, TestEnv, require_tool, run_bounded};

/// 3 MB and a bit in 32 KiB pieces.
const LEN: usize = 3_000_017;

/// How long Transmission may take to finish checking or downloading the torrent.
const TRANSFER_LIMIT: Duration = Duration::from_secs(50);

/// A running `transmission-daemon`, killed by its pid when dropped.
struct Transmission {
    _daemon: Running,
    rpc: String,
}

impl Transmission {
    /// Starts a daemon whose config folder is `config` and which saves under `download_dir`
    /// (both relative to the env), and waits until its RPC answers.
    fn start(env: &TestEnv, config: &str, download_dir: &str) -> Transmission {
        let rpc_port = free_port();
        let settings = json!({
            "bind-address-ipv4": "127.0.0.1",
            "bind-address-ipv6": "::1",
            "peer-port": free_port(),
            "peer-port-random-on-start": false,
            "port-forwarding-enabled": false,
            "dht-enabled": false,
            "lpd-enabled": false,
            "pex-enabled": false,
            "utp-enabled": false,
            "rpc-bind-address": "127.0.0.1",
            "rpc-port": rpc_port,
            "rpc-authentication-required": false,
            "rpc-whitelist-enabled": false,
            "rpc-host-whitelist-enabled": false,
            "download-dir": env.path(download_dir),
            "incomplete-dir-enabled": false,
            "rename-partial-files": false,
            "watch-dir-enabled": false,
            "start-added-torrents": true,
            "ratio-limit-enabled": false,
            "idle-seeding-limit-enabled": false,
            "cache-size-mb": 0,
            "message-level": 2,
        });
        std::fs::create_dir_all(env.path(download_dir)).expect("download folder");
        env.write(&format!("{config}/settings.json"), settings.to_string().as_bytes());
        let mut command = std::process::Command::new("transmission-daemon");
        command.arg("-f").arg("-g").arg(env.path(config)).current_dir(env.root());
        let transmission =
            Transmission { _daemon: Running::spawn(command), rpc: format!("127.0.0.1:{rpc_port}") };
        let deadline = Instant::now() + STARTUP;
        while transmission.remote(&["-l"]).code != 0 {
            assert!(Instant::now() < deadline, "transmission-daemon's RPC never answered");
            std::thread::sleep(Duration::from_millis(100));
        }
        transmission
    }

    /// Runs `transmission-remote` against this daemon.
    fn remote(&self, args: &[&str]) -> Output {
        let mut command = std::process::Command::new("transmission-remote");
        command.arg(&self.rpc).args(args);
        run_bounded(command)
    }

    /// Adds `torrent`, to be saved under (or seeded from) the daemon's download folder.
    fn add(&self, torrent: &Path) {
        let torrent = torrent.to_str().expect("utf-8 path");
        self.remote(&["-a", torrent]).expect_code(0);
    }

    /// Adds a magnet link: Transmission fetches the metadata from peers first.
    fn add_link(&self, link: &str) {
        self.remote(&["-a", link]).expect_code(0);
    }

    /// Waits until the one torrent has every piece, checked or downloaded.
    fn wait_complete(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let info = self.remote(&["-t", "1", "-i"]);
            if info.stdout.contains("Percent Done: 100%") {
                return;
            }
            if Instant::now() >= deadline {
                let peers = self.remote(&["-t", "1", "-ip"]);
                panic!("Transmission did not complete in {limit:?}: {info:#?}\npeers: {peers:#?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A torrent of `video.bin` that names a running `mt tracker`.
fn setup(env: &TestEnv) -> TrackerProcess {
    env.write_generated("video.bin", LEN, 23);
    let tracker = env.mt_tracker();
    env.run(&["create", "-p", "32K", "-t", &tracker.http, "video.bin"]).expect_code(0);
    tracker
}

/// Transmission seeding a copy of `video.bin`, once it has checked every piece.
fn transmission_seed(env: &TestEnv) -> Transmission {
    std::fs::create_dir_all(env.path("seed")).expect("seed folder");
    std::fs::copy(env.path("video.bin"), env.path("seed/video.bin")).expect("copy the data");
    let transmission = Transmission::start(env, "transmission-config", "seed");
    transmission.add(&env.path("video.bin.torrent"));
    transmission.wait_complete(STARTUP);
    transmission
}

fn transmission_installed() -> bool {
    require_tool("transmission-daemon") && require_tool("transmission-remote")
}

#[test]
fn mt_seed_serves_transmission_through_mt_tracker() {
    if !transmission_installed() {
        return;
    }
    let env = TestEnv::new();
    let _tracker = setup(&env);
    let mut seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let transmission = Transmission::start(&env, "transmission-config", "transmission");
    transmission.add(&env.path("video.bin.torrent"));
    let client = seed.process.wait_for(GET_LIMIT, |v| v["event"] == "peer_client");
    assert_eq!(client["client"], "Transmission 3.00", "the seed met Transmission: {client}");
    transmission.wait_complete(TRANSFER_LIMIT);
    assert_same_file(&env.path("video.bin"), &env.path("transmission/video.bin"));
}

#[test]
fn transmission_seeds_to_mt_get_through_mt_tracker() {
    if !transmission_installed() {
        return;
    }
    let env = TestEnv::new();
    let _tracker = setup(&env);
    let _transmission = transmission_seed(&env);
    let out = env.get("video.bin.torrent", "copy.bin", &[]);
    out.expect_code(0);
    assert!(!out.events("tracker").is_empty(), "mt get announced: {out:#?}");
    let clients: Vec<_> =
        out.events("peer_client").into_iter().map(|e| e["client"].clone()).collect();
    assert_eq!(clients, ["Transmission 3.00"], "mt get met only Transmission: {out:#?}");
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}

/// The magnet link of `video.bin.torrent` (it names the mt tracker).
fn magnet(env: &TestEnv) -> String {
    env.show_json("video.bin.torrent")["magnet"].as_str().expect("magnet link").to_string()
}

#[test]
fn mt_seed_gives_transmission_the_metadata_of_a_magnet_link() {
    if !transmission_installed() {
        return;
    }
    let env = TestEnv::new();
    let _tracker = setup(&env);
    let _seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let transmission = Transmission::start(&env, "transmission-config", "transmission");
    transmission.add_link(&magnet(&env));
    transmission.wait_complete(TRANSFER_LIMIT);
    assert_same_file(&env.path("video.bin"), &env.path("transmission/video.bin"));
}

#[test]
fn mt_get_takes_a_magnet_links_metadata_and_data_from_transmission() {
    if !transmission_installed() {
        return;
    }
    let env = TestEnv::new();
    let _tracker = setup(&env);
    let _transmission = transmission_seed(&env);
    let out = env.get(&magnet(&env), "copy.bin", &[]);
    out.expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}
