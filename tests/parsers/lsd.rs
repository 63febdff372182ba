//! Local service discovery announces (BEP 14): decoding never panics and returns quickly on
//! arbitrary bytes, header soups, mutated valid announces and large inputs; valid announces
//! round-trip through every datagram they are split into; and a decoded announce always has
//! a port that is not zero, at least one info hash, and at most the capped number of them.

use mt::lsd::message::{Announce, MAX_INFOHASHES, MAX_SEND};
use mt::types::InfoHash;
use proptest::collection::vec;
use proptest::prelude::*;

use crate::support::{
    LARGE_LIMIT, arbitrary_bytes, bounded, bounded_or_panic, config, large_inputs, mutated,
};

const HOST: &str = "239.192.152.143:6771";

fn check(input: &[u8]) -> Result<(), TestCaseError> {
    let decoded = bounded("lsd::Announce::decode", input, || Announce::decode(input))?;
    if let Ok(announce) = decoded {
        prop_assert!(announce.port != 0);
        prop_assert!(!announce.info_hashes.is_empty());
        prop_assert!(announce.info_hashes.len() <= MAX_INFOHASHES);
    }
    Ok(())
}

fn announce() -> impl Strategy<Value = Announce> {
    (
        1..=u16::MAX,
        vec(any::<[u8; 20]>().prop_map(InfoHash), 1..40),
        proptest::option::of("[a-zA-Z0-9]{1,16}"),
    )
        .prop_map(|(port, mut info_hashes, cookie)| {
            info_hashes.dedup();
            Announce { port, info_hashes, cookie }
        })
}

/// Lines made of the announce's words, in any order and spelling.
fn header_soup() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        Just("BT-SEARCH * HTTP/1.1".to_string()),
        "(?i)(port|infohash|cookie|host): ?[0-9a-fA-F:.\\[\\] ]{0,48}",
        "[ -~]{0,20}",
        Just(String::new()),
    ];
    vec(line, 0..20).prop_map(|lines| {
        let mut text = lines.join("\r\n");
        text.push_str("\r\n\r\n");
        text.into_bytes()
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn lsd_decode_never_panics_on_arbitrary_bytes(input in arbitrary_bytes()) {
        check(&input)?;
    }

    #[test]
    fn lsd_decode_never_panics_on_header_soup(input in header_soup()) {
        check(&input)?;
    }

    #[test]
    fn lsd_decode_never_panics_on_mutated_announces(
        input in mutated(announce().prop_map(|a| a.encode(HOST).remove(0)))
    ) {
        check(&input)?;
    }

    #[test]
    fn lsd_announces_round_trip(announce in announce()) {
        let mut hashes = Vec::new();
        for datagram in announce.encode(HOST) {
            prop_assert!(datagram.len() <= MAX_SEND);
            let decoded = Announce::decode(&datagram);
            let Ok(part) = decoded else {
                return Err(TestCaseError::fail(format!("{decoded:?}")));
            };
            prop_assert_eq!(part.port, announce.port);
            prop_assert_eq!(&part.cookie, &announce.cookie);
            hashes.extend(part.info_hashes);
        }
        prop_assert_eq!(hashes, announce.info_hashes);
    }
}

#[test]
fn lsd_decoder_returns_quickly_on_large_inputs() {
    for (name, input) in large_inputs(1 << 20) {
        bounded_or_panic(name, &input, LARGE_LIMIT, || Announce::decode(&input).is_ok());
    }
}
