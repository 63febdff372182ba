//! HTTP tracker parsing, both sides: the client's `parse_announce_response` and the server's
//! `parse_query` and `handle_request` never panic and return quickly on arbitrary bytes,
//! token soups, mutated valid replies and requests, and large inputs; announce replies in
//! compact and dictionary form round-trip; query strings escaped the way clients escape them
//! decode to the same pairs; and every request gets a status the server knows and a bencoded
//! dictionary body.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mt::bencode::decode;
use mt::tracker::AnnounceResponse;
use mt::tracker::http::parse_announce_response;
use mt::tracker::server::http::{handle_request, parse_query};
use mt::tracker::server::{ServerConfig, Tracker};
use proptest::prelude::*;

use crate::support::{
    LARGE_LIMIT, arbitrary_bytes, bencode_soup, bounded, bounded_or_panic, config, large_inputs,
    mutated,
};
use crate::tracker_samples::{announce_reply, http_request_head, query_pairs, query_string};

fn check_reply(input: &[u8]) -> Result<(), TestCaseError> {
    let parsed = bounded("parse_announce_response", input, || parse_announce_response(input))?;
    if parsed.is_ok() {
        prop_assert!(decode(input).is_ok_and(|reply| reply.as_dict().is_some()));
    }
    Ok(())
}

fn check_query(input: &[u8]) -> Result<(), TestCaseError> {
    let parsed = bounded("parse_query", input, || parse_query(input))?;
    if let Some(pairs) = parsed {
        // Decoding never makes anything longer.
        let decoded: usize = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
        prop_assert!(decoded <= input.len());
    }
    Ok(())
}

/// Runs one request head on a fresh tracker from an IPv4 or IPv6 address.
fn check_request(head: &[u8], v6: bool) -> Result<(), TestCaseError> {
    let tracker = Tracker::new(&ServerConfig::default());
    let ip: IpAddr =
        if v6 { [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1].into() } else { [10, 0, 0, 1].into() };
    let (status, body) = bounded("handle_request", head, || handle_request(&tracker, head, ip))?;
    prop_assert!([200, 400, 404, 405].contains(&status), "status {}", status);
    let body =
        decode(&body).map_err(|e| TestCaseError::fail(format!("body is not bencode: {e}")))?;
    prop_assert!(body.as_dict().is_some(), "body is not a dictionary");
    Ok(())
}

/// Query-like text dense in `%` signs, hex digits and the characters around them. A `+`
/// after `%` is left to `a_percent_escape_with_a_plus_sign_is_refused` in
/// `tests/parsers_regressions.rs`.
fn escape_soup() -> impl Strategy<Value = Vec<u8>> {
    const TOKENS: &[&[u8]] = &[
        b"%", b"%4", b"%41", b"%fF", b"%g0", b"%-1", b"% 1", b"a", b"0", b"f", b"F", b"G", b"=",
        b"&", b"-", b" ", b"\xff",
    ];
    proptest::collection::vec(proptest::sample::select(TOKENS), 0..32).prop_map(|t| t.concat())
}

/// RFC 3986: every `%` starts an escape of exactly two hex digits.
fn escapes_are_well_formed(query: &[u8]) -> bool {
    query.iter().enumerate().filter(|&(_, &b)| b == b'%').all(|(at, _)| {
        query.get(at + 1..at + 3).is_some_and(|pair| pair.iter().all(u8::is_ascii_hexdigit))
    })
}

fn ip_version() -> impl Strategy<Value = bool> {
    any::<bool>()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn http_announce_response_parse_never_panics_on_arbitrary_bytes(input in arbitrary_bytes()) {
        check_reply(&input)?;
    }

    #[test]
    fn http_announce_response_parse_never_panics_on_token_soup(input in bencode_soup()) {
        check_reply(&input)?;
    }

    #[test]
    fn http_announce_response_parse_never_panics_on_mutated_replies(
        input in mutated(announce_reply().prop_map(|r| r.encode()))
    ) {
        check_reply(&input)?;
    }

    #[test]
    fn http_announce_responses_round_trip(reply in announce_reply()) {
        let body = reply.encode();
        let parsed = bounded("parse_announce_response", &body, || parse_announce_response(&body))?;
        let expected = AnnounceResponse {
            interval: Duration::from_secs(u64::from(reply.interval)),
            min_interval: reply.min_interval.map(|s| Duration::from_secs(u64::from(s))),
            peers: reply.v4.iter().chain(&reply.v6).copied().collect::<Vec<SocketAddr>>(),
            warning: reply.warning.clone(),
            complete: reply.complete,
            incomplete: reply.incomplete,
        };
        prop_assert_eq!(parsed, Ok(expected));
    }

    #[test]
    fn tracker_query_parse_never_panics_on_arbitrary_bytes(input in arbitrary_bytes()) {
        check_query(&input)?;
    }

    #[test]
    fn tracker_query_parse_never_panics_on_mutated_queries(
        input in mutated(query_pairs().prop_map(|p| query_string(&p).into_bytes()))
    ) {
        check_query(&input)?;
    }

    #[test]
    fn tracker_queries_round_trip(pairs in query_pairs()) {
        let query = query_string(&pairs);
        let parsed = bounded("parse_query", query.as_bytes(), || parse_query(query.as_bytes()))?;
        prop_assert_eq!(parsed, Some(pairs));
    }

    #[test]
    fn tracker_query_accepts_exactly_the_escapes_of_two_hex_digits(input in escape_soup()) {
        let parsed = bounded("parse_query", &input, || parse_query(&input))?;
        prop_assert_eq!(parsed.is_some(), escapes_are_well_formed(&input));
    }

    #[test]
    fn tracker_http_request_handling_never_panics_on_arbitrary_bytes(
        input in arbitrary_bytes(),
        v6 in ip_version(),
    ) {
        check_request(&input, v6)?;
    }

    #[test]
    fn tracker_http_request_handling_never_panics_on_mutated_requests(
        input in mutated(http_request_head()),
        v6 in ip_version(),
    ) {
        check_request(&input, v6)?;
    }

    #[test]
    fn tracker_http_valid_requests_are_answered_with_200(head in http_request_head(), v6 in ip_version()) {
        let tracker = Tracker::new(&ServerConfig::default());
        let ip: IpAddr = if v6 { [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1].into() } else { [10, 0, 0, 1].into() };
        let (status, _) = handle_request(&tracker, &head, ip);
        prop_assert_eq!(status, 200);
    }
}

#[test]
fn http_tracker_parsers_return_quickly_on_large_inputs() {
    let tracker = Tracker::new(&ServerConfig::default());
    let ip: IpAddr = [10, 0, 0, 1].into();
    let long_query =
        |path: &str, pair: &str| format!("GET /{path}?{} HTTP/1.1\r\n\r\n", pair.repeat(1 << 16));
    let mut inputs = large_inputs(1 << 20);
    inputs.push(("many empty pairs", long_query("announce", "&").into_bytes()));
    inputs.push(("many escapes", long_query("announce", "%41").into_bytes()));
    let hash = "info_hash=aaaaaaaaaaaaaaaaaaaa&";
    inputs.push(("many info hashes", long_query("scrape", hash).into_bytes()));
    for (name, input) in inputs {
        bounded_or_panic(name, &input, LARGE_LIMIT, || parse_announce_response(&input).is_ok());
        bounded_or_panic(name, &input, LARGE_LIMIT, || parse_query(&input).is_some());
        bounded_or_panic(name, &input, LARGE_LIMIT, || handle_request(&tracker, &input, ip).0);
    }
}
