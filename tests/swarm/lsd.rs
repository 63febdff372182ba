//! Local service discovery (BEP 14) between two `mt` processes on two hosts: network
//! namespaces joined by a veth pair, as multicast does not leave a fresh namespace's `lo`.
//! A `.torrent` and a bare magnet link (metadata, then data) are both found through it, over
//! IPv4 and, between hosts that have IPv6 only, through the IPv6 group.
//! Nothing else can introduce the peers: no tracker, `--no-dht`, no `--peer`, and each
//! process has its own runtime folder, so the same-host registry cannot help. These tests
//! need root and `ip netns`: without them they fail under `CI=true` and are skipped loudly
//! elsewhere. Every process runs inside the namespaces the test made, and is killed by its pid.

use std::time::Duration;

use crate::common::netns::{Link, can_make_namespaces};
use crate::common::process::Running;
use crate::common::swarm::{STARTUP, assert_same_file};
use crate::common::{MT, TestEnv};

/// Longest a download found through local discovery may take.
const FOUND_LIMIT: Duration = Duration::from_secs(50);

/// `mt ARGS` inside namespace `side`, with runtime and state folders of its own.
fn mt(env: &TestEnv, link: &Link, side: usize, args: &[&str]) -> Running {
    let mut command = link.command(side, MT, args);
    command
        .current_dir(env.root())
        .env("MT_RUNTIME_DIR", env.path(&format!(".runtime-{side}")))
        .env("MT_STATE_DIR", env.path(&format!(".state-{side}")));
    Running::spawn(command)
}

/// Seeds `data.torrent` (or `private.torrent` when `what` is that) on host a, then runs
/// `mt get` of `what` (that torrent or a magnet link) on host b with `--timeout`.
fn seed_then_get(env: &TestEnv, link: &Link, what: &str, timeout: &str) -> (Running, Running) {
    let torrent = if what == "private.torrent" { what } else { "data.torrent" };
    let seed_args = ["seed", torrent, "data.bin", "--bind", &link.addrs[0], "-p", "6881"];
    let mut seed = mt(env, link, 0, &[&seed_args[..], &["--no-dht", "--json"]].concat());
    seed.wait_for_event("seeding", STARTUP);
    let get_args = ["get", what, "copy.bin", "--bind", &link.addrs[1], "-p", "6881"];
    let get =
        mt(env, link, 1, &[&get_args[..], &["--no-dht", "--json", "--timeout", timeout]].concat());
    (seed, get)
}

#[test]
fn a_trackerless_torrent_downloads_between_hosts_through_local_discovery_alone() {
    if !can_make_namespaces() {
        return;
    }
    let env = TestEnv::new();
    env.write_generated("data.bin", 3 << 20, 14);
    env.run(&["create", "data.bin", "data.torrent"]).expect_code(0);
    let link = Link::new("lsdp", 1);
    // Another process on the seed's host holds port 6771 first; the seed shares it.
    let other_args = ["seed", "data.torrent", "data.bin", "--bind", &link.addrs[0], "-p", "6882"];
    let mut other = mt(&env, &link, 0, &[&other_args[..], &["--no-dht", "--json"]].concat());
    other.wait_for_event("seeding", STARTUP);
    let (mut seed, get) = seed_then_get(&env, &link, "data.torrent", "45");
    let out = get.wait(FOUND_LIMIT);
    assert_eq!(out.code, 0, "the download completed: {out:#?}");
    out.event("complete");
    assert_same_file(&env.path("data.bin"), &env.path("copy.bin"));
    other.kill();
    seed.kill();
    let seed = seed.wait(Duration::from_secs(5));
    let said = format!("{}{}", seed.stdout, seed.stderr);
    assert!(!said.contains("lsd"), "the seed joined local discovery beside another: {seed:#?}");
}

#[test]
fn a_private_torrent_is_not_announced_on_the_local_network() {
    if !can_make_namespaces() {
        return;
    }
    let env = TestEnv::new();
    env.write_generated("data.bin", 1 << 20, 27);
    env.run(&["create", "--private", "data.bin", "private.torrent"]).expect_code(0);
    let link = Link::new("lsdx", 2);
    let (_seed, get) = seed_then_get(&env, &link, "private.torrent", "8");
    let out = get.wait(Duration::from_secs(30));
    assert_ne!(out.code, 0, "the download found no peer and gave up: {out:#?}");
    assert!(out.events("peer_connected").is_empty(), "no peer was found: {out:#?}");
}

#[test]
fn a_bare_magnet_links_metadata_and_data_come_through_local_discovery_alone() {
    if !can_make_namespaces() {
        return;
    }
    let env = TestEnv::new();
    env.write_generated("data.bin", 2 << 20, 41);
    env.run(&["create", "data.bin", "data.torrent"]).expect_code(0);
    let magnet = format!("magnet:?xt=urn:btih:{}", env.info_hash("data.torrent"));
    let link = Link::new("lsdm", 3);
    let (_seed, get) = seed_then_get(&env, &link, &magnet, "45");
    let out = get.wait(FOUND_LIMIT);
    assert_eq!(out.code, 0, "the download completed: {out:#?}");
    assert_same_file(&env.path("data.bin"), &env.path("copy.bin"));
}

/// Hosts joined by a link that carries IPv6 only, each process listening on its IPv6 address
/// alone: only an announce to [ff15::efc0:988f]:6771 can bring them together.
#[test]
fn a_trackerless_torrent_downloads_between_ipv6_hosts_through_the_ipv6_group() {
    if !can_make_namespaces() {
        return;
    }
    let env = TestEnv::new();
    env.write_generated("data.bin", 2 << 20, 53);
    env.run(&["create", "data.bin", "data.torrent"]).expect_code(0);
    let link = Link::new_v6("lsd6", 4);
    let (_seed, get) = seed_then_get(&env, &link, "data.torrent", "45");
    let out = get.wait(FOUND_LIMIT);
    assert_eq!(out.code, 0, "the download completed: {out:#?}");
    assert_same_file(&env.path("data.bin"), &env.path("copy.bin"));
}
