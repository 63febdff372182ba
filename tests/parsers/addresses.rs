//! Peer and tracker addresses in both families: the host read from an HTTP tracker URL (to
//! announce over each family a name resolves to) never panics and is only ever a host name;
//! choosing one address per family keeps the first of each; compact peer lists (BEP 7 and
//! 23) round-trip any mix of IPv4, IPv6 and v4-mapped peers, a mapped one coming back as
//! IPv4; and the dual-stack address normalisation is idempotent and undone by the form a
//! dual-stack socket sends to.

use std::net::{IpAddr, SocketAddr};

use mt::dual_stack::{canonical, for_socket};
use mt::tracker::announce::{decode_compact_v4, decode_compact_v6, encode_compact};
use mt::tracker::families::{http_host, one_per_family};
use proptest::collection::vec;
use proptest::prelude::*;

use crate::support::config;

/// Peer addresses with a port, a third of them v4-mapped IPv6.
fn peer() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), 1..=u16::MAX).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        (any::<[u8; 16]>(), 1..=u16::MAX).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        (any::<[u8; 4]>(), 1..=u16::MAX).prop_map(|(ip, port)| {
            let mapped = std::net::Ipv4Addr::from(ip).to_ipv6_mapped();
            SocketAddr::new(mapped.into(), port)
        }),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn http_host_never_panics_and_gives_only_host_names(input in "\\PC{0,80}") {
        if let Some((host, _)) = http_host(&input) {
            prop_assert!(!host.is_empty());
            prop_assert!(host.parse::<IpAddr>().is_err(), "{host}");
            prop_assert!(!host.contains(['/', '?', '#', '@']), "{host}");
        }
    }

    #[test]
    fn http_host_reads_the_name_and_port_of_a_tracker_url(
        name in "[a-z][a-z0-9-]{0,20}(\\.[a-z]{2,6}){0,2}",
        port in proptest::option::of(1..=u16::MAX),
        path in "(/[a-z0-9]{0,8}){0,3}(\\?[a-z=&]{0,10})?",
        https in any::<bool>(),
    ) {
        let scheme = if https { "https" } else { "http" };
        let url = match port {
            Some(port) => format!("{scheme}://{name}:{port}{path}"),
            None => format!("{scheme}://{name}{path}"),
        };
        let default = if https { 443 } else { 80 };
        prop_assert_eq!(http_host(&url), Some((name.as_str(), port.unwrap_or(default))));
    }

    #[test]
    fn tracker_urls_with_address_literals_are_one_family(addr in any::<SocketAddr>()) {
        let url = format!("http://{addr}/announce");
        prop_assert_eq!(http_host(&url), None);
    }

    #[test]
    fn one_address_per_family_is_the_first_of_each(addrs in vec(any::<SocketAddr>(), 0..20)) {
        let chosen = one_per_family(addrs.clone());
        let first_v4 = addrs.iter().find(|a| a.is_ipv4()).copied();
        let first_v6 = addrs.iter().find(|a| a.is_ipv6()).copied();
        prop_assert_eq!(chosen, first_v4.into_iter().chain(first_v6).collect::<Vec<_>>());
    }

    #[test]
    fn compact_lists_round_trip_both_families_and_mapped_peers_as_ipv4(
        peers in vec(peer(), 0..40),
    ) {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        encode_compact(&peers, &mut v4, &mut v6);
        prop_assert_eq!(v4.len() % 6, 0);
        prop_assert_eq!(v6.len() % 18, 0);
        let canonical_peers: Vec<SocketAddr> = peers.iter().map(|p| canonical(*p)).collect();
        let want_v4: Vec<_> = canonical_peers.iter().filter(|p| p.is_ipv4()).copied().collect();
        let want_v6: Vec<_> = canonical_peers.iter().filter(|p| p.is_ipv6()).copied().collect();
        prop_assert_eq!(decode_compact_v4(&v4), Some(want_v4));
        prop_assert_eq!(decode_compact_v6(&v6), Some(want_v6));
    }

    #[test]
    fn normalised_addresses_stay_normal_and_reach_the_same_peer(addr in peer()) {
        let plain = canonical(addr);
        prop_assert_eq!(canonical(plain), plain);
        prop_assert_eq!(plain.port(), addr.port());
        let dual: SocketAddr = "[::]:6881".parse().expect("an address");
        let sent_to = for_socket(dual, plain);
        prop_assert!(sent_to.is_ipv6());
        prop_assert_eq!(canonical(sent_to), plain);
        let v4: SocketAddr = "0.0.0.0:6881".parse().expect("an address");
        prop_assert_eq!(for_socket(v4, plain), plain);
    }
}
