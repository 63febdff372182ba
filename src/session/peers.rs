//! The connected peers: what the session knows about each (the four choke/interest flags of
//! BEP 3, what it has, its request pipeline depth, its recent rates and its offences), and the
//! pieces whose failed hash check still has to be pinned on one of them.
//!
//! Invariants: each connection has one [`PeerKey`], never reused within a session; at most one
//! connected peer has a given peer id (the session keeps one of two simultaneous connections).

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::pex::PexState;
use crate::bitfield::Bitfield;
use crate::peer::{PeerHandle, PeerKey};
use crate::picker::Block;
use crate::types::PeerId;

/// Blocks we keep requested from a peer before we know its rate.
pub const START_DEPTH: usize = 32;
/// Most blocks in flight to one peer.
pub const MAX_DEPTH: usize = 512;
/// The request queue we assume when a peer does not say (BEP 10 `reqq`).
pub const DEFAULT_REQQ: usize = 250;
/// The request queue we advertise and accept from each peer.
pub const OUR_REQQ: usize = 2048;

/// How long a peer is not asked again for a piece it rejected a request of.
pub const REJECT_BACKOFF: Duration = Duration::from_secs(2);
/// Most pieces remembered as rejected, per peer.
const MAX_AVOIDED: usize = 64;
/// Most given-back blocks remembered per peer (a full pipeline, twice).
const MAX_GIVEN_BACK: usize = 2 * MAX_DEPTH;
/// Most allowed-fast pieces a peer may name to us.
pub const MAX_ALLOWED_FAST_IN: usize = 64;

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
    pub am_choking: bool,
    pub am_interested: bool,
    pub peer_choking: bool,
    pub peer_interested: bool,
    /// The most requests the peer accepts at once.
    pub reqq: usize,
    /// The extended message id it receives `ut_metadata` on, if it named one (BEP 9).
    pub ut_metadata: Option<u8>,
    /// The listen port it named in its extended handshake.
    pub listen_port: Option<u16>,
    /// Our peer exchange with it, once it named `ut_pex` (BEP 11).
    pub pex: Option<PexState>,
    /// We end the connection only once what we queued for it is written.
    pub parting: bool,
    pub down: Rate,
    pub up: Rate,
    pub last_block: Instant,
    /// Blocks we sent that it never asked for, and other protocol slips.
    pub strikes: u32,
    /// Pieces that failed their hash check with blocks from this peer.
    pub hash_failures: u32,
    /// Pieces it rejected a request of, not to be asked for again before the time.
    pub avoided: Vec<(u32, Instant)>,
    /// Blocks we asked it for, then gave back and cancelled (its choke, or it stalled),
    /// oldest first: one that still arrives is no offence.
    pub given_back: VecDeque<Block>,
    /// Pieces it lets us request while it chokes us (BEP 6 allowed fast).
    pub allowed_in: Vec<u32>,
    /// Pieces we let it request while we choke it (its BEP 6 allowed-fast set).
    pub allowed_out: Vec<u32>,
}

