//! Every parser of outside input survives arbitrary and hostile bytes, and every codec
//! round-trips its valid values. For bencode, `.torrent` files, the peer wire (handshake,
//! messages, the framing reader, the extended handshake, bitfields, `ut_metadata` and `ut_pex`),
//! KRPC (the DHT), local service discovery announces, magnet links, both sides of the HTTP and
//! UDP tracker protocols and IPv4/IPv6 peer and tracker addresses, the properties are:
//! arbitrary bytes never panic and return within a time bound; mutations of valid samples
//! (flipped, inserted, deleted, duplicated and truncated bytes, and huge numbers spliced into
//! length prefixes) never panic either; valid values encode and decode back to themselves; and a few large inputs are handled quickly.
//!
//! `make test` runs 256 cases per property; `make fuzz` runs the same properties with
//! `PROPTEST_CASES=100000`. Allocation bounds are in `alloc_bounds`, which
//! installs a counting allocator for this binary (it counts per thread, so the other tests
//! running beside it do not disturb its figures).

mod addresses;
mod alloc_bounds;
mod bencode;
mod counting;
mod extension;
mod hash_proofs;
mod krpc;
mod lsd;
mod magnet;
mod metainfo;
mod metainfo_v2;
mod regressions;
mod samples;
mod support;
mod tracker_http;
mod tracker_samples;
mod tracker_udp;
mod ut_messages;
mod wire;
