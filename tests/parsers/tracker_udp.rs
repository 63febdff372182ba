//! UDP tracker packets (BEP 15), both sides: `Request::decode`, `Response::decode` and the
//! server's `handle_packet` never panic and return quickly on arbitrary bytes, mutated valid
//! packets (huge counts and lengths spliced in) and large packets; every request and reply
//! round-trips; a scrape request keeps at most `MAX_SCRAPE_HASHES` hashes; and the server
//! answers everything that carries a transaction id with a reply echoing it.

use std::net::SocketAddr;
use std::time::Instant;

use mt::tracker::server::udp::handle_packet;
use mt::tracker::server::{ServerConfig, Tracker};
use mt::tracker::udp::{MAX_SCRAPE_HASHES, Request, Response};
use mt::types::InfoHash;
use proptest::collection::vec;
use proptest::prelude::*;

use crate::support::{
    LARGE_LIMIT, arbitrary_bytes, bounded, bounded_or_panic, config, large_inputs, mutated,
};
use crate::tracker_samples::{udp_request, udp_response};

fn check_request(input: &[u8]) -> Result<(), TestCaseError> {
    let decoded = bounded("udp::Request::decode", input, || Request::decode(input))?;
    if let Ok(Request::Scrape { info_hashes, .. }) = &decoded {
        prop_assert!((1..=MAX_SCRAPE_HASHES).contains(&info_hashes.len()));
    }
    Ok(())
}

fn check_response(input: &[u8], ipv6: bool) -> Result<(), TestCaseError> {
    let decoded = bounded("udp::Response::decode", input, || Response::decode(input, ipv6))?;
    if let Ok(response) = decoded {
        prop_assert_eq!(response.transaction_id().to_be_bytes(), &input[4..8]);
    }
    Ok(())
}

/// Runs one packet through a fresh tracker; anything with a transaction id gets an answer.
fn check_server(input: &[u8], from: SocketAddr) -> Result<(), TestCaseError> {
    let tracker = Tracker::new(&ServerConfig::default());
    let now = Instant::now();
    let reply = bounded("udp::handle_packet", input, || handle_packet(&tracker, input, from, now))?;
    match reply {
        None => prop_assert!(input.len() < 16, "a {}-byte packet went unanswered", input.len()),
        Some(reply) => {
            let decoded = Response::decode(&reply, from.is_ipv6());
            let decoded = decoded.map_err(|e| TestCaseError::fail(format!("bad reply: {e:?}")))?;
            prop_assert_eq!(decoded.transaction_id().to_be_bytes(), &input[12..16]);
            prop_assert!(reply.len() <= 1500, "a {}-byte reply", reply.len());
        }
    }
    Ok(())
}

fn sender() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        Just(SocketAddr::from(([10, 0, 0, 1], 6881))),
        Just(SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], 6881))),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn udp_tracker_request_decode_never_panics_on_arbitrary_bytes(input in arbitrary_bytes()) {
        check_request(&input)?;
    }

    #[test]
    fn udp_tracker_request_decode_never_panics_on_mutated_requests(
        input in mutated(udp_request().prop_map(|r| r.encode()))
    ) {
        check_request(&input)?;
    }

    #[test]
    fn udp_tracker_requests_round_trip(request in udp_request()) {
        let bytes = request.encode();
        let decoded = bounded("udp::Request::decode", &bytes, || Request::decode(&bytes))?;
        prop_assert_eq!(decoded, Ok(request));
    }

    #[test]
    fn udp_tracker_scrape_requests_keep_at_most_the_limit(
        hashes in vec(any::<[u8; 20]>().prop_map(InfoHash), 1..200),
        ids in (any::<u64>(), any::<u32>()),
    ) {
        let (connection_id, transaction_id) = ids;
        let request = Request::Scrape { connection_id, transaction_id, info_hashes: hashes.clone() };
        let kept = hashes[..hashes.len().min(MAX_SCRAPE_HASHES)].to_vec();
        let expected = Request::Scrape { connection_id, transaction_id, info_hashes: kept };
        prop_assert_eq!(Request::decode(&request.encode()), Ok(expected));
    }

    #[test]
    fn udp_tracker_response_decode_never_panics_on_arbitrary_bytes(
        input in arbitrary_bytes(),
        ipv6 in any::<bool>(),
    ) {
        check_response(&input, ipv6)?;
    }

    #[test]
    fn udp_tracker_response_decode_never_panics_on_mutated_responses(
        input in mutated(udp_response().prop_map(|(r, _)| r.encode())),
        ipv6 in any::<bool>(),
    ) {
        check_response(&input, ipv6)?;
    }

    #[test]
    fn udp_tracker_responses_round_trip((response, ipv6) in udp_response()) {
        let bytes = response.encode();
        let decoded = bounded("udp::Response::decode", &bytes, || Response::decode(&bytes, ipv6))?;
        prop_assert_eq!(decoded, Ok(response));
    }

    #[test]
    fn udp_tracker_server_never_panics_on_arbitrary_packets(
        input in arbitrary_bytes(),
        from in sender(),
    ) {
        check_server(&input, from)?;
    }

    #[test]
    fn udp_tracker_server_never_panics_on_mutated_requests(
        input in mutated(udp_request().prop_map(|r| r.encode())),
        from in sender(),
    ) {
        check_server(&input, from)?;
    }
}

#[test]
fn udp_tracker_decoders_return_quickly_on_large_packets() {
    let tracker = Tracker::new(&ServerConfig::default());
    let from = SocketAddr::from(([10, 0, 0, 1], 6881));
    for (name, input) in large_inputs(1 << 20) {
        bounded_or_panic(name, &input, LARGE_LIMIT, || Request::decode(&input).is_ok());
        for ipv6 in [false, true] {
            bounded_or_panic(name, &input, LARGE_LIMIT, || Response::decode(&input, ipv6).is_ok());
        }
        bounded_or_panic(name, &input, LARGE_LIMIT, || {
            handle_packet(&tracker, &input, from, Instant::now()).is_some()
        });
    }
}