impl Peer {
    /// Where it accepts connections: the address we dialled, or for a peer that dialled us
    /// its IP with the port its extended handshake named.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        match (self.outgoing, self.listen_port) {
            (true, _) => Some(self.addr),
            (false, Some(port)) if port != 0 => Some(SocketAddr::new(self.addr.ip(), port)),
            (false, _) => None,
        }
    }

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
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            reqq: DEFAULT_REQQ,
            ut_metadata: None,
            listen_port: None,
            pex: None,
            parting: false,
            down: Rate::default(),
            up: Rate::default(),
            last_block: Instant::now(),
            strikes: 0,
            hash_failures: 0,
            avoided: Vec::new(),
            given_back: VecDeque::new(),
            allowed_in: Vec::new(),
            allowed_out: Vec::new(),
        }
    }

    /// The pieces we may ask it for now: what it has, less the pieces it rejected lately;
    /// while it chokes us, only its allowed-fast pieces (none without the fast extension).
    pub fn requestable(&self) -> Option<Cow<'_, Bitfield>> {
        if self.peer_choking && (!self.fast || self.allowed_in.is_empty()) {
            return None;
        }
        if !self.peer_choking && self.avoided.is_empty() {
            return Some(Cow::Borrowed(&self.has));
        }
        let mut pieces = match self.peer_choking {
            true => {
                let mut allowed = Bitfield::new(self.has.len());
                for &piece in self.allowed_in.iter().filter(|&&p| self.has.get(p)) {
                    allowed.set(piece);
                }
                allowed
            }
            false => self.has.clone(),
        };
        for &(piece, _) in &self.avoided {
            pieces.clear(piece);
        }
        Some(Cow::Owned(pieces))
    }

    /// It rejected a request of `piece`: ask others for it, and this peer only after
    /// [`REJECT_BACKOFF`].
    pub fn avoid(&mut self, piece: u32, now: Instant) {
        self.avoided.retain(|(p, _)| *p != piece);
        if self.avoided.len() >= MAX_AVOIDED {
            self.avoided.remove(0);
        }
        self.avoided.push((piece, now + REJECT_BACKOFF));
    }

    /// Forgets rejections whose backoff is over; true if any was.
    pub fn expire_avoided(&mut self, now: Instant) -> bool {
        let before = self.avoided.len();
        self.avoided.retain(|(_, until)| *until > now);
        self.avoided.len() != before
    }

    /// We gave these requests back and cancel them.
    pub fn give_back(&mut self, blocks: &[Block]) {
        for block in blocks {
            if self.given_back.len() >= MAX_GIVEN_BACK {
                self.given_back.pop_front();
            }
            self.given_back.push_back(*block);
        }
    }

    /// Whether `block` is one we gave back (it is then forgotten).
    pub fn take_given_back(&mut self, block: &Block) -> bool {
        let at = self.given_back.iter().position(|b| b == block);
        at.and_then(|at| self.given_back.remove(at)).is_some()
    }

    /// Closes the current second of both rates; what we sent is what the socket took.
    pub fn tick_rates(&mut self) {
        self.up.add(self.handle.take_sent());
        self.up.tick();
        self.down.tick();
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

/// Every connected peer, by key.
#[derive(Default)]
pub struct Peers {
    map: HashMap<PeerKey, Peer>,
    next_key: u64,
    /// Pieces that failed with several senders, and who they were, until a retry passes.
    pub suspects: HashMap<u32, Vec<PeerKey>>,
}

impl Peers {
    /// The key the next connection will get.
    pub fn next_key(&mut self) -> PeerKey {
        self.next_key += 1;
        PeerKey(self.next_key)
    }

    /// Adds a connected peer under a key from [`Peers::next_key`].
    pub fn insert(&mut self, key: PeerKey, peer: Peer) {
        self.map.insert(key, peer);
    }

    /// Forgets a peer; returns it if it was connected.
    pub fn remove(&mut self, key: PeerKey) -> Option<Peer> {
        self.map.remove(&key)
    }

    /// The peer under `key`, if connected.
    pub fn get(&self, key: PeerKey) -> Option<&Peer> {
        self.map.get(&key)
    }

    /// The peer under `key`, if connected.
    pub fn get_mut(&mut self, key: PeerKey) -> Option<&mut Peer> {
        self.map.get_mut(&key)
    }

    /// Whether `key` names a connected peer.
    pub fn contains(&self, key: PeerKey) -> bool {
        self.map.contains_key(&key)
    }

    /// Every connected peer's key (a copy, so the caller may change the peers meanwhile).
    pub fn keys(&self) -> Vec<PeerKey> {
        self.map.keys().copied().collect()
    }

    /// Every connected peer.
    pub fn iter(&self) -> impl Iterator<Item = (PeerKey, &Peer)> {
        self.map.iter().map(|(key, peer)| (*key, peer))
    }

    /// Every connected peer, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (PeerKey, &mut Peer)> {
        self.map.iter_mut().map(|(key, peer)| (*key, peer))
    }

    /// Every connected peer.
    pub fn values(&self) -> impl Iterator<Item = &Peer> {
        self.map.values()
    }

    /// How many peers are connected.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no peer is connected.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The connected peer with this peer id.
    pub fn with_id(&self, peer_id: PeerId) -> Option<(PeerKey, &Peer)> {
        self.iter().find(|(_, peer)| peer.peer_id == peer_id)
    }

    /// The peer that has been of no use the longest: neither interested nor interesting.
    pub fn longest_idle(&self) -> Option<PeerKey> {
        self.iter()
            .filter(|(_, p)| !p.peer_interested && !p.am_interested)
            .min_by_key(|(_, p)| p.last_block)
            .map(|(key, _)| key)
    }
}
