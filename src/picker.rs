//! The block picker: which blocks to request from which peer, and what to make of the blocks
//! that arrive. The session thread owns one per torrent; it is pure state, with no I/O and no
//! threads, and is driven by the session's calls for each peer event.
//!
//! # What it keeps
//!
//! - our verified pieces ([`Picker::have`]);
//! - per piece, how many known peers have it, and the queue of unstarted pieces grouped by that
//!   count (`picker/availability.rs`), so rarest-first needs no scan of every piece;
//! - per piece in progress, the state of each block and the peers that delivered them
//!   (`picker/piece.rs`); pieces not in progress cost nothing beyond their counters;
//! - per peer, what it has (for availability) and the blocks requested from it.
//!
//! # Invariants
//!
//! - A wanted piece (one we do not have) is either queued (unstarted) or in progress, never
//!   both; a piece we have is neither.
//! - A block of a piece in progress is in exactly one of: missing, requested (by a set of at
//!   most [`MAX_REQUESTERS`] peers), received. Blocks of unstarted pieces are all missing.
//! - A block is in a peer's outstanding set iff that peer is among the block's requesters.
//! - A block is handed to a second peer only in endgame: when no missing block is left that
//!   any known peer could send.
//! - A fully received piece stays in progress until [`Picker::piece_verified`] or
//!   [`Picker::piece_failed`].
//!
//! # Policy (BEP 3)
//!
//! [`Picker::pick`] first finishes pieces already started, oldest first. To start a new piece
//! it takes, among those the peer has: a random one while we have fewer than
//! [`RANDOM_FIRST_PIECES`] pieces (so we soon have something to trade), the lowest index in
//! sequential mode, and otherwise the rarest, ties broken at random. In endgame it hands a peer
//! blocks already requested from others, and [`Picker::block_received`] names the duplicate
//! requests to cancel.
//!
//! Availability comes only from what peers announce, so report each peer's `bitfield`,
//! `have all` and `have` messages: a piece no known peer has is never started, and endgame
//! begins when every piece some known peer has is requested.
//!
//! A choke from a peer without the fast extension (BEP 6) implicitly drops its requests: call
//! [`Picker::peer_choked`], which returns the requests to cancel; a block that still arrives
//! for one of them goes to [`Picker::block_received_late`], which takes it if it is still
//! needed. A peer with it sends `reject` for each dropped request instead: call
//! [`Picker::request_rejected`] for each.

mod availability;
mod peers;
mod piece;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;

use crate::bitfield::Bitfield;
pub use crate::layout::Block;
use crate::layout::Geometry;
use crate::types::PieceIndex;

use availability::{Availability, ix};
use peers::PeerState;
pub use piece::MAX_REQUESTERS;
use piece::{Arrival, PieceProgress, Requesters};

/// While we have fewer complete pieces than this, new pieces are chosen at random.
pub const RANDOM_FIRST_PIECES: u32 = 4;

/// An opaque name the session gives each peer connection.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct PeerKey(pub u64);

/// Our own bitfield is for a different number of pieces than the geometry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HaveLengthError {
    /// Pieces in the bitfield.
    pub have: u32,
    /// The torrent's piece count.
    pub piece_count: u32,
}

impl fmt::Display for HaveLengthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let HaveLengthError { have, piece_count } = self;
        write!(f, "have bitfield covers {have} pieces, the torrent has {piece_count}")
    }
}

impl std::error::Error for HaveLengthError {}

/// What to do with a block that arrived.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Received {
    /// We never asked this peer for it (or it does not match our blocks): drop it.
    Unrequested,
    /// We already have it: drop it.
    Duplicate,
    /// Store it.
    Accepted {
        /// Every block of the piece has now been received: hash it.
        piece_complete: bool,
        /// Endgame duplicates of this block still requested from other peers: send `cancel`.
        cancel: Vec<(PeerKey, Block)>,
    },
}

