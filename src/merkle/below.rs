//! BEP 52 hash answers whose base layer lies below the piece layer (down to the 16 KiB
//! leaves): the torrent holds no such hashes, so they are rebuilt from the data of the pieces
//! the request covers, and joined to the [`PieceTree`] above for the uncles that lead on to
//! the root.
//!
//! Levels here count from the leaves (0). A file's tree is cut at `unit_height`: below it,
//! each unit (a piece, or the whole of a file of one piece or less) is a subtree of
//! `2^unit_height` leaves, padded on the right with zero leaves; from there up, the
//! [`PieceTree`] holds every level. Units past the file's last one are all padding and are
//! never hashed. Every rebuilt unit must fold to the hash the tree above has for it, so data
//! that changed on disk since it was verified gives no answer rather than a wrong one.
//! The math is pure: the caller hands in each unit's leaf hashes.

use std::ops::Range;

use super::tree::{PieceTree, Span};
use super::{Node, pad_hash, parent};

/// The units (pieces) whose leaves an answer for `span` (counted from the leaves, with
/// `span.base` below `unit_height`) needs: those under the requested run of hashes, which
/// also hold every uncle below the unit level. Past-the-end units are included.
pub fn units_below(span: Span, unit_height: u32) -> Option<Range<u64>> {
    let run = u64::from(span.length).checked_next_power_of_two()?;
    let first_leaf = u64::from(span.index).checked_shl(span.base)?;
    let end_leaf = (u64::from(span.index) + run).checked_shl(span.base)?;
    let per_unit = 1u64.checked_shl(unit_height)?;
    let first = first_leaf / per_unit;
    Some(first..end_leaf.div_ceil(per_unit).max(first + 1))
}

