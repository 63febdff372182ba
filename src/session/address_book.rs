//! The address book: every peer address the session may dial, where it came from, when it
//! may be tried again, and who is banned.
//!
//! Peer sources (the command line, trackers, the same-host registry, the listen port a
//! connected peer names in its BEP 10 handshake; later PEX, the DHT and LSD) all feed it
//! through one entry point, [`AddressBook::learn`]. The session alone decides whom to dial:
//! [`AddressBook::due`] names the addresses worth a connection attempt now. The book keeps no
//! sockets and starts nothing; it is pure state, driven by the session's calls.
//!
//! Invariants:
//! - an address is in the book at most once, and never one of our own listen addresses or
//!   port 0;
//! - an address is `Dialling` only between [`AddressBook::dialling`] and the attempt's end
//!   ([`AddressBook::dial_failed`] or [`AddressBook::connected`]), and `Connected` only
//!   between [`AddressBook::connected`] and [`AddressBook::disconnected`];
//! - a banned address or peer id is never due;
//! - while we have every piece ourselves, a peer known to be a seed (by its address or its
//!   peer id, see [`AddressBook::seed_found`]) is never due: two seeds have nothing to say.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::types::PeerId;

/// Where an address came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerSource {
    /// Named by the user (`--peer`).
    Manual,
    /// A tracker's announce reply.
    Tracker,
    /// Another `mt` process on this host (the same-host registry).
    Registry,
    /// The listen port a connected peer named in its extension handshake.
    ListenPort,
}

/// How long after a connection ends its address may be dialled again.
const REDIAL_AFTER_CLOSE: Duration = Duration::from_secs(5);
/// How long a dial may be outstanding before the address counts as due again anyway.
const DIAL_GRACE: Duration = Duration::from_secs(30);
/// Most seeds remembered, by address and by peer id each.
const MAX_SEEDS: usize = 4096;

/// Where an address stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not connected, no attempt under way.
    Idle,
    /// A connection attempt is under way.
    Dialling,
    /// A peer at this address is connected.
    Connected,
}

/// What the book knows about one address.
#[derive(Debug)]
struct Entry {
    state: State,
    /// Failed connection attempts in a row.
    failures: u32,
    /// Not to be dialled before this.
    next_try: Option<Instant>,
    /// The peer id that answered at this address, once one has.
    peer_id: Option<PeerId>,
}

impl Entry {
    fn new() -> Entry {
        Entry { state: State::Idle, failures: 0, next_try: None, peer_id: None }
    }
}

/// Known peer addresses, their dial state and the bans.
#[derive(Debug)]
pub struct AddressBook {
    entries: HashMap<SocketAddr, Entry>,
    banned_addrs: HashSet<SocketAddr>,
    banned_ids: HashSet<PeerId>,
    /// Peers seen with every piece.
    seed_addrs: HashSet<SocketAddr>,
    seed_ids: HashSet<PeerId>,
    /// We have every piece ourselves.
    complete: bool,
    /// Addresses that are us.
    own: Vec<SocketAddr>,
}

impl AddressBook {
    /// An empty book that ignores the addresses in `own` (ours).
    pub fn new(own: Vec<SocketAddr>) -> AddressBook {
        AddressBook {
            entries: HashMap::new(),
            banned_addrs: HashSet::new(),
            banned_ids: HashSet::new(),
            seed_addrs: HashSet::new(),
            seed_ids: HashSet::new(),
            complete: false,
            own,
        }
    }

    /// Records an address a source named. Returns true when it is new to the book.
    pub fn learn(&mut self, addr: SocketAddr, _source: PeerSource) -> bool {
        if addr.port() == 0 || self.own.contains(&addr) || self.entries.contains_key(&addr) {
            return false;
        }
        self.entries.insert(addr, Entry::new());
        true
    }

