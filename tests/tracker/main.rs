//! `mt tracker` over HTTP and UDP, spoken to with raw requests, through the client, and as the
//! meeting point of real swarms.

#[path = "../common/mod.rs"]
mod common;

// The benchmark's UDP client, tested here since a benchmark without the test harness cannot
// hold tests.
#[allow(dead_code)]
#[path = "../../benches/tracker_load/udp.rs"]
mod tracker_load_udp;

mod cli;
mod http;
mod hybrid;
mod ipv6;
mod load_bench;
mod swarm;
mod tracker_env;
mod udp;