/// The answer for `span` (counted from the leaves, base below `unit_height`, made by
/// [`Span::new`] with height `unit_height + top.height()`): the requested hashes, then their
/// uncles. `units` is how many units the file really has; `leaves_of(unit)` gives the leaf
/// hashes of one of them (at most `2^unit_height`), or `None` when it cannot. `None` when a
/// unit cannot be read or does not fold to `top`'s hash for it.
pub fn answer_below(
    top: &PieceTree,
    unit_height: u32,
    units: u64,
    span: Span,
    mut leaves_of: impl FnMut(u64) -> Option<Vec<Node>>,
) -> Option<Vec<Node>> {
    if span.base >= unit_height {
        return None;
    }
    let covered = units_below(span, unit_height)?;
    let per_unit = usize::try_from(1u64.checked_shl(unit_height)?).ok()?;
    // levels[l] holds level l under the covered units, from their first node on.
    let levels_below = usize::try_from(unit_height).ok()?;
    let mut levels: Vec<Vec<Node>> = vec![Vec::new(); levels_below + 1];
    for unit in covered.clone() {
        let mut level = if unit < units { leaves_of(unit)? } else { Vec::new() };
        if level.len() > per_unit {
            return None;
        }
        level.resize(per_unit, pad_hash(0));
        for (height, stored) in levels.iter_mut().enumerate() {
            stored.extend_from_slice(&level);
            if level.len() > 1 && height < levels_below {
                level = level.chunks(2).map(|pair| parent(&pair[0], &pair[1])).collect();
            }
        }
        let unit_index = usize::try_from(unit).ok()?;
        if level.first() != top.node(0, unit_index).as_ref() {
            return None;
        }
    }
    let offset = |level: u32| covered.start.checked_shl(unit_height - level);
    let from = usize::try_from(u64::from(span.index) - offset(span.base)?).ok()?;
    let length = usize::try_from(span.length).ok()?;
    let mut out = levels.get(usize::try_from(span.base).ok()?)?.get(from..from + length)?.to_vec();
    let spanned = span.length.next_power_of_two().trailing_zeros();
    let mut position = u64::from(span.index) >> spanned;
    for level in span.base + spanned..span.base + spanned + span.uncles {
        let sibling = position ^ 1;
        let uncle = if level < unit_height {
            let at = usize::try_from(sibling.checked_sub(offset(level)?)?).ok()?;
            *levels.get(usize::try_from(level).ok()?)?.get(at)?
        } else {
            top.node(level - unit_height, usize::try_from(sibling).ok()?)?
        };
        out.push(uncle);
        position >>= 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{LEAF_LEN, check_answer, leaf, piece_hash, piece_width};

    /// Two-leaf pieces (32 KiB).
    const PIECE: u32 = 32 * 1024;

    /// A file of `len` bytes: its leaf hashes per piece, and the tree above its piece layer.
    fn file(len: usize) -> (Vec<Vec<Node>>, PieceTree) {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251).to_le_bytes()[0]).collect();
        let width = piece_width(len as u64, PIECE);
        let pieces: Vec<&[u8]> = bytes.chunks(PIECE as usize).collect();
        let leaves = pieces.iter().map(|p| p.chunks(LEAF_LEN).map(leaf).collect()).collect();
        let layer: Vec<Node> = pieces.iter().map(|p| piece_hash(p, width)).collect();
        (leaves, PieceTree::new(&layer, PIECE))
    }

    fn answer(leaves: &[Vec<Node>], top: &PieceTree, span: Span) -> Option<Vec<Node>> {
        answer_below(top, 1, leaves.len() as u64, span, |unit| {
            leaves.get(usize::try_from(unit).ok()?).cloned()
        })
    }

    #[test]
    fn every_leaf_of_a_file_checks_against_its_root() {
        // 11 pieces and a short last leaf: 22 leaves in a tree 32 wide (height 5 from them).
        let (leaves, top) = file(10 * 32 * 1024 + 20_000);
        let height = 1 + top.height();
        assert_eq!(height, 5);
        let span = Span::new(0, 0, 32, 4, height).expect("fits");
        let hashes = answer(&leaves, &top, span).expect("answered");
        assert_eq!(hashes.len(), 32, "the whole leaf layer needs no uncle");
        assert_eq!(hashes[..22], leaves.concat()[..]);
        assert!(hashes[22..].iter().all(|h| *h == [0; 32]), "then zero leaves");
        assert!(check_answer(&top.root(), span, height, &hashes));
    }

    #[test]
    fn one_pieces_leaves_come_with_uncles_from_below_and_above_the_piece_layer() {
        let (leaves, top) = file(700_001);
        let height = 1 + top.height();
        for (index, length) in [(6, 2), (7, 1), (8, 4), (40, 2), (42, 1)] {
            let span = Span::new(0, index, length, height - 1, height).expect("fits");
            let hashes = answer(&leaves, &top, span).expect("answered");
            assert_eq!(hashes.len(), usize::try_from(length + span.uncles).expect("small"));
            assert!(check_answer(&top.root(), span, height, &hashes), "{index}+{length}");
            let mut bad = hashes.clone();
            bad[0][0] ^= 1;
            assert!(!check_answer(&top.root(), span, height, &bad));
        }
    }

    #[test]
    fn a_file_of_one_piece_is_one_unit_under_its_root() {
        // 3 leaves padded to 4: the root alone above them.
        let bytes = vec![7u8; 2 * LEAF_LEN + 5];
        let leaves: Vec<Node> = bytes.chunks(LEAF_LEN).map(leaf).collect();
        let root = piece_hash(&bytes, 4);
        let top = PieceTree::new(&[root], PIECE);
        let span = Span::new(0, 2, 2, 1, 2).expect("fits");
        let hashes = answer_below(&top, 2, 1, span, |_| Some(leaves.clone())).expect("answered");
        assert_eq!(hashes, vec![leaves[2], [0; 32], parent(&leaves[0], &leaves[1])]);
        assert!(check_answer(&root, span, 2, &hashes));
    }

    #[test]
    fn data_that_no_longer_matches_or_cannot_be_read_gives_no_answer() {
        let (mut leaves, top) = file(200_000);
        let span = Span::new(0, 2, 2, 2, 1 + top.height()).expect("fits");
        assert!(answer_below(&top, 1, 7, span, |_| None).is_none(), "unreadable");
        leaves[1][0][0] ^= 1;
        assert!(answer(&leaves, &top, span).is_none(), "changed on disk");
    }

    #[test]
    fn the_units_needed_are_those_under_the_run() {
        let span = |base, index, length| Span { base, index, length, uncles: 0 };
        assert_eq!(units_below(span(0, 6, 2), 1), Some(3..4));
        assert_eq!(units_below(span(0, 7, 1), 1), Some(3..4));
        assert_eq!(units_below(span(0, 8, 3), 1), Some(4..6), "a run of 3 is 4 wide");
        assert_eq!(units_below(span(0, 0, 1), 3), Some(0..1), "inside one big unit");
        assert_eq!(units_below(span(2, 4, 4), 3), Some(2..4));
    }
}
