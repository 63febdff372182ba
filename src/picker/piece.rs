//! One piece in progress: the state of each of its blocks and which peers delivered them.
//!
//! Invariants:
//! - each block is in exactly one state: missing, requested (from 1 to [`MAX_REQUESTERS`]
//!   distinct peers), or received;
//! - `free` counts the missing blocks and `received` the received ones;
//! - no block below `first_free` is missing;
//! - `contributors` lists, once each, the peers whose blocks were accepted since the piece was
//!   started.
//!
//! A piece exists only while it is in progress, so memory follows the pieces in flight, not
//! the size of the torrent.

use super::PeerKey;

/// The most peers one block is requested from at once (more than one only in endgame).
pub const MAX_REQUESTERS: usize = 3;

/// The distinct peers a block is requested from, stored inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Requesters {
    peers: [PeerKey; MAX_REQUESTERS],
    len: usize,
}

impl Requesters {
    /// Nobody.
    pub(super) fn none() -> Requesters {
        Requesters { peers: [PeerKey(0); MAX_REQUESTERS], len: 0 }
    }

    fn one(peer: PeerKey) -> Requesters {
        Requesters { peers: [peer; MAX_REQUESTERS], len: 1 }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn contains(&self, peer: PeerKey) -> bool {
        self.iter().any(|p| p == peer)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = PeerKey> + '_ {
        self.peers.iter().take(self.len).copied()
    }

    fn push(&mut self, peer: PeerKey) -> bool {
        if self.contains(peer) {
            return false;
        }
        match self.peers.get_mut(self.len) {
            Some(slot) => {
                *slot = peer;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    fn remove(&mut self, peer: PeerKey) -> bool {
        let Some(position) = self.iter().position(|p| p == peer) else { return false };
        self.peers[..self.len].swap(position, self.len - 1);
        self.len -= 1;
        true
    }
}

#[derive(Clone, Copy, Debug)]
enum BlockState {
    Missing,
    Requested(Requesters),
    Received,
}

/// What a delivered block means for the piece.
#[derive(Debug)]
pub(super) enum Arrival {
    /// Not requested from this peer (or from anyone): drop it.
    Unrequested,
    /// Already received.
    Duplicate,
    /// Stored; these peers had it requested (the sender among them if it was asked).
    Accepted(Requesters),
    /// Stored; it was missing (requested from nobody).
    WasMissing,
}

/// The blocks of one piece in progress.
#[derive(Debug)]
pub(super) struct PieceProgress {
    blocks: Vec<BlockState>,
    free: u32,
    received: u32,
    first_free: u32,
    contributors: Vec<PeerKey>,
}

impl PieceProgress {
    /// A piece of `block_count` blocks, all missing.
    pub(super) fn new(block_count: u32) -> PieceProgress {
        PieceProgress {
            blocks: vec![BlockState::Missing; super::ix(block_count)],
            free: block_count,
            received: 0,
            first_free: 0,
            contributors: Vec::new(),
        }
    }

    /// Missing blocks: neither requested nor received.
    pub(super) fn free(&self) -> u32 {
        self.free
    }

    pub(super) fn is_fully_received(&self) -> bool {
        self.received >= u32::try_from(self.blocks.len()).unwrap_or(u32::MAX)
    }

    pub(super) fn contributors(&self) -> &[PeerKey] {
        &self.contributors
    }

    /// Requests up to `max` missing blocks from `peer`, lowest first, appending their indexes.
    pub(super) fn request_free(&mut self, peer: PeerKey, max: usize, out: &mut Vec<u32>) {
        let mut taken = 0;
        let start = super::ix(self.first_free);
        for (index, state) in (self.first_free..).zip(self.blocks.iter_mut().skip(start)) {
            if taken == max || self.free == 0 {
                break;
            }
            if matches!(state, BlockState::Missing) {
                *state = BlockState::Requested(Requesters::one(peer));
                self.free -= 1;
                out.push(index);
                taken += 1;
            }
            self.first_free = index + 1;
        }
    }

    /// Endgame: also requests from `peer` up to `max` blocks now requested from exactly
    /// `already` other peers, appending their indexes.
    pub(super) fn request_duplicates(
        &mut self,
        peer: PeerKey,
        already: usize,
        max: usize,
        out: &mut Vec<u32>,
    ) {
        let mut taken = 0;
        for (index, state) in (0u32..).zip(self.blocks.iter_mut()) {
            if taken == max {
                break;
            }
            if let BlockState::Requested(requesters) = state
                && requesters.len() == already
                && requesters.push(peer)
            {
                out.push(index);
                taken += 1;
            }
        }
    }

    /// Block `index` arrived from `peer`. It is accepted if it was requested from `peer`, or
    /// from anyone when `from_anyone` (endgame), and not yet received.
    pub(super) fn receive(&mut self, index: u32, peer: PeerKey, from_anyone: bool) -> Arrival {
        let Some(state) = self.blocks.get_mut(super::ix(index)) else {
            return Arrival::Unrequested;
        };
        match *state {
            BlockState::Received => Arrival::Duplicate,
            BlockState::Missing => Arrival::Unrequested,
            BlockState::Requested(requesters) if from_anyone || requesters.contains(peer) => {
                *state = BlockState::Received;
                self.received += 1;
                if !self.contributors.contains(&peer) {
                    self.contributors.push(peer);
                }
                Arrival::Accepted(requesters)
            }
            BlockState::Requested(_) => Arrival::Unrequested,
        }
    }

    /// Block `index` arrived from `peer` after we gave its request back: accepted unless it
    /// was already received, whether it is missing or requested from others now.
    pub(super) fn receive_late(&mut self, index: u32, peer: PeerKey) -> Arrival {
        let Some(state) = self.blocks.get_mut(super::ix(index)) else {
            return Arrival::Unrequested;
        };
        let arrival = match *state {
            BlockState::Received => return Arrival::Duplicate,
            BlockState::Missing => {
                self.free -= 1;
                Arrival::WasMissing
            }
            BlockState::Requested(requesters) => Arrival::Accepted(requesters),
        };
        *state = BlockState::Received;
        self.received += 1;
        if !self.contributors.contains(&peer) {
            self.contributors.push(peer);
        }
        arrival
    }

    /// `peer` will not send block `index` after all. Returns whether the block is missing again
    /// (no other peer has it requested).
    pub(super) fn release(&mut self, index: u32, peer: PeerKey) -> bool {
        let Some(state) = self.blocks.get_mut(super::ix(index)) else { return false };
        let BlockState::Requested(requesters) = state else { return false };
        if !requesters.remove(peer) || requesters.len() > 0 {
            return false;
        }
        *state = BlockState::Missing;
        self.free += 1;
        self.first_free = self.first_free.min(index);
        true
    }

    /// The blocks still requested, with their requesters.
    pub(super) fn requested(&self) -> impl Iterator<Item = (u32, Requesters)> + '_ {
        (0u32..).zip(&self.blocks).filter_map(|(index, state)| match state {
            BlockState::Requested(requesters) => Some((index, *requesters)),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_requested_from_at_most_max_requesters() {
        let mut piece = PieceProgress::new(1);
        let mut out = Vec::new();
        piece.request_free(PeerKey(0), 1, &mut out);
        for (already, peer) in (1..).zip(1..5) {
            piece.request_duplicates(PeerKey(peer), already, 1, &mut out);
        }
        assert_eq!(out, [0, 0, 0]);
        let (_, requesters) = piece.requested().next().expect("block 0 is requested");
        assert_eq!(requesters.len(), MAX_REQUESTERS);
    }

    #[test]
    fn released_block_is_missing_only_when_no_requester_is_left() {
        let mut piece = PieceProgress::new(2);
        let mut out = Vec::new();
        piece.request_free(PeerKey(0), 2, &mut out);
        piece.request_duplicates(PeerKey(1), 1, 1, &mut out);
        assert!(!piece.release(0, PeerKey(0)));
        assert!(piece.release(0, PeerKey(1)));
        assert!(!piece.release(0, PeerKey(1)));
        assert_eq!(piece.free(), 1);
        out.clear();
        piece.request_free(PeerKey(2), 5, &mut out);
        assert_eq!(out, [0]);
    }
}
