//! The Mainline DHT on loopback: a testnet of `mt dht` nodes bootstrapped from one, where
//! lookups converge, a seed's announce is found by others, a trackerless torrent and a
//! magnet link with no tracker and no peer are downloaded through the DHT alone, and a node's
//! table survives a restart; libtorrent in the same testnet finds mt seed and is found by mt
//! get, through the DHT alone.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::process::Running;
use crate::common::swarm::{GET_LIMIT, assert_same_file, free_port};
use crate::common::{TestEnv, require_libtorrent};

/// Nodes started besides the bootstrap node.
const NODES: usize = 20;
/// Longest wait for a node to start or a lookup to see what it should.
const SETTLE: Duration = Duration::from_secs(60);

/// A bootstrap `mt dht` node and the nodes that joined through it.
pub struct Testnet {
    /// The bootstrap node's address, for `--dht-bootstrap`.
    pub root: String,
    /// The loopback address the nodes listen on (`127.0.0.1` or `::1`).
    bind: &'static str,
    nodes: Vec<Running>,
}

/// Starts `mt dht` on loopback `bind` with `extra`; returns it and its `listening` line.
pub fn start_node(env: &TestEnv, bind: &str, extra: &[&str]) -> (Running, Value) {
    let mut args = vec!["dht", "--bind", bind, "--json"];
    args.extend_from_slice(extra);
    if !extra.contains(&"-p") {
        args.extend_from_slice(&["-p", "0"]);
    }
    let mut node = Running::spawn(env.mt(&args));
    let listening = node.wait_for_event("listening", SETTLE);
    (node, listening)
}

impl Testnet {
    /// A bootstrap node and `count` nodes that join through it, on 127.0.0.1.
    pub fn start(env: &TestEnv, count: usize) -> Testnet {
        Testnet::start_on(env, "127.0.0.1", count)
    }

    /// A testnet like [`Testnet::start`] on `bind` (`127.0.0.1` or `::1`).
    pub fn start_on(env: &TestEnv, bind: &'static str, count: usize) -> Testnet {
        let (root_node, listening) = start_node(env, bind, &["--no-bootstrap"]);
        let root = listening["addr"].as_str().expect("an address").to_string();
        let mut nodes = vec![root_node];
        for _ in 0..count {
            nodes.push(start_node(env, bind, &["--dht-bootstrap", &root]).0);
        }
        // The bootstrap node learns the others as they join, in the table of their family.
        let want = count.min(8);
        let table = if bind.contains(':') { "nodes6" } else { "nodes" };
        nodes[0]
            .wait_for(SETTLE, |v| v["event"] == "status" && v[table].as_u64() >= Some(want as u64));
        Testnet { root, bind, nodes }
    }

