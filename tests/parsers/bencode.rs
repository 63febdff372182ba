//! Bencode: `decode` and `decode_dict_spans` never panic and return quickly on arbitrary
//! bytes, on soups of bencode tokens, on mutated valid encodings and on large inputs; every
//! value round-trips through the canonical encoding; an accepted input re-encodes to the same
//! length (only key order may differ); and spans point at each value's own bytes.

use mt::bencode::{Dict, MAX_DEPTH, Value, decode, decode_dict_spans};
use proptest::prelude::*;

use crate::samples::{dict_value, value};
use crate::support::{
    LARGE_LIMIT, arbitrary_bytes, bencode_soup, bounded, bounded_or_panic, config, large_inputs,
    mutated,
};

/// Checks what an accepted input must satisfy: its re-encoding has the same length (the only
/// freedom the decoder allows is key order) and decodes to the same value.
fn check_accepted(input: &[u8]) -> Result<(), TestCaseError> {
    let decoded = bounded("bencode::decode", input, || decode(input))?;
    let spans = bounded("bencode::decode_dict_spans", input, || decode_dict_spans(input))?;
    // The two decoders agree: a dictionary with spans is exactly a decoded dictionary.
    let dict = decoded.as_ref().ok().and_then(Value::as_dict);
    prop_assert_eq!(spans.as_ref().ok().map(|(d, _)| Dict::from(d.clone())), dict.cloned());
    if let Ok(value) = decoded {
        let again = value.encode();
        prop_assert_eq!(again.len(), input.len());
        prop_assert_eq!(decode(&again).ok(), Some(value));
    }
    Ok(())
}

fn nested(depth: usize, leaf: Value) -> Value {
    (0..depth).fold(leaf, |inner, _| Value::List(vec![inner]))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn bencode_decode_never_panics_on_arbitrary_bytes(input in arbitrary_bytes()) {
        check_accepted(&input)?;
    }

    #[test]
    fn bencode_decode_never_panics_on_token_soup(input in bencode_soup()) {
        check_accepted(&input)?;
    }

    #[test]
    fn bencode_decode_never_panics_on_mutated_values(
        input in mutated(value().prop_map(|v| v.encode()))
    ) {
        check_accepted(&input)?;
    }

    #[test]
    fn bencode_values_round_trip_through_the_canonical_encoding(v in value()) {
        let bytes = v.encode();
        let decoded = bounded("bencode::decode", &bytes, || decode(&bytes))?;
        prop_assert_eq!(decoded.as_ref().ok(), Some(&v));
        prop_assert_eq!(decoded.map(|d| d.encode()).ok(), Some(bytes));
    }

    #[test]
    fn bencode_dict_spans_point_at_each_values_own_bytes(v in dict_value()) {
        let bytes = v.encode();
        let (dict, spans) = decode_dict_spans(&bytes).expect("a valid dictionary");
        prop_assert_eq!(Some(&Dict::from(dict.clone())), v.as_dict());
        prop_assert_eq!(dict.len(), spans.len());
        for (key, value) in &dict {
            let span = spans.get(key).expect("a span for every key").clone();
            prop_assert_eq!(&bytes[span], &value.encode()[..]);
        }
    }

    #[test]
    fn bencode_nesting_up_to_max_depth_round_trips_and_deeper_is_refused(
        depth in 0..=2 * MAX_DEPTH,
        leaf in prop_oneof![Just(Value::Int(7)), Just(Value::List(vec![])), Just(Value::Dict(Default::default()))],
    ) {
        // The leaf counts as a level when it is itself a list or dictionary.
        let levels = depth + usize::from(!matches!(leaf, Value::Int(_)));
        let v = nested(depth, leaf);
        let decoded = decode(&v.encode());
        prop_assert_eq!(decoded.is_ok(), levels <= MAX_DEPTH, "{} levels", levels);
        if let Ok(decoded) = decoded {
            prop_assert_eq!(decoded, v);
        }
    }
}

#[test]
fn bencode_decode_returns_quickly_on_large_inputs() {
    for (name, input) in large_inputs(1 << 20) {
        let result = bounded_or_panic(name, &input, LARGE_LIMIT, || decode(&input));
        if let Ok(value) = result {
            assert_eq!(value.encode().len(), input.len(), "{name}");
        }
        bounded_or_panic(name, &input, LARGE_LIMIT, || decode_dict_spans(&input).is_ok());
    }
}
