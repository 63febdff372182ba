//! The offline commands end to end: `mt create`, `mt show` and `mt verify` on real files, the
//! checked-in fixtures, hostile `.torrent` files, and agreement with mktorrent, libtorrent and
//! Transmission's torrent tools on what a torrent is.

#[path = "../common/mod.rs"]
mod common;

mod corpus;
mod create;
mod fixtures;
mod hostile_torrents;
mod libtorrent_reads;
mod many_files;
mod mktorrent;
mod show;
mod show_date;
mod show_magnet;
mod terminal;
mod terminal_safety;
mod transmission_torrents;
mod v2_create;
mod v2_torrents;
mod verify;
