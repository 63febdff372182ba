//! What the session knows about one connected peer: the four choke/interest flags of BEP 3,
//! what it has, its request pipeline depth and its recent rates.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::bitfield::Bitfield;
use crate::peer::PeerHandle;
use crate::types::PeerId;

/// Blocks we keep requested from a peer before we know its rate.
pub const START_DEPTH: usize = 32;
/// Most blocks in flight to one peer.
pub const MAX_DEPTH: usize = 512;
/// The request queue we assume when a peer does not say (BEP 10 `reqq`).
pub const DEFAULT_REQQ: usize = 250;
/// The request queue we advertise and accept from each peer.
pub const OUR_REQQ: usize = 2048;

/// Bytes per second over a sliding window, updated once a second.
#[derive(Debug, Default)]
pub struct Rate {
    this_second: u64,
    history: [u64; 5],
    next: usize,
}

impl Rate {
    /// Counts bytes moved just now.
    pub fn add(&mut self, bytes: u64) {
        self.this_second += bytes;
    }

    /// Closes the current second.
    pub fn tick(&mut self) {
        self.history[self.next] = self.this_second;
        self.next = (self.next + 1) % self.history.len();
        self.this_second = 0;
    }

    /// Average bytes per second over the window.
    pub fn per_second(&self) -> u64 {
        self.history.iter().sum::<u64>() / self.history.len() as u64
    }
}

/// One connected peer.
pub struct Peer {
    pub handle: PeerHandle,
    pub addr: SocketAddr,
    pub peer_id: PeerId,
    pub fast: bool,
    /// True when we opened the connection.
    pub outgoing: bool,
    pub has: Bitfield,
    pub got_bitfield: bool,
    pub am_choking: bool,
    pub am_interested: bool,
    pub peer_choking: bool,
    pub peer_interested: bool,
    /// The most requests the peer accepts at once.
    pub reqq: usize,
    pub down: Rate,
    pub up: Rate,
    pub last_block: Instant,
    /// Blocks we sent that it never asked for, and other protocol slips.
    pub strikes: u32,
    /// Pieces that failed their hash check with blocks from this peer.
    pub hash_failures: u32,
}

impl Peer {
    /// A peer that has just finished its handshake.
    pub fn new(
        handle: PeerHandle,
        addr: SocketAddr,
        peer_id: PeerId,
        fast: bool,
        outgoing: bool,
        pieces: u32,
    ) -> Peer {
        Peer {
            handle,
            addr,
            peer_id,
            fast,
            outgoing,
            has: Bitfield::new(pieces),
            got_bitfield: false,
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            reqq: DEFAULT_REQQ,
            down: Rate::default(),
            up: Rate::default(),
            last_block: Instant::now(),
            strikes: 0,
            hash_failures: 0,
        }
    }

    /// How many requests to keep in flight: about half a second of its rate in blocks,
    /// within [`START_DEPTH`]..=[`MAX_DEPTH`] and the peer's own queue limit.
    pub fn target_depth(&self) -> usize {
        let blocks_per_half_second = self.down.per_second() / (2 * 16 * 1024);
        let wanted = usize::try_from(blocks_per_half_second).unwrap_or(MAX_DEPTH);
        wanted.clamp(START_DEPTH, MAX_DEPTH).min(self.reqq.max(1))
    }

    /// True when it has sent nothing for `limit` while we waited on it.
    pub fn stalled(&self, now: Instant, limit: Duration) -> bool {
        now.duration_since(self.last_block) > limit
    }
}
