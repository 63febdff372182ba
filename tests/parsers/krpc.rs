//! KRPC, the DHT's messages (BEP 5, BEP 32): decoding never panics and returns quickly on
//! arbitrary bytes, token soups, mutated valid messages and large inputs; valid messages
//! round-trip; a decoded response never holds more than the capped numbers of nodes and
//! peers, nor a node on port 0; and a node fed any of these answers at most once per
//! datagram and keeps nothing from them in its table.

use std::net::SocketAddr;
use std::time::Instant;

use mt::dht::krpc::{
    Body, MAX_NODES, MAX_VALUES, Message, Method, NodeInfo, Query, Response, Want,
};
use mt::dht::{Node, NodeId};
use mt::types::InfoHash;
use proptest::collection::vec;
use proptest::prelude::*;

use crate::support::{
    LARGE_LIMIT, arbitrary_bytes, bencode_soup, bounded, bounded_or_panic, config, large_inputs,
    mutated,
};

fn check(input: &[u8]) -> Result<(), TestCaseError> {
    let decoded = bounded("krpc::Message::decode", input, || Message::decode(input))?;
    if let Ok(message) = decoded {
        if let Body::Response(response) = &message.body {
            prop_assert!(response.nodes.len() <= MAX_NODES && response.nodes6.len() <= MAX_NODES);
            prop_assert!(response.values.len() <= MAX_VALUES);
            prop_assert!(response.nodes.iter().chain(&response.nodes6).all(|n| n.addr.port() != 0));
            prop_assert!(response.nodes.iter().all(|n| n.addr.is_ipv4()));
            // `nodes6` holds IPv6 nodes only: a v4-mapped entry is dropped.
            let mapped = |n: &NodeInfo| match n.addr.ip() {
                std::net::IpAddr::V6(ip) => ip.to_ipv4_mapped().is_some(),
                std::net::IpAddr::V4(_) => true,
            };
            prop_assert!(!response.nodes6.iter().any(mapped));
        }
        // What decodes encodes to something that decodes to the same message.
        prop_assert_eq!(Message::decode(&message.encode()), Ok(message));
    }
    // A node answers at most once and never trusts a stranger into its table.
    let now = Instant::now();
    let mut node = Node::new(NodeId([1; 20]), false, &[], now);
    node.receive(input, SocketAddr::from(([127, 0, 0, 1], 6881)), now);
    prop_assert!(node.take_outbox().len() <= 2);
    prop_assert_eq!(node.table().len(), 0);
    // So does an IPv6 node answering with the IPv4 table of the same socket (BEP 32).
    let mut node6 = Node::new(NodeId([1; 20]), false, &[], now);
    let from6: SocketAddr = "[2001:db8::1]:6881".parse().expect("an address");
    node6.receive_with(input, from6, Some(node.table()), now);
    prop_assert!(node6.take_outbox().len() <= 2);
    prop_assert_eq!(node6.table().len(), 0);
    Ok(())
}

/// A response whose `nodes6` is arbitrary bytes: wrong lengths, v4-mapped addresses, any size.
fn hostile_nodes6() -> impl Strategy<Value = Vec<u8>> {
    let mapped = (any::<[u8; 20]>(), any::<[u8; 4]>(), any::<u16>()).prop_map(|(id, ip, port)| {
        let ip = std::net::Ipv4Addr::from(ip).to_ipv6_mapped().octets();
        [&id[..], &ip[..], &port.to_be_bytes()[..]].concat()
    });
    let entries =
        vec(prop_oneof![mapped, vec(any::<u8>(), 38..=38)], 0..80).prop_map(|e| e.concat());
    (entries, vec(any::<u8>(), 0..40), any::<bool>()).prop_map(|(entries, junk, whole)| {
        let nodes6 = if whole { entries } else { [entries, junk].concat() };
        let mut out = b"d1:rd2:id20:abcdefghij01234567896:nodes6".to_vec();
        out.extend_from_slice(format!("{}:", nodes6.len()).as_bytes());
        out.extend_from_slice(&nodes6);
        out.extend_from_slice(b"e1:t2:aa1:y1:re");
        out
    })
}

/// A query with a `want` list of arbitrary entries, of any length.
fn hostile_want() -> impl Strategy<Value = Vec<u8>> {
    let entry = prop_oneof![Just(b"n4".to_vec()), Just(b"n6".to_vec()), vec(any::<u8>(), 0..4)];
    vec(entry, 0..300).prop_map(|entries| {
        let mut out =
            b"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz1234564:wantl".to_vec();
        for e in entries {
            out.extend_from_slice(format!("{}:", e.len()).as_bytes());
            out.extend_from_slice(&e);
        }
        out.extend_from_slice(b"ee1:q9:find_node1:t2:aa1:y1:qe");
        out
    })
}