    /// `mt dht get-peers` of `info_hash` through this testnet, until `want` says the answer
    /// is the one awaited (looking again while it is not); returns that answer.
    pub fn get_peers_until(
        &self,
        env: &TestEnv,
        info_hash: &str,
        want: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + SETTLE;
        loop {
            let args = [
                "dht",
                "get-peers",
                info_hash,
                "--dht-bootstrap",
                &self.root,
                "--bind",
                self.bind,
                "--json",
                "--timeout",
                "20",
            ];
            let out = env.run_mt(&args);
            let found = out.json_lines().into_iter().find(|v| v["event"] == "peers");
            if let Some(found) = found {
                if want(&found) {
                    return found;
                }
                assert!(
                    Instant::now() < deadline,
                    "the lookup never gave what was awaited: {found}"
                );
            } else {
                assert!(Instant::now() < deadline, "get-peers failed: {out:#?}");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
    }
}

fn peers_of(found: &Value) -> Vec<String> {
    found["peers"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

#[test]
fn lookups_in_a_testnet_converge_on_the_eight_nearest_nodes() {
    let env = TestEnv::new();
    let net = Testnet::start(&env, NODES);
    let found =
        net.get_peers_until(&env, "0123456789abcdef0123456789abcdef01234567", |v| v["nodes"] == 8);
    assert_eq!(found["peers"], serde_json::json!([]), "nobody announced this torrent");
}

/// `mt dht get-peers` is a one-off probe that exits as soon as its lookup ends: the nodes it
/// asks must not take it into their tables, where it would linger, silent, and make later
/// lookups wait on it (and, with enough of them near a target, end short of 8 nodes).
#[test]
fn a_get_peers_probe_leaves_no_trace_in_the_tables_it_asks() {
    let env = TestEnv::new();
    let (mut root, listening) = start_node(&env, "127.0.0.1", &["--no-bootstrap"]);
    let root_addr = listening["addr"].as_str().expect("an address").to_string();
    let _joined: Vec<Running> =
        (0..2).map(|_| start_node(&env, "127.0.0.1", &["--dht-bootstrap", &root_addr]).0).collect();
    root.wait_for(SETTLE, |v| v["event"] == "status" && v["nodes"].as_u64() >= Some(2));
    for _ in 0..3 {
        let hash = "89abcdef0123456789abcdef0123456789abcdef";
        let args = ["dht", "get-peers", hash, "--dht-bootstrap", &root_addr, "--bind", "127.0.0.1"];
        env.run_mt(&[&args[..], &["--json", "--timeout", "20"]].concat());
    }
    // Status lines come every two seconds: the second one after the probes is surely later
    // than any answer to a query the root sent them.
    root.wait_for_event("status", SETTLE);
    let status = root.wait_for_event("status", SETTLE);
    assert_eq!(status["nodes"], 2, "the root's table holds the two nodes that joined, no probe");
}

#[test]
fn a_trackerless_torrent_and_a_bare_magnet_link_download_through_the_dht_alone() {
    let env = TestEnv::new();
    let net = Testnet::start(&env, NODES);
    env.write_generated("video.bin", 3 * 1024 * 1024 + 77, 31);
    env.run(&["create", "-p", "64K", "video.bin"]).expect_code(0);
    let shown = env.show_json("video.bin.torrent");
    assert_eq!(shown["trackers"], serde_json::json!([]), "{shown}");
    let info_hash = shown["info_hash"].as_str().expect("info hash").to_string();
    let magnet = format!("magnet:?xt=urn:btih:{info_hash}");
    let seed = env.seed_alone("video.bin.torrent", "video.bin", &["--dht-bootstrap", &net.root]);
    // The seed announced itself: a lookup returns it.
    let found = net.get_peers_until(&env, &info_hash, |v| peers_of(v).contains(&seed.addr));
    assert_eq!(found["nodes"], 8, "{found}");
    // A download with its own runtime folder, no tracker and no --peer finds the seed.
    let out = env.get("video.bin.torrent", "copy.bin", &["--dht-bootstrap", &net.root]);
    out.expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
    // So does a magnet link that names nothing but the info hash.
    let out = env.get(&magnet, "magnet.bin", &["--dht-bootstrap", &net.root]);
    out.expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("magnet.bin"));
}

#[test]
fn a_nodes_id_and_table_survive_a_restart() {
    let env = TestEnv::new();
    let net = Testnet::start(&env, 10);
    let port = free_port().to_string();
    let (mut node, first) =
        start_node(&env, "127.0.0.1", &["-p", &port, "--dht-bootstrap", &net.root]);
    node.wait_for(SETTLE, |v| v["event"] == "status" && v["nodes"].as_u64() >= Some(8));
    // Ctrl-C: the node saves its table on the way out.
    let pid = node.pid().to_string();
    let status = Command::new("kill").args(["-INT", &pid]).status().expect("kill runs");
    assert!(status.success());
    node.wait(SETTLE).expect_code(0);
    // Started again with no bootstrap node at all, it has its id and its table back.
    let (mut again, second) = start_node(&env, "127.0.0.1", &["-p", &port, "--no-bootstrap"]);
    assert_eq!(first["id"], second["id"]);
    again.wait_for(SETTLE, |v| v["event"] == "status" && v["nodes"].as_u64() >= Some(8));
    again.kill();
}

/// Writes `video.bin` and a torrent of it with no tracker; returns its info hash.
fn trackerless_video(env: &TestEnv) -> String {
    env.write_generated("video.bin", 2 * 1024 * 1024 + 333, 41);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    env.info_hash("video.bin.torrent")
}

#[test]
fn mt_get_downloads_from_a_libtorrent_seed_it_finds_through_the_dht_alone() {
    if !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    let net = Testnet::start(&env, NODES);
    let info_hash = trackerless_video(&env);
    let root = env.root().display().to_string();
    let seed = env.libtorrent("seed", "video.bin.torrent", &root, &["--dht-bootstrap", &net.root]);
    net.get_peers_until(&env, &info_hash, |v| peers_of(v).contains(&seed.addr));
    let out = env.get("video.bin.torrent", "copy.bin", &["--dht-bootstrap", &net.root]);
    out.expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
}

#[test]
fn libtorrent_downloads_a_bare_magnet_link_from_mt_seed_through_the_dht_alone() {
    if !require_libtorrent() {
        return;
    }
    let env = TestEnv::new();
    let net = Testnet::start(&env, NODES);
    let info_hash = trackerless_video(&env);
    let seed = env.seed_alone("video.bin.torrent", "video.bin", &["--dht-bootstrap", &net.root]);
    net.get_peers_until(&env, &info_hash, |v| peers_of(v).contains(&seed.addr));
    let magnet = format!("magnet:?xt=urn:btih:{info_hash}");
    let get = env.libtorrent("get", &magnet, "lt", &["--dht-bootstrap", &net.root]);
    get.process.wait(GET_LIMIT).expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("lt/video.bin"));
}

/// CPU time (user and system) a process has used so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<u64> =
        rest.split(' ').skip(11).take(2).filter_map(|f| f.parse().ok()).collect();
    fields.iter().sum()
}

#[test]
fn an_idle_node_uses_next_to_no_cpu() {
    let env = TestEnv::new();
    let (mut node, _) = start_node(&env, "127.0.0.1", &["--no-bootstrap"]);
    // Past start-up, a node nobody talks to only runs its timers.
    node.wait_for_event("status", SETTLE);
    let before = cpu_ticks(node.pid());
    node.wait_for_event("status", SETTLE);
    node.wait_for_event("status", SETTLE);
    let used = cpu_ticks(node.pid()) - before;
    // Two status lines are four seconds apart: a spinning thread would use about 400 ticks.
    assert!(used < 100, "an idle node used {used} ticks of cpu in two status periods");
    node.kill();
}