/// A block named by its piece and its index in the piece.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct BlockId {
    piece: u32,
    index: u32,
}

/// Chooses blocks to request and tracks them until verified; see the module docs.
#[derive(Debug)]
pub struct Picker {
    geometry: Geometry,
    have: Bitfield,
    have_count: u32,
    missing_bytes: u64,
    /// Pieces we have or do not want (see [`Picker::set_wanted`]).
    done: Bitfield,
    /// Pieces we neither have nor want.
    skipped_count: u32,
    availability: Availability,
    in_progress: HashMap<u32, PieceProgress>,
    /// The pieces in progress, oldest first.
    started: Vec<u32>,
    /// Missing blocks over all pieces in progress.
    free_blocks: u64,
    peers: HashMap<PeerKey, PeerState>,
    sequential: bool,
    /// No queued piece has a lower index.
    next_sequential: u32,
    /// Pieces that must come from one peer (after a failure with several contributors), with
    /// the peer that took them, once one has.
    single_source: HashMap<u32, Option<PeerKey>>,
}

impl Picker {
    /// A picker for a torrent of this geometry (the layout's, in blocks of
    /// [`crate::layout::BLOCK_LEN`]), of which we already have the pieces set in `have`.
    pub fn new(geometry: Geometry, have: &Bitfield) -> Result<Picker, HaveLengthError> {
        let piece_count = geometry.piece_count();
        if have.len() != piece_count {
            return Err(HaveLengthError { have: have.len(), piece_count });
        }
        let have_bytes: u64 =
            have.iter_set().map(|p| u64::from(geometry.piece_len(PieceIndex(p)))).sum();
        let total_length = geometry.total_length();
        Ok(Picker {
            geometry,
            have: have.clone(),
            have_count: have.count(),
            missing_bytes: total_length.saturating_sub(have_bytes),
            done: have.clone(),
            skipped_count: 0,
            availability: Availability::new(piece_count, have.iter_clear()),
            in_progress: HashMap::new(),
            started: Vec::new(),
            free_blocks: 0,
            peers: HashMap::new(),
            sequential: false,
            next_sequential: 0,
            single_source: HashMap::new(),
        })
    }

    /// Lowest index first instead of rarest first (for streaming); pieces in progress still
    /// come first.
    pub fn set_sequential(&mut self, sequential: bool) {
        self.sequential = sequential;
    }

    /// Our verified pieces.
    pub fn have(&self) -> &Bitfield {
        &self.have
    }

    /// Whether we have every piece we want.
    pub fn is_complete(&self) -> bool {
        self.have_count + self.skipped_count == self.geometry.piece_count()
    }

    /// Bytes of the wanted pieces we do not have yet (received but unverified blocks still
    /// count).
    pub fn missing_bytes(&self) -> u64 {
        self.missing_bytes
    }

    /// Bytes of the pieces we want, had or not.
    pub fn wanted_bytes(&self) -> u64 {
        let skipped: u64 = (0..self.geometry.piece_count())
            .filter(|&p| self.done.get(p) && !self.have.get(p))
            .map(|p| u64::from(self.geometry.piece_len(PieceIndex(p))))
            .sum();
        self.geometry.total_length() - skipped
    }

    /// Wants only the pieces set in `wanted` (a selection of files): the others are never
    /// started, count as neither missing nor interesting, and completion needs only the
    /// wanted ones. Call before any piece is started; a piece of another length is ignored.
    pub fn set_wanted(&mut self, wanted: &Bitfield) {
        if wanted.len() != self.geometry.piece_count() {
            return;
        }
        for piece in 0..self.geometry.piece_count() {
            if wanted.get(piece) || self.done.get(piece) || self.in_progress.contains_key(&piece) {
                continue;
            }
            self.availability.dequeue(piece);
            self.done.set(piece);
            self.skipped_count += 1;
            self.missing_bytes = self
                .missing_bytes
                .saturating_sub(u64::from(self.geometry.piece_len(PieceIndex(piece))));
        }
    }

