//! Announcing over both IP families: a tracker whose host name resolves to IPv4 and IPv6
//! addresses is announced to once over each, so it learns our address in both families and
//! names peers of both (BEP 7).
//!
//! This module is pure: it picks the addresses ([`one_per_family`]), reads the host of an
//! HTTP URL ([`http_host`]) and merges the replies ([`merge`]); the client does the I/O. A
//! URL whose host is an address literal (`http://[::1]:6969/announce`) is one family only.
//! The merged reply holds every peer once, the shorter interval, and succeeds when either
//! announce did.

use std::net::{IpAddr, SocketAddr};

use super::TrackerError;
use super::announce::AnnounceResponse;

/// The first address of each family among `addrs`, IPv4 first; at most two.
pub fn one_per_family(addrs: impl IntoIterator<Item = SocketAddr>) -> Vec<SocketAddr> {
    let (mut v4, mut v6) = (None, None);
    for addr in addrs {
        let slot = if addr.is_ipv4() { &mut v4 } else { &mut v6 };
        slot.get_or_insert(addr);
    }
    v4.into_iter().chain(v6).collect()
}

/// The host name and port of an `http://` or `https://` URL, when the host is a name rather
/// than an address literal (only a name can resolve to both families).
pub fn http_host(url: &str) -> Option<(&str, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if authority.starts_with('[') {
        return None; // an IPv6 literal
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().ok()?),
        None => (authority, default_port),
    };
    (!host.is_empty() && host.parse::<IpAddr>().is_err()).then_some((host, port))
}

/// One reply from the announces over each family: every peer once, the shorter interval
/// and `min interval`, the larger counts, the first warning. The first error when every
/// announce failed.
pub fn merge(
    replies: Vec<Result<AnnounceResponse, TrackerError>>,
) -> Result<AnnounceResponse, TrackerError> {
    let mut merged: Option<AnnounceResponse> = None;
    let mut first_error = None;
    for reply in replies {
        match (reply, merged.as_mut()) {
            (Ok(reply), None) => merged = Some(reply),
            (Ok(reply), Some(all)) => {
                all.interval = all.interval.min(reply.interval);
                all.min_interval = match (all.min_interval, reply.min_interval) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                for peer in reply.peers {
                    if !all.peers.contains(&peer) {
                        all.peers.push(peer);
                    }
                }
                all.warning = all.warning.take().or(reply.warning);
                all.complete = all.complete.max(reply.complete);
                all.incomplete = all.incomplete.max(reply.incomplete);
            }
            (Err(err), _) => {
                first_error.get_or_insert(err);
            }
        }
    }
    match (merged, first_error) {
        (Some(reply), _) => Ok(reply),
        (None, Some(err)) => Err(err),
        (None, None) => Err(TrackerError::InvalidUrl {
            url: String::new(),
            reason: "no address to announce to".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn one_address_of_each_family_ipv4_first() {
        let addrs = [addr("[::1]:1"), addr("10.0.0.1:1"), addr("[::2]:1"), addr("10.0.0.2:1")];
        assert_eq!(one_per_family(addrs), [addr("10.0.0.1:1"), addr("[::1]:1")]);
        assert_eq!(one_per_family([addr("[::2]:1")]), [addr("[::2]:1")]);
        assert!(one_per_family([]).is_empty());
    }

    #[test]
    fn only_host_names_can_have_both_families() {
        assert_eq!(http_host("http://tracker.example/announce"), Some(("tracker.example", 80)));
        assert_eq!(http_host("https://t.example:8443/a?x=1"), Some(("t.example", 8443)));
        assert_eq!(http_host("http://user@t.example:81"), Some(("t.example", 81)));
        assert_eq!(http_host("http://[::1]:6969/announce"), None);
        assert_eq!(http_host("http://127.0.0.1:6969/announce"), None);
        assert_eq!(http_host("udp://t.example:6969"), None);
        assert_eq!(http_host("http://t.example:notaport/"), None);
    }

    fn reply(interval: u64, peers: &[&str]) -> AnnounceResponse {
        AnnounceResponse {
            interval: Duration::from_secs(interval),
            min_interval: None,
            peers: peers.iter().map(|p| addr(p)).collect(),
            warning: None,
            complete: Some(1),
            incomplete: None,
        }
    }

    #[test]
    fn replies_merge_into_every_peer_once_and_the_shorter_interval() {
        let v4 = reply(1800, &["10.0.0.1:1", "[::1]:2"]);
        let v6 = reply(900, &["[::1]:2", "[::3]:3"]);
        let merged = merge(vec![Ok(v4), Ok(v6)]).expect("merged");
        assert_eq!(merged.interval, Duration::from_secs(900));
        assert_eq!(merged.peers, [addr("10.0.0.1:1"), addr("[::1]:2"), addr("[::3]:3")]);
    }

    #[test]
    fn one_family_answering_is_enough() {
        let err = TrackerError::NoReply { url: "udp://t:1".into(), attempts: 2 };
        let merged = merge(vec![Err(err.clone()), Ok(reply(60, &["[::1]:2"]))]).expect("one");
        assert_eq!(merged.peers, [addr("[::1]:2")]);
        assert_eq!(merge(vec![Err(err.clone())]), Err(err));
    }
}
