//! A small swarm of many hosts: one `mt seed` and four `mt get`, each in a network namespace
//! of its own with a capped link, all on one bridge with an `mt tracker` host, driven by
//! `benches/swarm_hosts.py` (which `make bench-swarm` runs at full size, next to libtorrent).
//! Every downloader must finish with the seed's bytes, which the script checks. It needs root
//! and `ip netns`: without them this test fails under `CI=true` and is skipped loudly
//! elsewhere.

use std::process::Command;

use serde_json::Value;

use crate::common::netns::can_make_namespaces;
use crate::common::{SYSTEM_PYTHON, repo_path, run_bounded};

#[test]
fn four_downloaders_on_their_own_hosts_all_finish_with_the_seeds_bytes() {
    if !can_make_namespaces() {
        return;
    }
    let mut command = Command::new(SYSTEM_PYTHON);
    command.arg(repo_path("benches/swarm_hosts.py"));
    command.args(["--downloaders", "4", "--size-mib", "16", "--rate", "100", "--clients", "mt"]);
    command.args(["--timeout", "40", "--json"]);
    command.env("MT_BIN", env!("CARGO_BIN_EXE_mt"));
    let out = run_bounded(command);
    assert_eq!(out.code, 0, "the swarm finished with the right bytes: {out:#?}");
    let figures: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON line");
    assert_eq!(figures["client"], "mt", "{figures}");
    assert_eq!(figures["downloaders"], 4, "{figures}");
    let copies = figures["seed_copies"].as_f64().expect("seed copies");
    assert!(copies >= 1.0, "the seed's interface carried at least one copy: {figures}");
}