    /// Whether a peer with these pieces has one we lack and want (we should be `interested`).
    pub fn interesting(&self, peer_has: &Bitfield) -> bool {
        peer_has.has_any_not_in(&self.done)
    }

    /// How many known peers have `piece`.
    pub fn availability(&self, piece: u32) -> u32 {
        self.availability.of(piece)
    }

    /// Whether we are in endgame: no missing block is left that a known peer could send.
    pub fn is_endgame(&self) -> bool {
        !self.is_complete() && self.free_blocks == 0 && self.availability.queued_available() == 0
    }

    /// Blocks requested from `peer` and not yet received, rejected or returned.
    pub fn outstanding(&self, peer: PeerKey) -> usize {
        self.peers.get(&peer).map_or(0, |state| state.outstanding.len())
    }

    /// Up to `max` new blocks to request from `peer`, which has the pieces in `peer_has`.
    /// Never a block of a piece we have, never one already requested from this peer; a new
    /// piece is started only if some known peer has it (see [`Picker::peer_bitfield`]).
    /// Cost: the pieces in progress, plus a look through the queue when starting a piece.
    pub fn pick(&mut self, peer: PeerKey, peer_has: &Bitfield, max: usize) -> Vec<Block> {
        let mut picked = Vec::new();
        if max == 0 || self.is_complete() {
            return picked;
        }
        self.peer_state(peer);
        let mut indexes = Vec::new();

        for position in 0..self.started.len() {
            let Some(&piece) = self.started.get(position) else { break };
            if picked.len() == max {
                break;
            }
            if peer_has.get(piece) && self.may_serve(peer, piece) {
                self.take_free(peer, piece, max - picked.len(), &mut indexes, &mut picked);
            }
        }
        while picked.len() < max {
            let Some(piece) = self.choose_new_piece(peer_has) else { break };
            self.start(piece);
            if !self.may_serve(peer, piece) {
                continue;
            }
            self.take_free(peer, piece, max - picked.len(), &mut indexes, &mut picked);
        }
        if picked.len() < max && self.is_endgame() {
            self.take_duplicates(peer, peer_has, max, &mut picked);
        }
        picked
    }

    /// A `piece` message from `peer`. See [`Received`]; a block is accepted only if it was
    /// requested from this peer (in endgame: from any peer) and not yet received.
    pub fn block_received(&mut self, peer: PeerKey, block: &Block) -> Received {
        self.receive(peer, block, false)
    }

    /// A block from `peer` that we asked it for and then gave back (its choke, or it
    /// stalled) and cancelled: it is accepted whenever we still need it, whoever it is now
    /// requested from, else it is a [`Received::Duplicate`].
    pub fn block_received_late(&mut self, peer: PeerKey, block: &Block) -> Received {
        match self.receive(peer, block, true) {
            Received::Unrequested => Received::Duplicate,
            received => received,
        }
    }

    fn receive(&mut self, peer: PeerKey, block: &Block, late: bool) -> Received {
        let Some(index) = self.geometry.block_index(block) else { return Received::Unrequested };
        if self.have.get(block.piece) {
            return Received::Duplicate;
        }
        let endgame = self.is_endgame();
        let Some(progress) = self.in_progress.get_mut(&block.piece) else {
            return Received::Unrequested;
        };
        let arrival = match late {
            true => progress.receive_late(index, peer),
            false => progress.receive(index, peer, endgame),
        };
        let requesters = match arrival {
            Arrival::Unrequested => return Received::Unrequested,
            Arrival::Duplicate => return Received::Duplicate,
            Arrival::Accepted(requesters) => requesters,
            Arrival::WasMissing => {
                self.free_blocks = self.free_blocks.saturating_sub(1);
                Requesters::none()
            }
        };
        let piece_complete = progress.is_fully_received();
        let id = BlockId { piece: block.piece, index };
        let mut cancel = Vec::new();
        for requester in requesters.iter() {
            if let Some(state) = self.peers.get_mut(&requester) {
                state.outstanding.remove(&id);
            }
            if requester != peer {
                cancel.push((requester, *block));
            }
        }
        Received::Accepted { piece_complete, cancel }
    }

