//! Magnet links (BEP 9): `MagnetLink::parse` never panics and returns quickly on arbitrary
//! text, on soups of link syntax and on mutated valid links; every valid link prints and reads
//! back to itself; whatever parses has one info hash and peers with a real port.

use mt::magnet::{MAX_LINK_LEN, MagnetLink};
use mt::types::InfoHash;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use crate::support::{LARGE_LIMIT, bounded, bounded_or_panic, config, mutated};

fn check(text: &str) -> Result<(), TestCaseError> {
    let parsed = bounded("MagnetLink::parse", text.as_bytes(), || MagnetLink::parse(text))?;
    if let Ok(link) = parsed {
        let real_port = |peer: &String| {
            peer.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok_and(|n| n != 0))
        };
        prop_assert!(link.peers.iter().all(real_port), "a peer without a port: {:?}", link.peers);
        // What was understood prints as a link that reads back the same.
        prop_assert_eq!(MagnetLink::parse(&link.to_uri()), Ok(link));
    }
    Ok(())
}

/// Text values, including reserved characters a printer must escape.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 &=%+?#:/.\\-_~é]{1,24}",
        Just("http://127.0.0.1:6969/announce?a=1&b=2".to_string()),
    ]
}

fn peer() -> impl Strategy<Value = String> {
    prop_oneof![
        (any::<[u8; 4]>(), 1..=u16::MAX)
            .prop_map(|(ip, port)| format!("{}:{port}", std::net::Ipv4Addr::from(ip))),
        (any::<[u8; 16]>(), 1..=u16::MAX)
            .prop_map(|(ip, port)| format!("[{}]:{port}", std::net::Ipv6Addr::from(ip))),
        ("[a-z][a-z0-9.-]{0,20}", 1..=u16::MAX).prop_map(|(host, port)| format!("{host}:{port}")),
    ]
}

fn dedup(mut items: Vec<String>) -> Vec<String> {
    let mut seen = Vec::new();
    items.retain(|item| {
        let new = !seen.contains(item);
        seen.push(item.clone());
        new
    });
    items
}

/// Valid links with every kind of parameter: a v1 info hash, a v2 one (BEP 52), or both.
pub fn link() -> impl Strategy<Value = MagnetLink> {
    (
        (any::<[u8; 20]>(), proptest::option::of(any::<[u8; 32]>()), any::<bool>()),
        proptest::option::of(value()),
        vec(value(), 0..4),
        vec(peer(), 0..4),
        vec(value(), 0..3),
    )
        .prop_map(|((hash, v2, v1_too), name, trackers, peers, web_seeds)| {
            let info_hash_v2 = v2.map(mt::types::InfoHashV2);
            let has_v1 = v1_too || info_hash_v2.is_none();
            let info_hash = match info_hash_v2 {
                Some(v2) if !has_v1 => v2.truncated(),
                _ => InfoHash(hash),
            };
            MagnetLink {
                info_hash,
                info_hash_v2,
                has_v1,
                name,
                trackers: dedup(trackers),
                peers: dedup(peers),
                web_seeds: dedup(web_seeds),
                select_only: None,
            }
        })
}

/// Fragments of link syntax glued together at random.
fn soup() -> impl Strategy<Value = String> {
    const TOKENS: &[&str] = &[
        "magnet:?",
        "&",
        "=",
        "xt=urn:btih:",
        "urn:btmh:",
        "c12fe1c06bba254a9dc9f519b335aa7c1367a88a",
        "YHA4DQOBYHA4DQOBYHA4DQOBYHA4DQOB",
        "dn=",
        "tr=",
        "tr.1=",
        "x.pe=",
        "ws=",
        "%",
        "%4",
        "%41",
        "%ff",
        "+",
        ":",
        "[",
        "]",
        "::1",
        "65535",
        "65536",
        "0",
        "é",
        "\u{0}",
    ];
    vec(select(TOKENS), 0..=64).prop_map(|tokens| tokens.concat())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn magnet_parse_never_panics_on_arbitrary_text(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn magnet_parse_never_panics_on_link_soup(text in soup()) {
        check(&text)?;
    }

    #[test]
    fn magnet_parse_never_panics_on_mutated_links(
        bytes in mutated(link().prop_map(|l| l.to_uri().into_bytes()))
    ) {
        check(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn magnet_links_round_trip(link in link()) {
        let text = link.to_uri();
        let parsed = bounded("MagnetLink::parse", text.as_bytes(), || MagnetLink::parse(&text))?;
        prop_assert_eq!(parsed, Ok(link));
    }
}

#[test]
fn magnet_parse_returns_quickly_on_long_links() {
    let hash = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";
    let many = format!("magnet:?xt=urn:btih:{hash}{}", "&tr=x".repeat(MAX_LINK_LEN / 6));
    let parsed = bounded_or_panic("MagnetLink::parse", many.as_bytes(), LARGE_LIMIT, || {
        MagnetLink::parse(&many)
    });
    assert!(parsed.is_ok_and(|link| link.trackers == ["x"]));
    let huge = format!("magnet:?xt=urn:btih:{hash}&dn={}", "%41".repeat(1 << 20));
    let parsed = bounded_or_panic("MagnetLink::parse", huge.as_bytes(), LARGE_LIMIT, || {
        MagnetLink::parse(&huge)
    });
    assert!(parsed.is_err());
}
