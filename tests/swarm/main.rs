//! Transfers between real processes on loopback: `mt` with `mt`, with libtorrent, aria2 and
//! Transmission, and with scripted peers that lie, flood or misbehave, and the disk faults a
//! transfer must survive.

#[path = "../common/mod.rs"]
mod common;
#[path = "../support/mod.rs"]
mod support;

mod announces;
mod aria2;
mod default_output;
mod dht;
mod dht6;
mod dht_flood;
mod encrypted_handshake;
mod fast_extension;
mod file_selection;
mod full_disk;
mod hash_requests;
mod hostile_peer_slots;
mod hostile_peers;
mod hybrid_dht;
mod ipv6;
mod later_bitfield;
mod libtorrent;
mod libtorrent_hybrid;
mod libtorrent_v2;
mod lsd;
mod lying_peer;
mod magnet_cache;
mod magnet_get;
mod many_files;
mod many_hosts;
mod metadata_exchange;
mod metadata_liars;
mod mt_to_mt;
mod output_safety;
mod pad_files;
mod pex;
mod rate_limits;
mod repairing_seed;
mod resume;
mod returned_requests;
mod seed_distribution;
mod seed_limits;
mod seed_to_seed;
mod simultaneous_connect;
mod super_seed;
mod transmission;
mod truncated_seed;
mod upload_accounting;
mod upload_slots;
mod utp_refusal;
mod web_seeds;