    /// Up to `max` blocks of `piece` for `peer`, starting the piece if it is queued; none if
    /// we have it, do not want it or all its blocks are asked for. For a source that serves
    /// runs of the byte stream (a web seed), the piece after those it fetches is the cheapest
    /// to add to its request.
    pub fn pick_piece(&mut self, peer: PeerKey, piece: u32, max: usize) -> Vec<Block> {
        let mut picked = Vec::new();
        if max == 0 || self.is_complete() {
            return picked;
        }
        self.peer_state(peer);
        if self.availability.is_queued(piece) {
            self.start(piece);
        }
        if self.in_progress.contains_key(&piece) && self.may_serve(peer, piece) {
            self.take_free(peer, piece, max, &mut Vec::new(), &mut picked);
        }
        picked
    }

    /// Asks that the next download of `piece` come from one peer only, so that if it fails
    /// again the culprit is known, and if it passes the earlier senders can be judged.
    pub fn require_single_source(&mut self, piece: u32) {
        if !self.have.get(piece) {
            self.single_source.insert(piece, None);
        }
    }

    /// Whether `peer` may be asked for blocks of `piece`; the first peer asked for a
    /// single-source piece becomes its only source.
    fn may_serve(&mut self, peer: PeerKey, piece: u32) -> bool {
        match self.single_source.get_mut(&piece) {
            None => true,
            Some(owner @ None) => {
                *owner = Some(peer);
                true
            }
            Some(Some(owner)) => *owner == peer,
        }
    }

    /// Lets another peer take the single-source pieces `peer` held.
    pub(super) fn release_single_source(&mut self, peer: PeerKey) {
        for owner in self.single_source.values_mut() {
            if *owner == Some(peer) {
                *owner = None;
            }
        }
    }

    /// The peers whose blocks make up a piece in progress (sorted), e.g. to credit them when
    /// it verifies.
    pub fn contributors(&self, piece: u32) -> Vec<PeerKey> {
        let mut peers =
            self.in_progress.get(&piece).map_or_else(Vec::new, |p| p.contributors().to_vec());
        peers.sort_unstable();
        peers
    }

    /// The piece's hash matched: we have it. Returns requests for its blocks still out (only
    /// if it was verified before all its blocks arrived), to cancel.
    pub fn piece_verified(&mut self, piece: u32) -> Vec<(PeerKey, Block)> {
        if piece >= self.geometry.piece_count() || self.have.get(piece) {
            return Vec::new();
        }
        self.have.set(piece);
        self.have_count += 1;
        if self.done.get(piece) {
            self.skipped_count = self.skipped_count.saturating_sub(1); // no longer missing
        } else {
            self.done.set(piece);
            self.missing_bytes = self
                .missing_bytes
                .saturating_sub(u64::from(self.geometry.piece_len(PieceIndex(piece))));
        }
        self.availability.dequeue(piece);
        let (_, cancel) = self.stop(piece);
        cancel
    }

    /// The piece's hash did not match: all its blocks are missing again and it goes back to the
    /// queue. Returns the peers that sent its blocks, so the session can penalise them.
    pub fn piece_failed(&mut self, piece: u32) -> Vec<PeerKey> {
        if self.have.get(piece) || !self.in_progress.contains_key(&piece) {
            return Vec::new();
        }
        let (mut contributors, _) = self.stop(piece);
        self.availability.queue(piece);
        self.next_sequential = self.next_sequential.min(piece);
        contributors.sort_unstable();
        contributors
    }

