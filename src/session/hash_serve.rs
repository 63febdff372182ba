//! Answering BEP 52 hash requests, so a peer that joined by a magnet link (and so has no
//! `piece layers`) can check pieces before a whole file is in, and one that got a bad piece
//! can find the bad blocks.
//!
//! A request whose base layer is the piece layer or above is answered from the torrent's
//! piece layers, for any file that has one (a file of one piece or less has only its root,
//! which the metadata carries). Each file's tree is built from its piece layer once, at the
//! first request for it, and kept: answering then costs no hashing, and the trees take at
//! most about twice the piece layers' memory.
//!
//! A request below the piece layer (down to the 16 KiB leaves) is answered only when every
//! piece it covers is verified here: its leaves are hashed again from the data on disk, on
//! the rayon pool, and the answer comes back as [`Control::HashAnswer`]. That work is
//! bounded: at most [`MAX_LEAVES`] leaves (or one piece, when pieces are larger) for one
//! request, at most [`MAX_LEAF_JOBS`] requests at once, and about [`LEAVES_PER_SECOND`]
//! leaves a second over time. Everything else, and whatever the bounds refuse, gets a `hash
//! reject`, as does a request whose data no longer matches its piece's hash.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::channels::Control;
use super::swarm::Swarm;
use crate::merkle::{
    Node, PieceTree, Span, answer_below, leaves_per_piece, piece_width, units_below,
};
use crate::peer::{PeerCommand, PeerKey};
use crate::types::PieceIndex;
use crate::wire::{HashRequest, Message};

/// Most hashes of a layer we send for one request (BEP 52: length SHOULD NOT pass 512).
pub const MAX_HASHES: u32 = 512;
/// Most leaves hashed from data for one request (8 MiB), unless one piece has more.
pub const MAX_LEAVES: u64 = 512;
/// Requests below the piece layer being answered at once.
pub const MAX_LEAF_JOBS: usize = 2;
/// Leaves a second hashed from data for requests below the piece layer (32 MiB a second),
/// and the most that may be saved up.
pub const LEAVES_PER_SECOND: u64 = 2048;

/// One file's tree from its piece layer up, and how many levels of leaves lie below that.
struct FileTree {
    tree: Arc<PieceTree>,
    /// Levels from the leaves to the tree's level 0: a piece's, or for a file of one piece
    /// or less, its whole width's.
    unit_height: u32,
    /// Whether level 0 is a real piece layer (else it is the file's root alone).
    has_layer: bool,
}

/// The trees built so far, by file index, and the bounds on hashing for requests.
pub(super) struct HashTrees {
    trees: HashMap<usize, FileTree>,
    budget: LeafBudget,
    jobs: Arc<AtomicUsize>,
}

impl Default for HashTrees {
    fn default() -> HashTrees {
        HashTrees {
            trees: HashMap::new(),
            budget: LeafBudget::new(Instant::now()),
            jobs: Arc::new(AtomicUsize::new(0)),
        }
    }
}

/// Leaves we may still hash, earned at [`LEAVES_PER_SECOND`] up to one second's worth.
struct LeafBudget {
    leaves: u64,
    since: Instant,
}

impl LeafBudget {
    fn new(now: Instant) -> LeafBudget {
        LeafBudget { leaves: LEAVES_PER_SECOND, since: now }
    }

    /// Spends `cost` leaves if there are enough; a cost above a full budget takes a full
    /// budget, so no request is refused forever.
    fn take(&mut self, cost: u64, now: Instant) -> bool {
        let millis = u64::try_from(now.saturating_duration_since(self.since).as_millis());
        let earned = millis.unwrap_or(u64::MAX).saturating_mul(LEAVES_PER_SECOND) / 1000;
        if earned > 0 {
            self.leaves = self.leaves.saturating_add(earned).min(LEAVES_PER_SECOND);
            self.since = now;
        }
        if self.leaves < cost.min(LEAVES_PER_SECOND) {
            return false;
        }
        self.leaves = self.leaves.saturating_sub(cost);
        true
    }
}

/// How a request is answered.
enum Answer {
    /// At once, with these hashes.
    Now(Vec<Node>),
    /// By a job that hashes data, later.
    Later,
}

impl Swarm {
    /// Answers a peer's `hash request` with `hashes` or `hash reject`, now or once the
    /// data it needs is hashed.
    pub(super) fn on_hash_request(&mut self, key: PeerKey, request: HashRequest) {
        let answer = match self.hashes_for(key, &request) {
            Some(Answer::Later) => return,
            Some(Answer::Now(hashes)) => Message::Hashes { request, hashes },
            None => Message::HashReject(request),
        };
        self.send_hash_answer(key, answer);
    }

    /// Sends an answer to a hash request, if the peer is still here.
    pub(super) fn send_hash_answer(&mut self, key: PeerKey, answer: Message) {
        if let Some(peer) = self.peers.get(key) {
            peer.handle.send(PeerCommand::Send(vec![answer]));
        }
    }

