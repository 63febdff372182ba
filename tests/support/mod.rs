//! Test peers that are not `mt`, shared by the swarm tests that need them.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod fake_peer;
pub mod http_seed;
pub mod raw_peer;