    /// A queued piece `peer_has` has, by the current policy.
    fn choose_new_piece(&mut self, peer_has: &Bitfield) -> Option<u32> {
        if self.availability.queued_available() == 0 {
            return None;
        }
        let piece_count = self.geometry.piece_count();
        if self.sequential {
            while self.next_sequential < piece_count
                && !self.availability.is_queued(self.next_sequential)
            {
                self.next_sequential += 1;
            }
            self.availability.candidates(peer_has, self.next_sequential).next()
        } else if self.have_count < RANDOM_FIRST_PIECES {
            let from = fastrand::u32(..piece_count);
            self.availability.candidates(peer_has, from).next()
        } else {
            self.availability.rarest(peer_has)
        }
    }

    /// Moves a queued piece into progress, all blocks missing.
    fn start(&mut self, piece: u32) {
        self.availability.dequeue(piece);
        let block_count = self.geometry.block_count(PieceIndex(piece));
        self.in_progress.insert(piece, PieceProgress::new(block_count));
        self.started.push(piece);
        self.free_blocks += u64::from(block_count);
    }

    /// Takes a piece out of progress, releasing its requests. Returns its contributors and the
    /// requests that were still out.
    fn stop(&mut self, piece: u32) -> (Vec<PeerKey>, Vec<(PeerKey, Block)>) {
        self.single_source.remove(&piece);
        let Some(progress) = self.in_progress.remove(&piece) else {
            return (Vec::new(), Vec::new());
        };
        self.started.retain(|&p| p != piece);
        self.free_blocks = self.free_blocks.saturating_sub(u64::from(progress.free()));
        let mut cancel = Vec::new();
        for (index, requesters) in progress.requested() {
            let id = BlockId { piece, index };
            for requester in requesters.iter() {
                if let Some(state) = self.peers.get_mut(&requester) {
                    state.outstanding.remove(&id);
                }
                cancel.push((requester, self.geometry.block(PieceIndex(piece), index)));
            }
        }
        (progress.contributors().to_vec(), cancel)
    }

    /// Requests up to `max` missing blocks of `piece` from `peer`.
    fn take_free(
        &mut self,
        peer: PeerKey,
        piece: u32,
        max: usize,
        indexes: &mut Vec<u32>,
        picked: &mut Vec<Block>,
    ) {
        let Some(progress) = self.in_progress.get_mut(&piece) else { return };
        if progress.free() == 0 {
            return;
        }
        indexes.clear();
        progress.request_free(peer, max, indexes);
        self.free_blocks =
            self.free_blocks.saturating_sub(u64::try_from(indexes.len()).unwrap_or(u64::MAX));
        self.record(peer, piece, indexes, picked);
    }

    /// Endgame: requests from `peer` blocks already requested from others, least shared first.
    fn take_duplicates(
        &mut self,
        peer: PeerKey,
        peer_has: &Bitfield,
        max: usize,
        picked: &mut Vec<Block>,
    ) {
        let mut indexes = Vec::new();
        for already in 1..MAX_REQUESTERS {
            for position in 0..self.started.len() {
                let Some(&piece) = self.started.get(position) else { break };
                if picked.len() >= max {
                    return;
                }
                if !peer_has.get(piece) || !self.may_serve(peer, piece) {
                    continue;
                }
                let Some(progress) = self.in_progress.get_mut(&piece) else { continue };
                indexes.clear();
                progress.request_duplicates(peer, already, max - picked.len(), &mut indexes);
                self.record(peer, piece, &indexes, picked);
            }
        }
    }

    /// Notes newly requested blocks in the peer's outstanding set and the result.
    fn record(&mut self, peer: PeerKey, piece: u32, indexes: &[u32], picked: &mut Vec<Block>) {
        let geometry = self.geometry;
        let state = self.peer_state(peer);
        for &index in indexes {
            state.outstanding.insert(BlockId { piece, index });
            picked.push(geometry.block(PieceIndex(piece), index));
        }
    }
}