    fn hashes_for(&mut self, key: PeerKey, request: &HashRequest) -> Option<Answer> {
        if request.length > MAX_HASHES {
            return None;
        }
        let meta = &self.config.metainfo;
        let file =
            meta.info.files.iter().position(|f| f.pieces_root == Some(request.pieces_root))?;
        let tree = match self.hash_trees.trees.entry(file) {
            std::collections::hash_map::Entry::Occupied(tree) => tree.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => slot.insert(file_tree(meta, file)?),
        };
        if let Some(base) = request.base_layer.checked_sub(tree.unit_height) {
            if !tree.has_layer {
                return None;
            }
            let span = Span::new(
                base,
                request.index,
                request.length,
                request.proof_layers,
                tree.tree.height(),
            )?;
            return tree.tree.answer(span).map(Answer::Now);
        }
        self.hash_leaves(key, file, request)
    }

    /// Starts the job answering `request`, whose base layer is below file `file`'s piece
    /// layer, if every piece it covers is here and the bounds allow it.
    fn hash_leaves(&mut self, key: PeerKey, file: usize, request: &HashRequest) -> Option<Answer> {
        let meta = self.config.metainfo.clone();
        let tree = self.hash_trees.trees.get(&file)?;
        let (unit_height, top) = (tree.unit_height, tree.tree.clone());
        let height = unit_height.checked_add(top.height())?;
        let span = Span::new(
            request.base_layer,
            request.index,
            request.length,
            request.proof_layers,
            height,
        )?;
        let pieces = meta.layout().file_pieces(file);
        let units = u64::from(pieces.end - pieces.start);
        let covered = units_below(span, unit_height)?;
        let real = covered.start.min(units)..covered.end.min(units);
        let mut verified = real.clone().map(|unit| {
            let piece = u64::from(pieces.start) + unit;
            u32::try_from(piece).is_ok_and(|piece| self.picker.have().get(piece))
        });
        if !verified.all(|have| have) {
            return None;
        }
        let per_unit = 1u64.checked_shl(unit_height)?;
        let cost = (real.end - real.start).saturating_mul(per_unit);
        let jobs = self.hash_trees.jobs.clone();
        if cost > MAX_LEAVES.max(per_unit) || jobs.load(Ordering::Acquire) >= MAX_LEAF_JOBS {
            return None;
        }
        if !self.hash_trees.budget.take(cost, Instant::now()) {
            return None;
        }
        jobs.fetch_add(1, Ordering::AcqRel);
        let storage = self.disk.storage.clone();
        let control = self.channels.control.clone();
        let request = *request;
        let first = pieces.start;
        rayon::spawn(move || {
            let leaves_of = |unit: u64| {
                let piece = PieceIndex(first.checked_add(u32::try_from(unit).ok()?)?);
                let part = meta.v2_piece(piece).filter(|part| part.file == file)?;
                crate::hash::leaf_hashes(&storage, part.bytes).ok()
            };
            let message = match answer_below(&top, unit_height, units, span, leaves_of) {
                Some(hashes) => Message::Hashes { request, hashes },
                None => Message::HashReject(request),
            };
            jobs.fetch_sub(1, Ordering::AcqRel);
            let _ = control.send(Control::HashAnswer { key, message });
        });
        Some(Answer::Later)
    }
}

/// The tree of file `file` from its piece layer (or, for a file of one piece or less, its
/// root) up; `None` for a file without a `pieces root`.
fn file_tree(meta: &crate::metainfo::Metainfo, file: usize) -> Option<FileTree> {
    let entry = meta.info.files.get(file)?;
    let root = entry.pieces_root?;
    let piece_length = meta.info.piece_length;
    let layer = meta.piece_layers.get(file).filter(|layer| !layer.is_empty());
    Some(match layer {
        Some(layer) => FileTree {
            tree: Arc::new(PieceTree::new(layer, piece_length)),
            unit_height: leaves_per_piece(piece_length).trailing_zeros(),
            has_layer: true,
        },
        None => FileTree {
            tree: Arc::new(PieceTree::new(&[root], piece_length)),
            unit_height: piece_width(entry.length, piece_length).trailing_zeros(),
            has_layer: false,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_leaf_budget_refills_at_its_rate_and_lets_a_big_request_through_when_full() {
        let start = Instant::now();
        let mut budget = LeafBudget::new(start);
        assert!(budget.take(1500, start));
        assert!(!budget.take(1000, start), "548 left");
        assert!(budget.take(1000, start + Duration::from_millis(250)), "512 more earned");
        assert!(!budget.take(5000, start + Duration::from_millis(250)));
        assert!(budget.take(5000, start + Duration::from_secs(2)), "a full budget pays");
        assert!(!budget.take(1, start + Duration::from_secs(2)));
    }
}
