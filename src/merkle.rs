//! The BEP 52 merkle tree math: SHA-256 over 16 KiB blocks of one file, pure and without I/O.
//!
//! Each file has its own binary tree. Its leaves are the SHA-256 of each 16 KiB block (the
//! last one hashed as it is, shorter); the tree is padded on the right to a power of two with
//! leaves of 32 zero bytes, and each parent is the SHA-256 of its two children. The `pieces
//! root` is the tree's root; the piece layer is the level whose nodes each cover one piece
//! (`piece length / 16 KiB` leaves). A file of one piece or less has no piece layer: its
//! root covers `next_power_of_two(blocks)` leaves.
//!
//! Padding subtrees are never built leaf by leaf: [`pad_hash`] gives the root of a subtree of
//! zero leaves at any height in O(height), so memory stays proportional to the real leaves.

mod below;
mod tree;

use sha2::{Digest, Sha256};

pub use below::{answer_below, units_below};
pub use tree::{PieceTree, Span, check_answer};

/// Bytes per leaf block (BEP 52).
pub const LEAF_LEN: usize = 16 * 1024;

/// A SHA-256 node of a merkle tree.
pub type Node = [u8; 32];

/// The SHA-256 of one leaf block.
pub fn leaf(block: &[u8]) -> Node {
    Sha256::digest(block).into()
}

/// The parent of two nodes.
pub fn parent(left: &Node, right: &Node) -> Node {
    let mut hasher = Sha256::new();
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of a subtree of `2^height` zero leaves.
pub fn pad_hash(height: u32) -> Node {
    let mut node = [0u8; 32];
    for _ in 0..height {
        node = parent(&node, &node);
    }
    node
}

/// The root of `nodes` (all at the same height `height` above the leaves), padded on the
/// right with zero subtrees to `width` nodes; `width` is a power of two ≥ `nodes.len()`.
pub fn root_of(nodes: &[Node], width: usize, height: u32) -> Node {
    if nodes.is_empty() {
        let levels = width.max(1).trailing_zeros();
        return pad_hash(height + levels);
    }
    let mut level: Vec<Node> = nodes.to_vec();
    let mut width = width.max(1);
    let mut pad = pad_hash(height);
    while width > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for pair in level.chunks(2) {
            let right = pair.get(1).unwrap_or(&pad);
            next.push(parent(&pair[0], right));
        }
        pad = parent(&pad, &pad);
        level = next;
        width /= 2;
    }
    level[0]
}

/// Leaves per piece: `piece_length / 16 KiB` (a power of two for a valid v2 torrent).
pub fn leaves_per_piece(piece_length: u32) -> usize {
    usize::try_from(piece_length).unwrap_or(usize::MAX) / LEAF_LEN
}

/// How many leaves a file's piece-sized subtree is padded to: a whole piece's for a file
/// longer than one piece, else the next power of two of its own block count.
pub fn piece_width(file_length: u64, piece_length: u32) -> usize {
    if file_length > u64::from(piece_length) {
        leaves_per_piece(piece_length)
    } else {
        let blocks = usize::try_from(file_length.div_ceil(LEAF_LEN as u64)).unwrap_or(usize::MAX);
        blocks.max(1).next_power_of_two()
    }
}

/// The hash of one piece's bytes (or of a whole file of one piece or less), with its leaves
/// padded to `width`.
pub fn piece_hash(bytes: &[u8], width: usize) -> Node {
    let leaves: Vec<Node> = bytes.chunks(LEAF_LEN).map(leaf).collect();
    root_of(&leaves, width, 0)
}

/// The `pieces root` of a file longer than one piece, from its piece layer.
pub fn root_from_layer(layer: &[Node], piece_length: u32) -> Node {
    let height = leaves_per_piece(piece_length).trailing_zeros();
    root_of(layer, layer.len().max(1).next_power_of_two(), height)
}

/// Incremental hashing of one piece's worth of bytes fed in any slices: leaves are hashed as
/// each 16 KiB fills, so the caller needs no buffer of its own.
#[derive(Default)]
pub struct PieceHasher {
    leaves: Vec<Node>,
    block: Sha256,
    in_block: usize,
}

impl PieceHasher {
    /// Feeds the next bytes.
    pub fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let take = (LEAF_LEN - self.in_block).min(bytes.len());
            self.block.update(&bytes[..take]);
            self.in_block += take;
            bytes = &bytes[take..];
            if self.in_block == LEAF_LEN {
                self.leaves.push(self.block.finalize_reset().into());
                self.in_block = 0;
            }
        }
    }

    /// The piece hash with leaves padded to `width`; the hasher is empty again afterwards.
    pub fn finish(&mut self, width: usize) -> Node {
        if self.in_block > 0 {
            self.leaves.push(self.block.finalize_reset().into());
            self.in_block = 0;
        }
        let root = root_of(&self.leaves, width, 0);
        self.leaves.clear();
        root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tree built leaf by leaf, the way BEP 52 describes it.
    fn naive_root(bytes: &[u8], leaves: usize) -> Node {
        let mut level: Vec<Node> = bytes.chunks(LEAF_LEN).map(leaf).collect();
        level.resize(leaves, [0; 32]);
        while level.len() > 1 {
            level = level.chunks(2).map(|p| parent(&p[0], &p[1])).collect();
        }
        level[0]
    }

    #[test]
    fn padding_subtrees_equal_zero_leaves_built_one_by_one() {
        let bytes: Vec<u8> = (0..5 * LEAF_LEN + 100).map(|i| (i % 251).to_le_bytes()[0]).collect();
        assert_eq!(piece_hash(&bytes, 8), naive_root(&bytes, 8));
        assert_eq!(piece_hash(&bytes, 16), naive_root(&bytes, 16));
        assert_eq!(piece_hash(&bytes[..10], 1), leaf(&bytes[..10]));
    }

    #[test]
    fn a_root_from_the_piece_layer_equals_the_root_over_all_leaves() {
        let piece_length = 4 * 16_384u32;
        let bytes: Vec<u8> =
            (0..9 * LEAF_LEN + 7).map(|i| (i * 7 % 253).to_le_bytes()[0]).collect();
        let width = piece_width(bytes.len() as u64, piece_length);
        assert_eq!(width, 4);
        let layer: Vec<Node> = bytes.chunks(4 * LEAF_LEN).map(|p| piece_hash(p, width)).collect();
        assert_eq!(layer.len(), 3);
        assert_eq!(root_from_layer(&layer, piece_length), naive_root(&bytes, 16));
    }

    #[test]
    fn the_incremental_hasher_matches_whatever_the_slices() {
        let bytes: Vec<u8> = (0..3 * LEAF_LEN + 5).map(|i| (i % 241).to_le_bytes()[0]).collect();
        let mut hasher = PieceHasher::default();
        for part in bytes.chunks(1000) {
            hasher.update(part);
        }
        assert_eq!(hasher.finish(4), piece_hash(&bytes, 4));
        hasher.update(&bytes[..LEAF_LEN]);
        assert_eq!(hasher.finish(1), leaf(&bytes[..LEAF_LEN]), "the hasher starts afresh");
    }
}
