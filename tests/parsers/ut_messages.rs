//! The BEP 9 `ut_metadata` and BEP 11 `ut_pex` messages: decoding never panics and returns
//! quickly on arbitrary bytes, token soups, mutated valid messages and large inputs; valid
//! messages round-trip; a decoded data piece always has the length its index and
//! `total_size` imply, within the 10 MiB cap; a decoded PEX message never holds more than the
//! per-list cap or a port 0.

use std::net::SocketAddr;

use mt::wire::metadata::{
    MAX_METADATA_SIZE, METADATA_PIECE_LEN, MetadataMessage, piece_count, piece_len,
};
use mt::wire::pex::{MAX_PEX_PEERS, PexMessage};
use proptest::collection::vec;
use proptest::prelude::*;

use crate::support::{
    LARGE_LIMIT, arbitrary_bytes, bencode_soup, bounded, bounded_or_panic, config, large_inputs,
    mutated,
};

fn check_metadata(input: &[u8]) -> Result<(), TestCaseError> {
    let decoded = bounded("MetadataMessage::decode", input, || MetadataMessage::decode(input))?;
    if let Ok(message) = decoded {
        if let MetadataMessage::Data { piece, total_size, data } = &message {
            prop_assert!(u64::from(*total_size) <= MAX_METADATA_SIZE && *total_size > 0);
            let want = piece_len(*total_size, *piece).and_then(|n| usize::try_from(n).ok());
            prop_assert_eq!(Some(data.len()), want);
        }
        prop_assert_eq!(MetadataMessage::decode(&message.encode()), Ok(message));
    }
    Ok(())
}

fn check_pex(input: &[u8]) -> Result<(), TestCaseError> {
    let decoded = bounded("PexMessage::decode", input, || PexMessage::decode(input))?;
    if let Ok(message) = decoded {
        prop_assert!(message.added.len() <= 2 * MAX_PEX_PEERS);
        prop_assert!(message.dropped.len() <= 2 * MAX_PEX_PEERS);
        prop_assert!(message.added.iter().all(|(a, _)| a.port() != 0));
        prop_assert!(message.dropped.iter().all(|a| a.port() != 0));
        prop_assert_eq!(PexMessage::decode(&message.encode()), Ok(message));
    }
    Ok(())
}

/// Valid `ut_metadata` messages, data pieces of every position including the short last one.
fn metadata_message() -> impl Strategy<Value = MetadataMessage> {
    let cap = u32::try_from(MAX_METADATA_SIZE).unwrap_or(u32::MAX);
    prop_oneof![
        any::<u32>().prop_map(|piece| MetadataMessage::Request { piece }),
        any::<u32>().prop_map(|piece| MetadataMessage::Reject { piece }),
        (1..=cap, any::<prop::sample::Index>(), any::<u8>()).prop_map(|(size, at, fill)| {
            let piece = u32::try_from(at.index(usize::try_from(piece_count(size)).unwrap_or(1)))
                .unwrap_or(0);
            let len = piece_len(size, piece).unwrap_or(METADATA_PIECE_LEN);
            MetadataMessage::Data {
                piece,
                total_size: size,
                data: vec![fill; usize::try_from(len).unwrap_or(0)],
            }
        }),
    ]
}

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), 1..=u16::MAX).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        (any::<[u8; 16]>(), 1..=u16::MAX).prop_map(|(ip, port)| {
            let ip = std::net::Ipv6Addr::from(ip);
            // A v4-mapped address travels as IPv4, so it would come back in the other form.
            let ip = if ip.to_ipv4_mapped().is_some() { std::net::Ipv6Addr::LOCALHOST } else { ip };
            SocketAddr::from((ip, port))
        }),
    ]
}

/// Valid PEX messages; IPv4 entries first, as they travel in their own list.
fn pex_message() -> impl Strategy<Value = PexMessage> {
    (vec((addr(), any::<u8>()), 0..60), vec(addr(), 0..60)).prop_map(|(mut added, mut dropped)| {
        added.sort_by_key(|(a, _)| a.is_ipv6());
        dropped.sort_by_key(SocketAddr::is_ipv6);
        PexMessage { added, dropped }
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn metadata_decode_never_panics_on_arbitrary_bytes(input in arbitrary_bytes()) {
        check_metadata(&input)?;
    }

    #[test]
    fn metadata_decode_never_panics_on_token_soup(input in bencode_soup()) {
        check_metadata(&input)?;
    }

    #[test]
    fn metadata_decode_never_panics_on_mutated_messages(
        input in mutated(metadata_message().prop_map(|m| m.encode()))
    ) {
        check_metadata(&input)?;
    }

    #[test]
    fn metadata_messages_round_trip(message in metadata_message()) {
        let bytes = message.encode();
        let decoded = bounded("MetadataMessage::decode", &bytes, || MetadataMessage::decode(&bytes))?;
        prop_assert_eq!(decoded, Ok(message));
    }

    #[test]
    fn pex_decode_never_panics_on_arbitrary_bytes(input in arbitrary_bytes()) {
        check_pex(&input)?;
    }

    #[test]
    fn pex_decode_never_panics_on_token_soup(input in bencode_soup()) {
        check_pex(&input)?;
    }

    #[test]
    fn pex_decode_never_panics_on_mutated_messages(
        input in mutated(pex_message().prop_map(|m| m.encode()))
    ) {
        check_pex(&input)?;
    }

    #[test]
    fn pex_messages_round_trip(message in pex_message()) {
        let bytes = message.encode();
        let decoded = bounded("PexMessage::decode", &bytes, || PexMessage::decode(&bytes))?;
        prop_assert_eq!(decoded, Ok(message));
    }
}

#[test]
fn metadata_and_pex_decoders_return_quickly_on_large_inputs() {
    for (name, input) in large_inputs(1 << 20) {
        bounded_or_panic(name, &input, LARGE_LIMIT, || MetadataMessage::decode(&input).is_ok());
        bounded_or_panic(name, &input, LARGE_LIMIT, || PexMessage::decode(&input).is_ok());
    }
    // Thousands of peers in one message: the decoder keeps only the capped number.
    let many: Vec<u8> =
        (0..50_000u32).flat_map(|i| [&i.to_be_bytes()[..], &[0, 9]].concat()).collect();
    let payload = [&b"d5:added"[..], format!("{}:", many.len()).as_bytes(), &many, b"e"].concat();
    let decoded = bounded_or_panic("PexMessage::decode", &payload, LARGE_LIMIT, || {
        PexMessage::decode(&payload)
    });
    assert_eq!(decoded.map(|m| m.added.len()), Ok(MAX_PEX_PEERS));
}
