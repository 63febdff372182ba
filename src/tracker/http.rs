//! HTTP(S) tracker client (BEP 3): the announce URL, the fetch, and the reply decoder.
//!
//! [`announce_url`] and [`parse_announce_response`] are pure; [`announce`] is the one blocking
//! call, made with ureq and bounded by a global timeout and a body size limit. Replies may
//! carry peers as a BEP 23 compact string, a BEP 3 list of dictionaries, or both plus BEP 7
//! `peers6`; all end up in one list of socket addresses. A dictionary peer whose `ip` is a
//! host name rather than an address is skipped, since resolving names here would let a
//! tracker make us do DNS lookups on its behalf.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub use ureq::config::IpFamily;

use super::announce::{AnnounceRequest, AnnounceResponse, decode_compact_v4, decode_compact_v6};
use super::{ReplyError, TrackerError, announce::seconds};
use crate::bencode::{self, Value};
use crate::error::lower_io;
use crate::types::url_encode;

/// Largest reply body we read; a full compact reply for 200 peers is under 5 KiB.
pub const MAX_REPLY_BYTES: u64 = 1 << 20;

/// The full announce URL: the tracker URL with the BEP 3 query appended (`compact=1`).
pub fn announce_url(tracker: &str, req: &AnnounceRequest) -> String {
    let separator = if tracker.contains('?') { '&' } else { '?' };
    let mut url = format!(
        "{tracker}{separator}info_hash={}&peer_id={}&port={}&uploaded={}&downloaded={}&left={}&compact=1",
        url_encode(&req.info_hash.0),
        url_encode(&req.peer_id.0),
        req.port,
        req.uploaded,
        req.downloaded,
        req.left,
    );
    if let Some(event) = req.event {
        url.push_str("&event=");
        url.push_str(event.as_str());
    }
    if let Some(numwant) = req.numwant {
        url.push_str(&format!("&numwant={numwant}"));
    }
    url
}

/// Decodes a bencoded announce reply. A `failure reason` wins over everything else.
pub fn parse_announce_response(body: &[u8]) -> Result<AnnounceResponse, ReplyError> {
    let malformed = |reason: &str| ReplyError::Malformed(reason.to_string());
    let reply = bencode::decode(body).map_err(|err| ReplyError::Malformed(err.to_string()))?;
    if reply.as_dict().is_none() {
        return Err(malformed("reply is not a dictionary"));
    }
    if let Some(reason) = reply.get("failure reason") {
        let text = reason.as_bytes().ok_or_else(|| malformed("failure reason is not a string"))?;
        return Err(ReplyError::Failure(String::from_utf8_lossy(text).into_owned()));
    }
    let interval = reply
        .get("interval")
        .and_then(Value::as_int)
        .and_then(seconds)
        .ok_or_else(|| malformed("missing or negative interval"))?;
    let min_interval = reply.get("min interval").and_then(Value::as_int).and_then(seconds);
    let count = |key| reply.get(key).and_then(Value::as_int).and_then(|n| u32::try_from(n).ok());
    let warning = reply
        .get("warning message")
        .and_then(Value::as_bytes)
        .map(|text| String::from_utf8_lossy(text).into_owned());

    let mut peers = match reply.get("peers") {
        None => Vec::new(),
        Some(Value::Bytes(compact)) => decode_compact_v4(compact)
            .ok_or_else(|| malformed("peers length is not a multiple of 6"))?,
        Some(Value::List(list)) => list.iter().filter_map(dictionary_peer).collect(),
        Some(_) => return Err(malformed("peers is neither a string nor a list")),
    };
    if let Some(v6) = reply.get("peers6") {
        let compact = v6.as_bytes().ok_or_else(|| malformed("peers6 is not a string"))?;
        let more = decode_compact_v6(compact)
            .ok_or_else(|| malformed("peers6 length is not a multiple of 18"))?;
        peers.extend(more);
    }
    Ok(AnnounceResponse {
        interval,
        min_interval,
        peers,
        warning,
        complete: count("complete"),
        incomplete: count("incomplete"),
    })
}

/// One BEP 3 dictionary peer, if it has a literal IP address and a valid port.
fn dictionary_peer(entry: &Value) -> Option<SocketAddr> {
    let ip: IpAddr = entry.get("ip")?.as_str()?.parse().ok()?;
    let port = u16::try_from(entry.get("port")?.as_int()?).ok()?;
    (port != 0).then_some(SocketAddr::new(ip, port))
}