    /// Up to `limit` addresses to dial now: idle, past their backoff, not banned, and not the
    /// address of a peer we are connected to by another route (`connected_id` says whether a
    /// peer id is among the connected peers).
    pub fn due(
        &self,
        now: Instant,
        limit: usize,
        connected_id: impl Fn(PeerId) -> bool,
    ) -> Vec<SocketAddr> {
        self.entries
            .iter()
            .filter(|(addr, entry)| {
                entry.state == State::Idle
                    && entry.next_try.is_none_or(|at| at <= now)
                    && !self.banned_addrs.contains(*addr)
                    && !entry.peer_id.is_some_and(&connected_id)
                    && !(self.complete && self.is_seed(**addr, entry.peer_id))
            })
            .map(|(addr, _)| *addr)
            .take(limit)
            .collect()
    }

    /// A connection attempt to `addr` has started.
    pub fn dialling(&mut self, addr: SocketAddr, now: Instant) {
        if let Some(entry) = self.entries.get_mut(&addr) {
            entry.state = State::Dialling;
            entry.next_try = Some(now + DIAL_GRACE);
        }
    }

    /// The attempt to reach `addr` failed: try again later, waiting longer after each failure.
    pub fn dial_failed(&mut self, addr: SocketAddr, now: Instant) {
        if let Some(entry) = self.entries.get_mut(&addr) {
            entry.state = State::Idle;
            entry.failures += 1;
            let backoff = Duration::from_secs(2u64 << entry.failures.min(6));
            entry.next_try = Some(now + backoff);
        }
    }

    /// A handshake with `peer_id` at `addr` finished (an attempt of ours, or a peer that
    /// dialled us). Should the connection not be kept after all, the address may be dialled
    /// again at once.
    pub fn handshaken(&mut self, addr: SocketAddr, peer_id: PeerId) {
        if let Some(entry) = self.entries.get_mut(&addr) {
            entry.state = State::Idle;
            entry.peer_id = Some(peer_id);
            entry.next_try = None;
        }
    }

    /// The peer at `addr` is now one of our connections.
    pub fn connected(&mut self, addr: SocketAddr) {
        if let Some(entry) = self.entries.get_mut(&addr) {
            entry.state = State::Connected;
            entry.failures = 0;
        }
    }

    /// The connection to the peer at `addr` ended.
    pub fn disconnected(&mut self, addr: SocketAddr, now: Instant) {
        if let Some(entry) = self.entries.get_mut(&addr) {
            entry.state = State::Idle;
            entry.next_try = Some(now + REDIAL_AFTER_CLOSE);
        }
    }

    /// Records that `peer_id` listens at `addr` (it told us while connected from elsewhere),
    /// so we do not dial it while connected.
    pub fn listens_at(&mut self, addr: SocketAddr, peer_id: PeerId) {
        if let Some(entry) = self.entries.get_mut(&addr) {
            entry.peer_id = Some(peer_id);
        }
    }

    /// The peer `peer_id` at `addr` has every piece: remember it by both, so that once we
    /// have every piece too it is not dialled again (at any address it is known by).
    pub fn seed_found(&mut self, addr: SocketAddr, peer_id: PeerId) {
        if self.seed_addrs.len() < MAX_SEEDS {
            self.seed_addrs.insert(addr);
        }
        if self.seed_ids.len() < MAX_SEEDS {
            self.seed_ids.insert(peer_id);
        }
    }

    /// Whether we have every piece ourselves, so that known seeds are not worth a dial.
    pub fn set_complete(&mut self, complete: bool) {
        self.complete = complete;
    }

    /// Whether the peer at `addr` (with `peer_id`, if known) is a known seed.
    fn is_seed(&self, addr: SocketAddr, peer_id: Option<PeerId>) -> bool {
        self.seed_addrs.contains(&addr) || peer_id.is_some_and(|id| self.seed_ids.contains(&id))
    }

    /// How many addresses the book holds.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the book holds `addr`.
    #[cfg(test)]
    pub fn knows(&self, addr: SocketAddr) -> bool {
        self.entries.contains_key(&addr)
    }

    /// Refuses this address and peer id from now on.
    pub fn ban(&mut self, addr: SocketAddr, peer_id: PeerId) {
        self.banned_addrs.insert(addr);
        self.banned_ids.insert(peer_id);
    }

