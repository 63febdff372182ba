//! Per-address query rate limits: what keeps one flooding host from taking the node's time
//! away from everyone else.
//!
//! Each source IP (each source IP and port, on a testnet where many nodes share one address)
//! has a token bucket of [`BURST`] queries refilled at [`PER_SECOND`]; a query
//! over the limit is dropped unanswered. The buckets themselves are bounded: at most
//! [`MAX_SOURCES`] addresses are tracked, and when that many are, full (idle) buckets are
//! forgotten first and otherwise the table is cleared, so a flood from many addresses costs
//! bounded memory and at worst briefly lifts the limit instead of growing without end.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

/// Queries a source may send at once.
pub const BURST: f64 = 50.0;
/// Queries per second a source earns back.
pub const PER_SECOND: f64 = 25.0;
/// Most sources tracked at once.
pub const MAX_SOURCES: usize = 10_000;

/// The buckets, by source address.
#[derive(Default)]
pub struct RateLimit {
    sources: HashMap<SocketAddr, (f64, Instant)>,
    dropped: u64,
    per_port: bool,
}

impl RateLimit {
    /// Counts each source port apart from now on (many nodes on one address).
    pub fn per_port(&mut self) {
        self.per_port = true;
    }

    /// True when a query from `from` may be answered now (and counts it).
    pub fn allow(&mut self, from: SocketAddr, now: Instant) -> bool {
        let ip = if self.per_port { from } else { SocketAddr::new(from.ip(), 0) };
        if !self.sources.contains_key(&ip) && self.sources.len() >= MAX_SOURCES {
            self.sources.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * PER_SECOND < BURST
            });
            if self.sources.len() >= MAX_SOURCES {
                self.sources.clear();
            }
        }
        let (tokens, at) = self.sources.entry(ip).or_insert((BURST, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * PER_SECOND).min(BURST);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            self.dropped += 1;
            false
        }
    }

    /// Queries dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Sources tracked now.
    pub fn sources(&self) -> usize {
        self.sources.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;
    use std::time::Duration;

    #[test]
    fn one_flooding_address_does_not_limit_another() {
        let now = Instant::now();
        let mut limit = RateLimit::default();
        let flood = SocketAddr::from(([127, 0, 0, 2], 1));
        let flood_other_port = SocketAddr::from(([127, 0, 0, 2], 2));
        let honest = SocketAddr::from(([127, 0, 0, 1], 1));
        let allowed = (0..10_000).filter(|_| limit.allow(flood, now)).count();
        assert_eq!(allowed, 50);
        assert!(limit.allow(honest, now));
        assert!(!limit.allow(flood_other_port, now), "one address, whatever the port");
        assert!(limit.allow(flood, now + Duration::from_secs(1)), "the bucket refills");
        assert_eq!(limit.dropped(), 9951);
    }

    #[test]
    fn per_port_on_a_testnet() {
        let now = Instant::now();
        let mut limit = RateLimit::default();
        limit.per_port();
        let one = SocketAddr::from(([127, 0, 0, 1], 1));
        let two = SocketAddr::from(([127, 0, 0, 1], 2));
        assert_eq!((0..100).filter(|_| limit.allow(one, now)).count(), 50);
        assert!(limit.allow(two, now));
    }

    #[test]
    fn the_sources_stay_bounded() {
        let now = Instant::now();
        let mut limit = RateLimit::default();
        for n in 0..30_000u32 {
            limit.allow(SocketAddr::new(IpAddr::from(n.to_be_bytes()), 1), now);
            assert!(limit.sources() <= MAX_SOURCES);
        }
    }
}