/// Announces over HTTP(S), connecting over `family` only; `timeout` bounds the whole request
/// including the body.
pub fn announce(
    tracker: &str,
    req: &AnnounceRequest,
    timeout: Duration,
    family: IpFamily,
) -> Result<AnnounceResponse, TrackerError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .ip_family(family)
        .http_status_as_error(false)
        .user_agent(concat!("mt/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let network = |err: ureq::Error| TrackerError::Network {
        url: tracker.to_string(),
        reason: describe(&err),
    };
    let mut reply = agent.get(&announce_url(tracker, req)).call().map_err(network)?;
    let status = reply.status().as_u16();
    let body = reply.body_mut().with_config().limit(MAX_REPLY_BYTES).read_to_vec();
    // A tracker often explains a 4xx with a bencoded failure reason; prefer its words.
    match (status, body) {
        (200, Ok(body)) => parse_announce_response(&body).map_err(|err| err.at(tracker)),
        (200, Err(err)) => Err(network(err)),
        (status, Ok(body)) => match parse_announce_response(&body) {
            Err(ReplyError::Failure(reason)) => {
                Err(TrackerError::Failure { url: tracker.to_string(), reason })
            }
            _ => Err(TrackerError::Status { url: tracker.to_string(), status }),
        },
        (status, Err(_)) => Err(TrackerError::Status { url: tracker.to_string(), status }),
    }
}

/// A short lowercase description of a ureq error.
fn describe(err: &ureq::Error) -> String {
    match err {
        ureq::Error::Io(io) => lower_io(io),
        ureq::Error::Timeout(_) => "timed out".to_string(),
        ureq::Error::HostNotFound => "host not found".to_string(),
        ureq::Error::ConnectionFailed => "connection failed".to_string(),
        ureq::Error::BodyExceedsLimit(_) => "reply is too large".to_string(),
        other => other.to_string().to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bencode::dict;
    use crate::tracker::TrackerEvent;

    #[test]
    fn url_carries_every_field_escaped() {
        let mut req = AnnounceRequest::example();
        req.info_hash.0[0] = 0xff;
        req.event = Some(TrackerEvent::Completed);
        let url = announce_url("http://t.example/announce?key=1", &req);
        assert!(url.starts_with("http://t.example/announce?key=1&info_hash=%FF%11%11"), "{url}");
        assert!(url.contains("&peer_id=-MT0100-abcdefghijkl&port=6881&uploaded=1&downloaded=2"));
        assert!(url.ends_with("&left=3&compact=1&event=completed&numwant=50"), "{url}");
    }

    #[test]
    fn compact_reply_with_peers6_and_counts() {
        let body = dict([
            ("interval", Value::Int(900)),
            ("min interval", Value::Int(60)),
            ("complete", Value::Int(2)),
            ("incomplete", Value::Int(5)),
            ("peers", Value::bytes([127, 0, 0, 1, 0x1a, 0xe1])),
            ("peers6", Value::bytes([[0u8; 15].as_slice(), &[1, 0, 80]].concat())),
            ("warning message", Value::bytes("slow down")),
        ]);
        let reply = parse_announce_response(&body.encode()).expect("valid reply");
        assert_eq!(reply.interval, Duration::from_secs(900));
        assert_eq!(reply.min_interval, Some(Duration::from_secs(60)));
        assert_eq!((reply.complete, reply.incomplete), (Some(2), Some(5)));
        let expected: Vec<SocketAddr> =
            vec!["127.0.0.1:6881".parse().expect("v4"), "[::1]:80".parse().expect("v6")];
        assert_eq!(reply.peers, expected);
        assert_eq!(reply.warning.as_deref(), Some("slow down"));
    }

    #[test]
    fn dictionary_peers_skip_host_names_and_bad_ports() {
        let peer = |ip: &str, port| {
            dict([("ip", Value::bytes(ip)), ("peer id", Value::bytes([1; 20])), ("port", port)])
        };
        let body = dict([
            ("interval", Value::Int(1)),
            (
                "peers",
                Value::List(vec![
                    peer("10.1.2.3", Value::Int(5000)),
                    peer("example.com", Value::Int(1)),
                    peer("10.1.2.4", Value::Int(70000)),
                    peer("::2", Value::Int(7)),
                ]),
            ),
        ]);
        let reply = parse_announce_response(&body.encode()).expect("valid reply");
        let expected: Vec<SocketAddr> =
            vec!["10.1.2.3:5000".parse().expect("v4"), "[::2]:7".parse().expect("v6")];
        assert_eq!(reply.peers, expected);
    }

    #[test]
    fn failure_reason_wins() {
        let body = b"d14:failure reason20:unregistered torrente";
        assert_eq!(
            parse_announce_response(body),
            Err(ReplyError::Failure("unregistered torrent".into()))
        );
    }

    #[test]
    fn malformed_replies_are_errors() {
        for body in [
            &b"le"[..],
            b"d5:peers0:e",
            b"d8:intervali-1e5:peers0:e",
            b"d8:intervali1e5:peers5:abcdee",
            b"d8:intervali1e6:peers64:abcdee",
            b"not bencode",
        ] {
            let result = parse_announce_response(body);
            assert!(matches!(result, Err(ReplyError::Malformed(_))), "{result:?}");
        }
    }
}
