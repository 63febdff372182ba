//! MiniTorrent (`mt`): a BitTorrent engine whose edge is storage.
//!
//! Files are memory-mapped, pieces are hashed in parallel on every core, and received blocks
//! are written straight into mapped output files. The `mt` binary is a thin command-line layer
//! over this library; the library never sees argument parsing or progress bars.
//!
//! # Data flow
//!
//! ```text
//! create: files → layout → hash (rayon, mmap) → metainfo → .torrent
//! seed:   .torrent → metainfo → storage (mmap) → hash::verify_all → bitfield → session ⇄ peers ⇄ TCP
//! get:    .torrent → metainfo → trackers / --peer / registry → session → peer threads ⇄ wire
//!         picker chooses blocks → storage write (mapped) → hash piece → have → all peers
//! ```
//!
//! # Threads
//!
//! Blocking sockets with timeouts, a reader and a writer thread per peer connection, and
//! crossbeam channels to one session thread that owns the picker and the swarm state (split by
//! concern: connected peers, address book, choker, timers, channels, disk). Received blocks
//! are written by a disk thread from a bounded queue, never by the session thread, so a slow
//! write stalls no peer and no timer. Rayon is used only for hashing. Every loop watches one shutdown flag. The engine reports progress as
//! `session::Event` values on a channel. Configuration flows down: the session passes each
//! connection its limits ([`peer::PeerOptions`]); no lower module imports from a higher one.
//!
//! # Modules, in import order
//!
//! [`types`] → [`bencode`] → [`metainfo`] / [`magnet`] → [`layout`] → [`storage`] /
//! [`hash`] / [`bitfield`] → [`wire`] / [`mse`] → [`tracker`] → [`picker`] → [`peer`] → [`session`]; [`bandwidth`] holds the
//! token buckets of `--max-down` and `--max-up`, which peers and the session share; [`webseed`]
//! fetches runs of pieces from BEP 19 web seeds over HTTP, for the session to check; [`create`] makes torrents
//! from files; [`registry`] records same-host peers; [`fetch`] gets a magnet link's `info` dictionary from peers and [`state`] keeps it, with the
//! [`resume`] records that let a restart trust what was verified before; [`error`] is the fatal error every command
//! returns; [`udp`] owns the listen port's UDP socket and routes its datagrams, answering uTP
//! ([`utp`]) dialers with a reset so they use TCP at once. `unsafe` code lives only in
//! [`storage::mmap`].
//!
//! # Storage choices
//!
//! Reading (create, verify, seed) hashes mapped bytes in place, except files under 64 KiB,
//! which one `pread` reads whole for fewer system calls than a mapping costs (create on
//! 100,000 tiny files: 2.5 s against 4.3 s). Downloads write received blocks into shared
//! mappings by default (`auto` on a local filesystem); `--io pread` (chosen automatically on
//! network filesystems) uses `pwrite` instead. The pwrite path costs the kernel less per
//! received byte (a write fault on a fresh page must first zero it): a 512 MiB loopback
//! download from `mt seed` took 2.35 s with `--io pread` and 2.72 s with mmap (best of 3,
//! 2-core machine under load), with about a third less system time. Mapping stays the
//! default for what it gives the rest of the engine (serving and hashing from the same pages
//! without copies); `benches/swarm.sh` measures both on every `make bench`.

pub mod bandwidth;
pub mod bencode;
pub mod bitfield;
pub mod create;
pub mod dht;
pub mod error;
pub mod fetch;
pub mod hash;
pub mod layout;
pub mod magnet;
pub mod metainfo;
pub mod mse;
pub mod peer;
pub mod picker;
pub mod registry;
pub mod resume;
pub mod session;
pub mod state;
pub mod storage;
pub mod tracker;
pub mod types;
pub mod udp;
pub mod utp;
pub mod webseed;
pub mod wire;

pub use error::Error;
