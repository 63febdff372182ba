//! Answering BEP 52 hash requests from the torrent's piece layers, so a peer that joined by
//! a magnet link (and so has no `piece layers`) can check pieces before a whole file is in.
//!
//! We answer requests whose base layer is the piece layer or above, for any file with a
//! piece layer (a file of one piece or less has only its root, which the metadata carries),
//! for up to [`MAX_HASHES`] hashes; everything else gets a `hash reject`. Each file's tree
//! is built from its piece layer once, at the first request for it, and kept: answering
//! then costs no hashing, and the trees take at most about twice the piece layers' memory.

use std::collections::HashMap;

use super::swarm::Swarm;
use crate::merkle::{PieceTree, Span, leaves_per_piece};
use crate::peer::{PeerCommand, PeerKey};
use crate::wire::{HashRequest, Message};

/// Most hashes of a layer we send for one request (BEP 52: length SHOULD NOT pass 512).
pub const MAX_HASHES: u32 = 512;

/// The trees built so far, by file index.
#[derive(Default)]
pub(super) struct HashTrees {
    trees: HashMap<usize, PieceTree>,
}

impl Swarm {
    /// Answers a peer's `hash request` with `hashes` or `hash reject`.
    pub(super) fn on_hash_request(&mut self, key: PeerKey, request: HashRequest) {
        let answer = match self.hashes_for(&request) {
            Some(hashes) => Message::Hashes { request, hashes },
            None => Message::HashReject(request),
        };
        if let Some(peer) = self.peers.get(key) {
            peer.handle.send(PeerCommand::Send(vec![answer]));
        }
    }

    fn hashes_for(&mut self, request: &HashRequest) -> Option<Vec<crate::merkle::Node>> {
        if request.length > MAX_HASHES {
            return None;
        }
        let meta = &self.config.metainfo;
        let piece_level = leaves_per_piece(meta.info.piece_length).trailing_zeros();
        let base = request.base_layer.checked_sub(piece_level)?;
        let file =
            meta.info.files.iter().position(|f| f.pieces_root == Some(request.pieces_root))?;
        let layer = meta.piece_layers.get(file).filter(|layer| !layer.is_empty())?;
        let piece_length = meta.info.piece_length;
        let tree = self
            .hash_trees
            .trees
            .entry(file)
            .or_insert_with(|| PieceTree::new(layer, piece_length));
        let span =
            Span::new(base, request.index, request.length, request.proof_layers, tree.height())?;
        tree.answer(span)
    }
}
