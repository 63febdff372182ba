//! The swarm side of the picker: what each peer has (feeding the availability counts) and
//! which blocks are requested from it.
//!
//! Invariants:
//! - a peer's [`Holdings`] are exactly what it adds to the availability counts: one seed for
//!   [`Holdings::All`], one per set piece for [`Holdings::Pieces`];
//! - a block is in a peer's `outstanding` set iff the peer is among the block's requesters.

use std::collections::HashSet;

use super::{Block, BlockId, PeerKey, Picker};
use crate::bitfield::Bitfield;

/// What a peer has told us it has.
#[derive(Debug)]
pub(super) enum Holdings {
    Pieces(Bitfield),
    All,
}

#[derive(Debug)]
pub(super) struct PeerState {
    holdings: Holdings,
    pub(super) outstanding: HashSet<BlockId>,
}

impl Picker {
    /// A new connection; it has nothing until it says so.
    pub fn peer_joined(&mut self, peer: PeerKey) {
        self.peer_state(peer);
    }

    /// The peer's `bitfield` message: replaces what we knew it had. Bits past our piece count
    /// are ignored.
    pub fn peer_bitfield(&mut self, peer: PeerKey, bitfield: &Bitfield) {
        let piece_count = self.geometry.piece_count();
        if bitfield.len() == piece_count && bitfield.is_complete() {
            self.peer_have_all(peer);
            return;
        }
        self.forget_holdings(peer);
        let mut pieces = Bitfield::new(piece_count);
        for piece in bitfield.iter_set().take_while(|&p| p < piece_count) {
            pieces.set(piece);
            self.availability.add(piece);
        }
        self.peer_state(peer).holdings = Holdings::Pieces(pieces);
    }

    /// The peer's BEP 6 `have all` message (or a full bitfield).
    pub fn peer_have_all(&mut self, peer: PeerKey) {
        self.forget_holdings(peer);
        self.availability.add_seed();
        self.peer_state(peer).holdings = Holdings::All;
    }

    /// The peer's `have` message. An index past the end is ignored.
    pub fn peer_have(&mut self, peer: PeerKey, piece: u32) {
        if piece >= self.geometry.piece_count() {
            return;
        }
        if let Holdings::Pieces(pieces) = &mut self.peer_state(peer).holdings
            && !pieces.get(piece)
        {
            pieces.set(piece);
            self.availability.add(piece);
        }
    }

    /// The connection is gone: its pieces no longer count and its requests return to the pool.
    pub fn peer_left(&mut self, peer: PeerKey) {
        self.release_all(peer);
        self.forget_holdings(peer);
        self.peers.remove(&peer);
    }

    /// The peer choked us without the fast extension, dropping all our requests: they return
    /// to the pool. Returns them, to cancel (a block that still arrives is then no offence,
    /// see [`Picker::block_received_late`]).
    pub fn peer_choked(&mut self, peer: PeerKey) -> Vec<Block> {
        self.release_all(peer)
    }

    /// The peer stopped answering: its requests return to the pool so other peers can take
    /// them. Returns them, to cancel.
    pub fn peer_timed_out(&mut self, peer: PeerKey) -> Vec<Block> {
        self.release_all(peer)
    }

    /// The peer sent BEP 6 `reject` for a request: the block returns to the pool. A reject for
    /// a block we did not request from this peer is ignored.
    pub fn request_rejected(&mut self, peer: PeerKey, block: &Block) {
        let Some(index) = self.geometry.block_index(block) else { return };
        let id = BlockId { piece: block.piece, index };
        let removed = self.peers.get_mut(&peer).is_some_and(|state| state.outstanding.remove(&id));
        if removed {
            self.release(peer, id);
        }
    }

    pub(super) fn peer_state(&mut self, peer: PeerKey) -> &mut PeerState {
        let piece_count = self.geometry.piece_count();
        self.peers.entry(peer).or_insert_with(|| PeerState {
            holdings: Holdings::Pieces(Bitfield::new(piece_count)),
            outstanding: HashSet::new(),
        })
    }

    /// Takes what `peer` had out of the availability counts, leaving it with nothing.
    fn forget_holdings(&mut self, peer: PeerKey) {
        let Some(state) = self.peers.get_mut(&peer) else { return };
        let empty = Holdings::Pieces(Bitfield::new(0));
        match std::mem::replace(&mut state.holdings, empty) {
            Holdings::All => self.availability.remove_seed(),
            Holdings::Pieces(pieces) => {
                for piece in pieces.iter_set() {
                    self.availability.remove(piece);
                }
            }
        }
        state.holdings = Holdings::Pieces(Bitfield::new(self.geometry.piece_count()));
    }

    /// Returns every block outstanding from `peer` to the pool; returns them.
    fn release_all(&mut self, peer: PeerKey) -> Vec<Block> {
        self.release_single_source(peer);
        let Some(state) = self.peers.get_mut(&peer) else { return Vec::new() };
        let mut outstanding: Vec<BlockId> = state.outstanding.drain().collect();
        outstanding.sort_unstable_by_key(|id| (id.piece, id.index));
        let geometry = self.geometry;
        outstanding
            .into_iter()
            .map(|id| {
                self.release(peer, id);
                geometry.block(crate::types::PieceIndex(id.piece), id.index)
            })
            .collect()
    }

    /// Drops `peer` from the requesters of `id` (already out of the peer's outstanding set).
    pub(super) fn release(&mut self, peer: PeerKey, id: BlockId) {
        if let Some(progress) = self.in_progress.get_mut(&id.piece)
            && progress.release(id.index, peer)
        {
            self.free_blocks += 1;
        }
    }
}
