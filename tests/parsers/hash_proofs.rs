//! BEP 52 hash answers: for any request a peer can send, [`Span::new`] and
//! [`PieceTree::answer`] never panic, and whatever they answer with a proof that reaches the
//! root checks against the file's `pieces root` and holds exactly the requested hashes.
//! Below the piece layer, [`answer_below`] answers every request that fits from the leaves
//! it is given, with the same hashes as the whole tree built level by level.

use mt::merkle::{
    LEAF_LEN, Node, PieceTree, Span, answer_below, check_answer, parent, root_from_layer, root_of,
};
use proptest::collection::vec;
use proptest::prelude::*;

use crate::support::config;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn answers_never_panic_and_prove_what_they_hold(
        layer in vec(any::<[u8; 32]>(), 2..70),
        base in 0u32..8,
        index in prop_oneof![0u32..80, any::<u32>()],
        length in prop_oneof![0u32..80, any::<u32>()],
        proof_layers in prop_oneof![0u32..10, any::<u32>()],
    ) {
        let piece_length = 64 * 1024;
        let tree = PieceTree::new(&layer, piece_length);
        prop_assert_eq!(tree.root(), root_from_layer(&layer, piece_length));
        let height = tree.height();
        let Some(span) = Span::new(base, index, length, proof_layers, height) else {
            return Ok(());
        };
        let hashes = tree.answer(span).expect("a span that fits has an answer");
        prop_assert_eq!(hashes.len(), (span.length + span.uncles) as usize);
        if base == 0 {
            let start = index as usize;
            let real = layer.len().saturating_sub(start).min(length as usize);
            let want = if real == 0 { &[][..] } else { &layer[start..start + real] };
            prop_assert_eq!(&hashes[..real], want);
        }
        let reaches_root = proof_layers + 1 == height - base
            || length.next_power_of_two().trailing_zeros() == height - base;
        if reaches_root && length.is_power_of_two() {
            prop_assert!(check_answer(&tree.root(), span, height, &hashes));
        }
    }
}

/// Every level of the tree over `leaves` padded to `width` (a power of two), leaves first.
fn naive_levels(leaves: &[Node], width: usize) -> Vec<Vec<Node>> {
    let mut level = leaves.to_vec();
    level.resize(width, [0; 32]);
    let mut levels = vec![level.clone()];
    while level.len() > 1 {
        level = level.chunks(2).map(|pair| parent(&pair[0], &pair[1])).collect();
        levels.push(level.clone());
    }
    levels
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn answers_below_the_piece_layer_are_the_trees_own_hashes(
        leaves in vec(any::<[u8; 32]>(), 1..70),
        unit_height in 1u32..4,
        base in 0u32..4,
        index in prop_oneof![0u32..80, any::<u32>()],
        length in prop_oneof![1u32..80, any::<u32>()],
        proof_layers in prop_oneof![0u32..10, any::<u32>()],
    ) {
        let per_unit = 1usize << unit_height;
        let piece_length = u32::try_from(per_unit * LEAF_LEN).expect("small");
        let units: Vec<&[Node]> = leaves.chunks(per_unit).collect();
        let layer: Vec<Node> = units.iter().map(|unit| root_of(unit, per_unit, 0)).collect();
        let top = PieceTree::new(&layer, piece_length);
        let height = unit_height + top.height();
        let width = per_unit * layer.len().next_power_of_two();
        let levels = naive_levels(&leaves, width);
        prop_assert_eq!(top.root(), levels[height as usize][0]);
        let Some(span) = Span::new(base, index, length, proof_layers, height) else {
            return Ok(());
        };
        let answer = answer_below(&top, unit_height, units.len() as u64, span, |unit| {
            units.get(usize::try_from(unit).ok()?).map(|unit| unit.to_vec())
        });
        if base >= unit_height {
            prop_assert!(answer.is_none());
            return Ok(());
        }
        let hashes = answer.expect("a span below the piece layer that fits is answered");
        prop_assert_eq!(hashes.len(), (span.length + span.uncles) as usize);
        let start = index as usize;
        prop_assert_eq!(&hashes[..length as usize], &levels[base as usize][start..start + length as usize]);
        if length.is_power_of_two() && base + length.trailing_zeros() + span.uncles == height {
            prop_assert!(check_answer(&top.root(), span, height, &hashes));
        }
    }
}
