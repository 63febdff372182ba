//! Every parser of outside input survives arbitrary and hostile bytes, and every codec
//! round-trips its valid values. For bencode, `.torrent` files, the peer wire (handshake,
//! messages, the framing reader, the extended handshake, bitfields) and both sides of the HTTP
//! and UDP tracker protocols, the properties are: arbitrary bytes never panic and return within
//! a time bound; mutations of valid samples (flipped, inserted, deleted, duplicated and
//! truncated bytes, and huge numbers spliced into length prefixes) never panic either; valid
//! values encode and decode back to themselves; and a few large inputs are handled quickly.
//!
//! `make test` runs 256 cases per property; `make fuzz` runs the same properties with
//! `PROPTEST_CASES=100000`. Allocation bounds live in the `parsers_alloc` test binary, which
//! installs a counting allocator.

#[path = "fuzz/bencode.rs"]
mod bencode;
#[path = "fuzz/extension.rs"]
mod extension;
#[path = "fuzz/metainfo.rs"]
mod metainfo;
#[path = "fuzz/samples.rs"]
mod samples;
#[path = "fuzz/support.rs"]
mod support;
#[path = "fuzz/tracker_http.rs"]
mod tracker_http;
#[path = "fuzz/tracker_samples.rs"]
mod tracker_samples;
#[path = "fuzz/tracker_udp.rs"]
mod tracker_udp;
#[path = "fuzz/wire.rs"]
mod wire;
