//! BEP 10 extended handshakes and bitfields: `ExtendedHandshake::decode` and
//! `Bitfield::from_bytes` never panic and return quickly on arbitrary bytes, token soups,
//! mutated valid payloads and large inputs; extended handshakes round-trip; a bitfield is
//! accepted exactly when it has the right length and no spare bit set, and then keeps its
//! bytes and counts its set bits.

use mt::bitfield::Bitfield;
use mt::wire::ExtendedHandshake;
use proptest::prelude::*;

use crate::samples::{bitfield, extended_handshake};
use crate::support::{
    LARGE_LIMIT, arbitrary_bytes, bencode_soup, bounded, bounded_or_panic, config, large_inputs,
    mutated,
};

fn check_extended(input: &[u8]) -> Result<(), TestCaseError> {
    let decoded = bounded("ExtendedHandshake::decode", input, || ExtendedHandshake::decode(input))?;
    if let Ok(handshake) = decoded {
        // Whatever was understood survives a second trip unchanged.
        let again = ExtendedHandshake::decode(&handshake.encode()).ok();
        prop_assert_eq!(again, Some(handshake));
    }
    Ok(())
}

/// What `Bitfield::from_bytes` must decide: the right length, and no bit past `len` set.
fn valid_bitfield(bytes: &[u8], len: u32) -> bool {
    let spare = match len % 8 {
        0 => 0,
        used => 0xffu8 >> used,
    };
    usize::try_from(len.div_ceil(8)).is_ok_and(|n| n == bytes.len())
        && bytes.last().is_none_or(|last| last & spare == 0)
}

/// Bit `i` in BEP 3 order: byte 0's high bit is piece 0.
fn bit(bytes: &[u8], i: u32) -> bool {
    let byte = usize::try_from(i / 8).ok().and_then(|at| bytes.get(at));
    byte.is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
}

fn check_bitfield(input: &[u8], len: u32) -> Result<(), TestCaseError> {
    let parsed = bounded("Bitfield::from_bytes", input, || Bitfield::from_bytes(input, len))?;
    prop_assert_eq!(parsed.is_ok(), valid_bitfield(input, len));
    if let Ok(field) = parsed {
        prop_assert_eq!(field.as_bytes(), input);
        prop_assert_eq!(field.len(), len);
        let ones: u32 = input.iter().map(|b| b.count_ones()).sum();
        prop_assert_eq!(field.count(), ones);
        prop_assert!((0..len).all(|i| field.get(i) == bit(input, i)));
    }
    Ok(())
}

/// Piece counts that fit the input's length as well as any `u32`.
fn piece_count(input_len: usize) -> impl Strategy<Value = u32> {
    let fitting = u32::try_from(input_len * 8).unwrap_or(u32::MAX);
    prop_oneof![any::<u32>(), (fitting.saturating_sub(8)..=fitting), Just(0u32), Just(u32::MAX),]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn extended_handshake_decode_never_panics_on_arbitrary_bytes(input in arbitrary_bytes()) {
        check_extended(&input)?;
    }

    #[test]
    fn extended_handshake_decode_never_panics_on_token_soup(input in bencode_soup()) {
        check_extended(&input)?;
    }

    #[test]
    fn extended_handshake_decode_never_panics_on_mutated_payloads(
        input in mutated(extended_handshake().prop_map(|h| h.encode()))
    ) {
        check_extended(&input)?;
    }

    #[test]
    fn extended_handshakes_round_trip(h in extended_handshake()) {
        let bytes = h.encode();
        let decoded = bounded("ExtendedHandshake::decode", &bytes, || ExtendedHandshake::decode(&bytes))?;
        prop_assert_eq!(decoded.ok(), Some(h));
    }

    #[test]
    fn bitfield_from_bytes_never_panics_on_arbitrary_bytes(
        (input, len) in arbitrary_bytes().prop_flat_map(|b| { let n = b.len(); (Just(b), piece_count(n)) })
    ) {
        check_bitfield(&input, len)?;
    }

    #[test]
    fn bitfield_from_bytes_never_panics_on_mutated_bitfields(
        (input, len) in mutated(bitfield().prop_map(|(_, b)| b))
            .prop_flat_map(|b| { let n = b.len(); (Just(b), piece_count(n)) })
    ) {
        check_bitfield(&input, len)?;
    }

    #[test]
    fn bitfields_round_trip((len, bytes) in bitfield()) {
        check_bitfield(&bytes, len)?;
        let mut built = Bitfield::new(len);
        (0..len).filter(|&i| bit(&bytes, i)).for_each(|i| built.set(i));
        prop_assert_eq!(Bitfield::from_bytes(built.as_bytes(), len).ok(), Some(built));
    }
}

#[test]
fn extension_and_bitfield_decoders_return_quickly_on_large_inputs() {
    for (name, input) in large_inputs(1 << 20) {
        bounded_or_panic(name, &input, LARGE_LIMIT, || ExtendedHandshake::decode(&input).is_ok());
        let fitting = u32::try_from(input.len() * 8).expect("small input");
        for len in [0, fitting, u32::MAX] {
            bounded_or_panic(name, &input, LARGE_LIMIT, || {
                Bitfield::from_bytes(&input, len).is_ok()
            });
        }
    }
}
