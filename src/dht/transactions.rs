//! Our queries awaiting an answer: each under a 2-byte transaction id, with the address it
//! went to and why we sent it.
//!
//! An answer is matched only when both its transaction id and its source address are those
//! of a query we sent, so forged or stray responses are dropped. At most [`MAX_PENDING`]
//! queries wait at once (a new one is refused past that), and each is given up after
//! [`TIMEOUT`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::id::NodeId;

/// Most queries awaiting answers.
pub const MAX_PENDING: usize = 2048;
/// How long we wait for an answer.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// Why a query was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A ping: to learn whether a node is alive.
    Ping,
    /// A step of the lookup with this number.
    Lookup(u64),
    /// An `announce_peer`.
    Announce,
}

/// One query in flight.
#[derive(Clone, Copy, Debug)]
pub struct Pending {
    /// Where it went.
    pub addr: SocketAddr,
    /// The id we expect there, when known.
    pub id: Option<NodeId>,
    /// Why.
    pub purpose: Purpose,
    /// When.
    pub sent: Instant,
}

/// The queries in flight.
#[derive(Default)]
pub struct Transactions {
    next: u16,
    pending: HashMap<u16, Pending>,
}

impl Transactions {
    /// Records a query, returning its transaction id, or `None` when too many wait already.
    pub fn start(&mut self, pending: Pending) -> Option<[u8; 2]> {
        if self.pending.len() >= MAX_PENDING {
            return None;
        }
        // MAX_PENDING is far below 65536, so a free id is always found quickly.
        loop {
            self.next = self.next.wrapping_add(1);
            if !self.pending.contains_key(&self.next) {
                self.pending.insert(self.next, pending);
                return Some(self.next.to_be_bytes());
            }
        }
    }

    /// The query an answer with `transaction` from `from` belongs to, removed from the set.
    pub fn finish(&mut self, transaction: &[u8], from: SocketAddr) -> Option<Pending> {
        let key = u16::from_be_bytes(transaction.try_into().ok()?);
        match self.pending.get(&key) {
            Some(pending) if pending.addr == from => self.pending.remove(&key),
            _ => None,
        }
    }

    /// Removes and returns the queries older than [`TIMEOUT`].
    pub fn expired(&mut self, now: Instant) -> Vec<Pending> {
        let mut gone = Vec::new();
        self.pending.retain(|_, p| {
            let keep = now.duration_since(p.sent) < TIMEOUT;
            if !keep {
                gone.push(*p);
            }
            keep
        });
        gone
    }

    /// Queries in flight.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when none is in flight.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(port: u16, sent: Instant) -> Pending {
        Pending {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            id: None,
            purpose: Purpose::Ping,
            sent,
        }
    }

    #[test]
    fn answers_match_only_their_id_and_address() {
        let now = Instant::now();
        let mut set = Transactions::default();
        let t = set.start(pending(1, now)).expect("room");
        assert!(set.finish(&t, SocketAddr::from(([127, 0, 0, 1], 2))).is_none(), "wrong source");
        assert!(set.finish(b"xyz", SocketAddr::from(([127, 0, 0, 1], 1))).is_none());
        assert!(set.finish(&t, SocketAddr::from(([127, 0, 0, 1], 1))).is_some());
        assert!(set.finish(&t, SocketAddr::from(([127, 0, 0, 1], 1))).is_none(), "only once");
    }

    #[test]
    fn bounded_and_expiring() {
        let now = Instant::now();
        let mut set = Transactions::default();
        for _ in 0..MAX_PENDING {
            assert!(set.start(pending(1, now)).is_some());
        }
        assert!(set.start(pending(1, now)).is_none());
        assert_eq!(set.expired(now + TIMEOUT).len(), MAX_PENDING);
        assert!(set.is_empty());
    }
}
