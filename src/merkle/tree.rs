//! A file's merkle tree from its piece layer up to its `pieces root`, and the BEP 52 hash
//! answers cut from it: the hashes of one layer and the uncle hashes that prove them.
//!
//! [`PieceTree`] keeps every level from the piece layer (padded to a power of two with the
//! hash of an all-zero piece) to the root, so an answer costs no hashing: about twice the
//! piece layer's memory, which the torrent already holds. [`check_answer`] is the other
//! side: it folds the hashes a peer sent, with their uncles, up to the root we know.
//!
//! Levels here count from the piece layer (0) up; a request's base layer counts from the
//! leaves, so callers subtract the piece layer's height first. A proof of `proof_layers`
//! reaches `proof_layers + 1` levels above the base; the levels the requested hashes already
//! determine carry no uncle (BEP 52: "the first log2(length)-1 proof layers are omitted").

use super::{Node, leaves_per_piece, pad_hash, parent};

/// Every level of a file's tree from its piece layer to its root.
#[derive(Clone, Debug)]
pub struct PieceTree {
    /// `levels[0]` is the padded piece layer; the last holds the root alone.
    levels: Vec<Vec<Node>>,
}

/// Where a hash request's answer lies in a tree, checked: see [`Span::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Level of the requested hashes above the piece layer.
    pub base: u32,
    /// Index of the first requested hash in that level.
    pub index: u32,
    /// Number of hashes requested.
    pub length: u32,
    /// Uncle hashes that follow them.
    pub uncles: u32,
}

impl Span {
    /// The answer's shape for a request of `length` hashes at `index` of level `base` with
    /// `proof_layers`, in a tree whose root is `height` levels above the piece layer and
    /// whose level `base` so holds `2^(height - base)` hashes; `None` when the request does
    /// not fit: `length` is 0, `index` is not a multiple of `length` rounded up to a power
    /// of two, the range passes the level's end, or the proof
    /// would pass the root (as libtorrent, we take `proof_layers` below the distance to the
    /// root, so a request at the root's own level never fits).
    pub fn new(base: u32, index: u32, length: u32, proof_layers: u32, height: u32) -> Option<Span> {
        let above = height.checked_sub(base)?;
        let width = 1u64.checked_shl(above)?;
        let run = u64::from(length).checked_next_power_of_two()?;
        let end = u64::from(index).checked_add(u64::from(length))?;
        if length == 0 || run > width || end > width || u64::from(index) % run != 0 {
            return None;
        }
        let spanned = run.trailing_zeros();
        if proof_layers >= above {
            return None;
        }
        let uncles = (proof_layers + 1).saturating_sub(spanned).min(above - spanned);
        Some(Span { base, index, length, uncles })
    }

    /// Levels the requested hashes span before the first uncle.
    fn spanned(&self) -> u32 {
        self.length.next_power_of_two().trailing_zeros()
    }
}

impl PieceTree {
    /// The tree over `layer` (one hash per piece, as in `piece layers`) for pieces of
    /// `piece_length` bytes.
    pub fn new(layer: &[Node], piece_length: u32) -> PieceTree {
        let width = layer.len().max(1).next_power_of_two();
        let mut pad = pad_hash(leaves_per_piece(piece_length).trailing_zeros());
        let mut level = layer.to_vec();
        level.resize(width, pad);
        let mut levels = vec![level];
        while levels.last().is_some_and(|level| level.len() > 1) {
            let below = levels.last().map(Vec::as_slice).unwrap_or_default();
            let next =
                below.chunks(2).map(|pair| parent(&pair[0], pair.get(1).unwrap_or(&pad))).collect();
            pad = parent(&pad, &pad);
            levels.push(next);
        }
        PieceTree { levels }
    }

    /// Levels from the piece layer to the root.
    pub fn height(&self) -> u32 {
        u32::try_from(self.levels.len().saturating_sub(1)).unwrap_or(u32::MAX)
    }

    /// The node at `index` of `level` (0 is the padded piece layer), if there is one.
    pub fn node(&self, level: u32, index: usize) -> Option<Node> {
        self.levels.get(usize::try_from(level).ok()?)?.get(index).copied()
    }

    /// The root: the file's `pieces root` when the layer is right.
    pub fn root(&self) -> Node {
        self.levels.last().and_then(|level| level.first()).copied().unwrap_or_default()
    }

