//! MiniTorrent (`mt`): a BitTorrent engine whose edge is storage.
//!
//! Files are memory-mapped, pieces are hashed in parallel on every core, and received blocks
//! are written with `pwrite` into the same page cache the mappings read. The `mt` binary is a thin command-line layer
//! over this library; the library never sees argument parsing or progress bars.
//!
//! # Data flow
//!
//! ```text
//! create: files → layout → hash (a thread per core, read-ahead, mmap) → metainfo → .torrent
//! seed:   .torrent → metainfo → storage (mmap) → hash::verify_all → bitfield → session ⇄ peers ⇄ TCP
//! get:    .torrent → metainfo → trackers / --peer / registry / DHT / LSD → session → peer threads ⇄ wire
//!         picker chooses blocks → storage write (pwrite) → hash piece (mapped) → have → all peers
//! ```
//!
//! # Threads
//!
//! Blocking sockets with timeouts, a reader and a writer thread per peer connection, and
//! crossbeam channels to one session thread that owns the picker and the swarm state (split by
//! concern: connected peers, address book, choker, timers, channels, disk, piece
//! distribution). Received blocks are written by a disk thread from a bounded queue, never by
//! the session thread, so a slow write stalls no peer and no timer. Rayon is used only for
//! hashing. Every loop watches one shutdown flag. The engine reports progress as
//! `session::Event` values on a channel. Configuration flows down: the session passes each
//! connection its limits ([`peer::PeerOptions`]); no lower module imports from a higher one.
//!
//! # Modules, in import order
//!
//! [`types`] → [`bencode`] / [`merkle`] → [`metainfo`] / [`magnet`] → [`layout`] → [`storage`] /
//! [`hash`] / [`bitfield`] → [`wire`] / [`mse`] → [`tracker`] → [`picker`] → [`peer`] → [`session`]; [`bandwidth`] holds the
//! token buckets of `--max-down` and `--max-up`, which peers and the session share; [`webseed`]
//! fetches runs of pieces from BEP 19 web seeds over HTTP, for the session to check; [`selection`]
//! turns `--only`, `--files` and a magnet link's `so=` into the files and pieces to fetch; [`create`] makes torrents
//! from files; [`registry`] records same-host peers; [`fetch`] gets a magnet link's `info` dictionary from peers and [`state`] keeps it, with the
//! [`resume`] records that let a restart trust what was verified before; [`error`] is the fatal error every command
//! returns; [`dual_stack`] binds `[::]` for IPv6 and IPv4 at once and turns v4-mapped peer
//! addresses back into IPv4; [`udp`] owns the listen port's UDP socket and routes its datagrams, answering uTP
//! ([`utp`]) dialers with a reset so they use TCP at once and handing KRPC to the [`dht`]
//! node (one thread, below the session, which feeds the peers it finds to the address book);
//! [`lsd`] finds peers on the local network by multicast (BEP 14), feeding the address book
//! the same way. `unsafe` code lives only in
//! [`storage::mmap`].
//!
//! # Storage choices
//!
//! Reading (create, verify, seed) hashes mapped bytes in place, except files under 64 KiB,
//! which one `pread` reads whole for fewer system calls than a mapping costs (create on
//! 100,000 tiny files: 2.5 s against 4.3 s). Downloads keep files mapped (read-only) for
//! hashing and serving, but write received blocks with `pwrite` through a descriptor of the
//! same file (`auto` on a local filesystem; `--io pread`, chosen automatically on network
//! filesystems, also reads with `pread`). Linux has one page cache, so a block written with
//! `pwrite` is seen at once through the mapping; a mapped file is never truncated while open.
//! Writing through the mapping cost more: a write fault on a fresh page must first zero it,
//! and `MADV_POPULATE_WRITE` ahead of the blocks did not help. On a 512 MiB loopback download
//! from `mt seed` (`benches/swarm.sh`, best of 3, 2-core machine under heavy load), mapped
//! writes took 2.88 s against 1.59 s with `--io pread`; with `pwrite` into the mapped files
//! the default took 2.23 s against 2.25 s for `--io pread` in the same run. Verified pieces
//! are made durable in batches by the sync thread (see `session`), not one `msync` per
//! piece: receiving the same 512 MiB into a file on an ext4 disk took 2.82 s instead of
//! 3.90 s (best of 3, until `mt get` exited with everything synced). Waiting for the disk at
//! all then cost a third of a download: of 2.4 s for 512 MiB over loopback, 0.7 s went to the
//! final `fdatasync`. Pieces not yet synced are now recorded as unsynced for the running boot
//! (see `resume`), and `mt get` exits 25 ms after its last piece verifies (1.6 s in all, 2-core
//! machine under load, old and new timed alternately). Received blocks travel in buffers
//! reused from a pool (`wire::blocks`), and a seed reads each uploaded block straight into
//! its send buffer (`peer::outbox`): both removed copies or page faults that were a tenth of
//! a download's and a third of a seed's CPU time.

pub mod bandwidth;
pub mod bencode;
pub mod bitfield;
pub mod create;
pub mod dht;
pub mod dual_stack;
pub mod error;
pub mod fetch;
pub mod hash;
pub mod layout;
pub mod lsd;
pub mod magnet;
pub mod merkle;
pub mod metainfo;
pub mod mse;
pub mod peer;
pub mod picker;
pub mod registry;
pub mod resume;
pub mod selection;
pub mod session;
pub mod state;
pub mod storage;
pub mod tracker;
pub mod types;
pub mod udp;
pub mod utp;
pub mod webseed;
pub mod wire;
pub mod worker;

pub use error::Error;
