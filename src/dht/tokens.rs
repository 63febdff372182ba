//! Announce tokens (BEP 5): the token we hand out with a `get_peers` answer, and the check of
//! the one an `announce_peer` brings back.
//!
//! A token is the first 8 bytes of SHA-1(secret ‖ querier's IP), so we keep no state per
//! querier. The secret is replaced every [`ROTATE`]; a token made from the previous secret
//! is still accepted, so a token lives between one and two rotations.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};

/// How often the secret changes.
pub const ROTATE: Duration = Duration::from_secs(5 * 60);
/// Bytes in a token.
pub const TOKEN_LEN: usize = 8;

/// The current and previous secrets.
pub struct Tokens {
    current: [u8; 16],
    previous: [u8; 16],
    rotated: Instant,
}

fn secret() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        fastrand::fill(&mut bytes);
    }
    bytes
}

fn token(secret: &[u8; 16], ip: IpAddr) -> [u8; TOKEN_LEN] {
    let mut hasher = Sha1::new();
    hasher.update(secret);
    match ip {
        IpAddr::V4(ip) => hasher.update(ip.octets()),
        IpAddr::V6(ip) => hasher.update(ip.octets()),
    }
    let digest: [u8; 20] = hasher.finalize().into();
    let mut out = [0u8; TOKEN_LEN];
    out.copy_from_slice(&digest[..TOKEN_LEN]);
    out
}

impl Tokens {
    /// Fresh secrets.
    pub fn new(now: Instant) -> Tokens {
        Tokens { current: secret(), previous: secret(), rotated: now }
    }

    /// Replaces the secret when [`ROTATE`] has passed.
    pub fn rotate_if_due(&mut self, now: Instant) {
        if now.duration_since(self.rotated) >= ROTATE {
            self.previous = self.current;
            self.current = secret();
            self.rotated = now;
        }
    }

    /// The token for a querier at `ip`.
    pub fn issue(&self, ip: IpAddr) -> Vec<u8> {
        token(&self.current, ip).to_vec()
    }

    /// True when `given` is a token we issued to `ip` under this or the previous secret.
    pub fn check(&self, ip: IpAddr, given: &[u8]) -> bool {
        given == token(&self.current, ip) || given == token(&self.previous, ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_lives_one_rotation_more_and_only_for_its_ip() {
        let now = Instant::now();
        let mut tokens = Tokens::new(now);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let given = tokens.issue(ip);
        assert!(tokens.check(ip, &given));
        assert!(!tokens.check([10, 0, 0, 2].into(), &given));
        tokens.rotate_if_due(now + ROTATE);
        assert!(tokens.check(ip, &given), "the previous secret still counts");
        tokens.rotate_if_due(now + ROTATE * 2);
        assert!(!tokens.check(ip, &given), "two rotations later it is gone");
    }
}
