//! `mt tracker` over HTTP and UDP, spoken to with raw requests, through the client, and as the
//! meeting point of real swarms.

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod http;
mod swarm;
mod tracker_env;
mod udp;
