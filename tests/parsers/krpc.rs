//! KRPC, the DHT's messages (BEP 5, BEP 32): decoding never panics and returns quickly on
//! arbitrary bytes, token soups, mutated valid messages and large inputs; valid messages
//! round-trip; a decoded response never holds more than the capped numbers of nodes and
//! peers, nor a node on port 0; and a node fed any of these answers at most once per
//! datagram and keeps nothing from them in its table.

use std::net::SocketAddr;
use std::time::Instant;

use mt::dht::krpc::{Body, MAX_NODES, MAX_VALUES, Message, Method, NodeInfo, Query, Response};
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
    Ok(())
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
        (id(), method()).prop_map(|(id, method)| Body::Query(Query { id, method })),
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