fn id() -> impl Strategy<Value = NodeId> {
    any::<[u8; 20]>().prop_map(NodeId)
}

fn node(v4: bool) -> impl Strategy<Value = NodeInfo> {
    (id(), any::<[u8; 16]>(), 1..=u16::MAX).prop_map(move |(id, ip, port)| {
        let addr = if v4 {
            SocketAddr::from(([ip[0], ip[1], ip[2], ip[3]], port))
        } else {
            let ip = std::net::Ipv6Addr::from(ip);
            let ip = if ip.to_ipv4_mapped().is_some() { std::net::Ipv6Addr::LOCALHOST } else { ip };
            SocketAddr::from((ip, port))
        };
        NodeInfo { id, addr }
    })
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Ping),
        id().prop_map(|target| Method::FindNode { target }),
        any::<[u8; 20]>().prop_map(|h| Method::GetPeers { info_hash: InfoHash(h) }),
        (any::<[u8; 20]>(), any::<u16>(), any::<bool>(), vec(any::<u8>(), 0..20)).prop_map(
            |(h, port, implied_port, token)| Method::AnnouncePeer {
                info_hash: InfoHash(h),
                port,
                implied_port,
                token
            }
        ),
    ]
}

/// Valid messages of every kind.
fn message() -> impl Strategy<Value = Message> {
    let body = prop_oneof![
        (id(), method(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(id, method, n4, n6, read_only)| {
                Body::Query(Query { id, method, want: Want { n4, n6 }, read_only })
            }
        ),
        (
            id(),
            vec(node(true), 0..10),
            vec(node(false), 0..4),
            vec(node(true).prop_map(|n| n.addr), 0..30),
            proptest::option::of(vec(any::<u8>(), 0..20)),
        )
            .prop_map(|(id, nodes, nodes6, values, token)| {
                Body::Response(Response { id, nodes, nodes6, values, token })
            }),
        (any::<i64>(), "[a-z ]{0,30}").prop_map(|(code, text)| Body::Error(code, text)),
    ];
    (vec(any::<u8>(), 0..8), body).prop_map(|(transaction, body)| Message { transaction, body })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn krpc_decode_never_panics_on_arbitrary_bytes(input in arbitrary_bytes()) {
        check(&input)?;
    }

    #[test]
    fn krpc_decode_never_panics_on_token_soup(input in bencode_soup()) {
        check(&input)?;
    }

    #[test]
    fn krpc_decode_never_panics_on_mutated_messages(input in mutated(message().prop_map(|m| m.encode()))) {
        check(&input)?;
    }

    #[test]
    fn krpc_nodes6_of_any_length_and_mapped_addresses_never_panic(input in hostile_nodes6()) {
        check(&input)?;
    }

    #[test]
    fn krpc_want_lists_of_any_content_never_panic(input in hostile_want()) {
        check(&input)?;
        let decoded = Message::decode(&input);
        prop_assert!(matches!(decoded, Ok(Message { body: Body::Query(_), .. })), "{:?}", decoded);
    }

    #[test]
    fn krpc_messages_round_trip(message in message()) {
        let bytes = message.encode();
        let decoded = bounded("krpc::Message::decode", &bytes, || Message::decode(&bytes))?;
        prop_assert_eq!(decoded, Ok(message));
    }
}

#[test]
fn krpc_decoder_returns_quickly_on_large_inputs() {
    for (name, input) in large_inputs(1 << 20) {
        bounded_or_panic(name, &input, LARGE_LIMIT, || Message::decode(&input).is_ok());
    }
    // Thousands of nodes and peers in one response: only the capped numbers are kept.
    let nodes: Vec<u8> = (0..20_000u32)
        .flat_map(|i| [&[7u8; 20][..], &i.to_be_bytes()[..], &[0, 9]].concat())
        .collect();
    let mut payload = b"d1:rd2:id20:abcdefghij01234567895:nodes".to_vec();
    payload.extend_from_slice(format!("{}:", nodes.len()).as_bytes());
    payload.extend_from_slice(&nodes);
    payload.extend_from_slice(b"6:valuesl");
    for i in 0..20_000u32 {
        payload.extend_from_slice(b"6:");
        payload.extend_from_slice(&i.to_be_bytes());
        payload.extend_from_slice(&[0, 80]);
    }
    payload.extend_from_slice(b"ee1:t2:aa1:y1:re");
    let decoded = bounded_or_panic("krpc::Message::decode", &payload, LARGE_LIMIT, || {
        Message::decode(&payload)
    });
    let Ok(Message { body: Body::Response(response), .. }) = decoded else {
        panic!("a valid response");
    };
    assert_eq!((response.nodes.len(), response.values.len()), (MAX_NODES, MAX_VALUES));
}