    /// Whether a connection from `addr` with `peer_id` is refused.
    pub fn is_banned(&self, addr: SocketAddr, peer_id: PeerId) -> bool {
        self.banned_addrs.contains(&addr) || self.banned_ids.contains(&peer_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    /// The most addresses the book should keep.
    const MAX_ADDRESSES: usize = 4096;

    fn nobody(_: PeerId) -> bool {
        false
    }

    #[test]
    fn an_address_is_learned_once_and_our_own_never() {
        let mut book = AddressBook::new(vec![addr(6881)]);
        assert!(book.learn(addr(1), PeerSource::Tracker));
        assert!(!book.learn(addr(1), PeerSource::Manual));
        assert!(!book.learn(addr(6881), PeerSource::Registry));
        assert!(!book.learn(addr(0), PeerSource::Tracker));
    }

    #[test]
    fn a_failed_dial_backs_off_and_a_connected_address_is_not_due() {
        let now = Instant::now();
        let mut book = AddressBook::new(Vec::new());
        book.learn(addr(1), PeerSource::Tracker);
        book.learn(addr(2), PeerSource::Tracker);
        book.dialling(addr(1), now);
        book.dialling(addr(2), now);
        assert_eq!(book.due(now, 10, nobody), []);
        book.dial_failed(addr(1), now);
        assert_eq!(book.due(now, 10, nobody), []);
        assert_eq!(book.due(now + Duration::from_secs(5), 10, nobody), [addr(1)]);
        book.handshaken(addr(2), PeerId([2; 20]));
        book.connected(addr(2));
        assert_eq!(book.due(now + Duration::from_secs(60), 10, nobody), [addr(1)]);
        book.disconnected(addr(2), now);
        let later = now + Duration::from_secs(60);
        let mut due = book.due(later, 10, nobody);
        due.sort();
        assert_eq!(due, [addr(1), addr(2)]);
    }

    #[test]
    fn banned_addresses_and_peers_already_connected_elsewhere_are_not_due() {
        let now = Instant::now();
        let mut book = AddressBook::new(Vec::new());
        for port in 1..=3 {
            book.learn(addr(port), PeerSource::Tracker);
        }
        book.ban(addr(1), PeerId([1; 20]));
        assert!(book.is_banned(addr(9), PeerId([1; 20])));
        book.listens_at(addr(2), PeerId([2; 20]));
        assert_eq!(book.due(now, 10, |id| id == PeerId([2; 20])), [addr(3)]);
    }

    #[test]
    fn the_book_stays_bounded_and_makes_room_by_forgetting_failed_addresses() {
        let now = Instant::now();
        let mut book = AddressBook::new(Vec::new());
        // A tracker may name 175,000 peers in one reply.
        let many = |n: u32| SocketAddr::from((std::net::Ipv4Addr::from(0x0a00_0000 + n), 6881));
        for n in 0..175_000 {
            book.learn(many(n), PeerSource::Tracker);
        }
        assert!(book.len() <= MAX_ADDRESSES, "{} addresses kept", book.len());
        // Addresses that failed make room for new ones; untried ones are kept.
        let due = book.due(now, 16, nobody);
        assert_eq!(due.len(), 16);
        for addr in &due {
            book.dialling(*addr, now);
            book.dial_failed(*addr, now);
        }
        let fresh = addr(1);
        assert!(book.learn(fresh, PeerSource::Tracker), "a failed address makes room");
        assert!(book.len() <= MAX_ADDRESSES);
        let tried: Vec<SocketAddr> = due.iter().copied().filter(|a| book.knows(*a)).collect();
        assert_eq!(tried.len(), 15, "one failed address was forgotten for the new one");
    }

    #[test]
    fn known_seeds_are_not_due_while_we_are_complete() {
        let now = Instant::now();
        let mut book = AddressBook::new(Vec::new());
        for port in 1..=3 {
            book.learn(addr(port), PeerSource::Tracker);
        }
        // A seed we dialled at its address, and one that dialled us from another port and
        // named the port it listens on.
        book.seed_found(addr(1), PeerId([1; 20]));
        book.listens_at(addr(2), PeerId([2; 20]));
        book.seed_found(addr(40_000), PeerId([2; 20]));
        let mut due = book.due(now, 10, nobody);
        due.sort();
        assert_eq!(due, [addr(1), addr(2), addr(3)], "a download still wants seeds");
        book.set_complete(true);
        assert_eq!(book.due(now, 10, nobody), [addr(3)]);
    }
}
