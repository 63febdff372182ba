//! BEP 52 hash answers: for any request a peer can send, [`Span::new`] and
//! [`PieceTree::answer`] never panic, and whatever they answer with a proof that reaches the
//! root checks against the file's `pieces root` and holds exactly the requested hashes.

use mt::merkle::{PieceTree, Span, check_answer, root_from_layer};
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