    /// The requested hashes then their uncles, for a span made by [`Span::new`] with this
    /// tree's height.
    pub fn answer(&self, span: Span) -> Option<Vec<Node>> {
        let level = self.levels.get(usize::try_from(span.base).ok()?)?;
        let start = usize::try_from(span.index).ok()?;
        let end = start.checked_add(usize::try_from(span.length).ok()?)?;
        let mut out = level.get(start..end)?.to_vec();
        let first = span.base + span.spanned();
        let mut position = start >> span.spanned();
        for at in first..first + span.uncles {
            out.push(*self.levels.get(usize::try_from(at).ok()?)?.get(position ^ 1)?);
            position >>= 1;
        }
        Some(out)
    }
}

/// Checks `hashes`, a peer's answer for `span` in a tree of `height` levels above its
/// level 0 whose root is `root`: the requested hashes folded with the uncles must give the
/// root. Only answers whose proof reaches the root can be checked this way.
pub fn check_answer(root: &Node, span: Span, height: u32, hashes: &[Node]) -> bool {
    let (Ok(length), Ok(uncles)) = (usize::try_from(span.length), usize::try_from(span.uncles))
    else {
        return false;
    };
    if hashes.len() != length + uncles || !span.length.is_power_of_two() {
        return false;
    }
    if span.base + span.spanned() + span.uncles != height {
        return false;
    }
    let (level, proof) = hashes.split_at(length);
    let mut level = level.to_vec();
    while level.len() > 1 {
        level = level.chunks(2).map(|pair| parent(&pair[0], &pair[1])).collect();
    }
    let Some(mut node) = level.first().copied() else { return false };
    let mut position = span.index >> span.spanned();
    for uncle in proof {
        node = if position.is_multiple_of(2) { parent(&node, uncle) } else { parent(uncle, &node) };
        position >>= 1;
    }
    node == *root
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::root_from_layer;

    const PIECE: u32 = 32 * 1024;

    fn layer(n: u8) -> Vec<Node> {
        (0..n).map(|i| [i; 32]).collect()
    }

    #[test]
    fn the_tree_root_is_the_pieces_root() {
        for n in [2, 3, 5, 8, 22] {
            let tree = PieceTree::new(&layer(n), PIECE);
            assert_eq!(tree.root(), root_from_layer(&layer(n), PIECE), "{n} pieces");
        }
        assert_eq!(PieceTree::new(&layer(22), PIECE).height(), 5, "32 wide");
    }

    #[test]
    fn a_whole_layer_needs_no_uncle_and_checks_against_the_root() {
        let tree = PieceTree::new(&layer(22), PIECE);
        // libtorrent's request for a 22-piece file: 32 hashes, proof layers 4.
        let span = Span::new(0, 0, 32, 4, tree.height()).expect("fits");
        assert_eq!(span.uncles, 0);
        let hashes = tree.answer(span).expect("answer");
        assert_eq!(hashes[..22], layer(22)[..]);
        assert!(check_answer(&tree.root(), span, tree.height(), &hashes));
        let mut bad = hashes.clone();
        bad[3][0] ^= 1;
        assert!(!check_answer(&tree.root(), span, tree.height(), &bad));
    }

    #[test]
    fn part_of_a_layer_comes_with_one_uncle_a_level_up_to_the_root() {
        let tree = PieceTree::new(&layer(22), PIECE);
        let span = Span::new(0, 8, 8, 4, tree.height()).expect("fits");
        assert_eq!(span.uncles, 2, "levels 3 and 4");
        let hashes = tree.answer(span).expect("answer");
        assert_eq!(hashes.len(), 10);
        assert_eq!(hashes[..8], layer(22)[8..16]);
        assert!(check_answer(&tree.root(), span, tree.height(), &hashes));
        let mut swapped = hashes.clone();
        swapped.swap(8, 9);
        assert!(!check_answer(&tree.root(), span, tree.height(), &swapped));
    }

    #[test]
    fn requests_that_do_not_fit_are_refused() {
        let height = 5; // 32 hashes wide
        assert_eq!(Span::new(0, 0, 0, 0, height), None, "no hashes");
        assert_eq!(Span::new(0, 4, 8, 0, height), None, "index not a multiple of length");
        assert_eq!(Span::new(0, 0, 64, 0, height), None, "wider than the level");
        assert_eq!(Span::new(0, 32, 2, 0, height), None, "past the end");
        assert_eq!(Span::new(0, 0, 2, 5, height), None, "proof past the root");
        assert_eq!(Span::new(6, 0, 1, 0, height), None, "base above the root");
        assert_eq!(Span::new(0, u32::MAX, 2, 0, height), None);
        assert_eq!(Span::new(0, 0, u32::MAX, 0, height), None);
        assert!(Span::new(0, 30, 2, 4, height).is_some());
    }
}
