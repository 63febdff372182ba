//! The address book: every peer address the session may dial, where it came from, when it
//! may be tried again, and who is banned.
//!
//! Peer sources (the command line, trackers, the same-host registry, the listen port a
//! connected peer names in its BEP 10 handshake, PEX, the DHT; later LSD) all feed it
//! through one entry point, [`AddressBook::learn`]. The session alone decides whom to dial:
//! [`AddressBook::due`] names the addresses worth a connection attempt now. The book keeps no
//! sockets and starts nothing; it is pure state, driven by the session's calls.
//!
//! It is bounded: at most [`MAX_ADDRESSES`] addresses (a tracker may name 175,000 peers in
//! one reply, every interval). When full, a new address takes the place of one whose dials
//! failed, or is not kept. Idle addresses wait in a queue ordered by when they may be dialled,
//! so finding the due ones looks at those only, not at every address.
//!
//! Invariants:
//! - an address is in the book at most once, in its canonical form (IPv4 for a v4-mapped
//!   IPv6 address), and never one of our own listen addresses or port 0; the book holds at
//!   most [`MAX_ADDRESSES`];
//! - an address is in the queue, under its `next_try`, iff it is `Idle`;
//! - an address is `Dialling` only between [`AddressBook::dialling`] and the attempt's end
//!   ([`AddressBook::dial_failed`] or [`AddressBook::connected`]), and `Connected` only
//!   between [`AddressBook::connected`] and [`AddressBook::disconnected`];
//! - a banned address or peer id is never due;
//! - while we have every piece ourselves, a peer known to be a seed (by its address or its
//!   peer id, see [`AddressBook::seed_found`]) is never due: two seeds have nothing to say.

use std::collections::{BTreeSet, HashMap, HashSet};
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
    /// Another peer's peer exchange (BEP 11).
    Pex,
    /// A peer that dialled us over uTP, which we refuse: it listens for TCP on that port.
    UtpSyn,
    /// A DHT lookup (BEP 5).
    Dht,
    /// An announce on the local network (BEP 14).
    Lsd,
}

/// How long after a connection ends its address may be dialled again.
const REDIAL_AFTER_CLOSE: Duration = Duration::from_secs(5);
/// How long a dial may be outstanding before the address counts as due again anyway.
const DIAL_GRACE: Duration = Duration::from_secs(30);
/// Most seeds remembered, by address and by peer id each.
const MAX_SEEDS: usize = 4096;
/// Most addresses the book keeps.
pub const MAX_ADDRESSES: usize = 4096;
/// How far from the end of the queue a full book looks for a failed address to forget.
const EVICTION_SEARCH: usize = 64;
/// How long an address that was due but not worth a dial (a known seed while we are complete,
/// a peer connected by another route) waits before it is looked at again.
const RECHECK_AFTER: Duration = Duration::from_secs(5);

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
    next_try: Instant,
    /// The peer id that answered at this address, once one has.
    peer_id: Option<PeerId>,
}

impl Entry {
    fn new(now: Instant) -> Entry {
        Entry { state: State::Idle, failures: 0, next_try: now, peer_id: None }
    }
}

/// Known peer addresses, their dial state and the bans.
#[derive(Debug)]
pub struct AddressBook {
    entries: HashMap<SocketAddr, Entry>,
    /// The idle addresses, by when they may be dialled.
    queue: BTreeSet<(Instant, SocketAddr)>,
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
            queue: BTreeSet::new(),
            banned_addrs: HashSet::new(),
            banned_ids: HashSet::new(),
            seed_addrs: HashSet::new(),
            seed_ids: HashSet::new(),
            complete: false,
            own,
        }
    }

    /// Records an address a source named (a v4-mapped one as IPv4). Returns true when it is
    /// new to the book and kept.
    pub fn learn(&mut self, addr: SocketAddr, _source: PeerSource, now: Instant) -> bool {
        let addr = crate::dual_stack::canonical(addr);
        if addr.port() == 0 || self.own.contains(&addr) || self.entries.contains_key(&addr) {
            return false;
        }
        if self.entries.len() >= MAX_ADDRESSES && !self.forget_a_failed_address() {
            return false;
        }
        self.entries.insert(addr, Entry::new(now));
        self.queue.insert((now, addr));
        true
    }

    /// Makes room: forgets the idle address dialled last that has failed, if there is one
    /// among the last [`EVICTION_SEARCH`] in the queue (failures push an address back).
    fn forget_a_failed_address(&mut self) -> bool {
        let victim = self
            .queue
            .iter()
            .rev()
            .take(EVICTION_SEARCH)
            .find(|(_, addr)| self.entries.get(addr).is_some_and(|e| e.failures > 0))
            .copied();
        let Some((at, addr)) = victim else { return false };
        self.queue.remove(&(at, addr));
        self.entries.remove(&addr);
        true
    }

    /// Up to `limit` addresses to dial now: idle, past their backoff, not banned, and not the
    /// address of a peer we are connected to by another route (`connected_id` says whether a
    /// peer id is among the connected peers). Due addresses that are not worth a dial now are
    /// looked at again after [`RECHECK_AFTER`].
    pub fn due(
        &mut self,
        now: Instant,
        limit: usize,
        connected_id: impl Fn(PeerId) -> bool,
    ) -> Vec<SocketAddr> {
        let mut due = Vec::new();
        let mut later = Vec::new();
        for &(at, addr) in &self.queue {
            if at > now || due.len() >= limit {
                break;
            }
            let Some(entry) = self.entries.get(&addr) else { continue };
            let skip = self.banned_addrs.contains(&addr)
                || entry.peer_id.is_some_and(&connected_id)
                || (self.complete && self.is_seed(addr, entry.peer_id));
            if skip {
                later.push(addr);
            } else {
                due.push(addr);
            }
        }
        for addr in later {
            self.set_idle(addr, now + RECHECK_AFTER);
        }
        due
    }

    /// Puts `addr` back in the queue, idle, due at `at`.
    fn set_idle(&mut self, addr: SocketAddr, at: Instant) {
        let Some(entry) = self.entries.get_mut(&addr) else { return };
        if entry.state == State::Idle {
            self.queue.remove(&(entry.next_try, addr));
        }
        entry.state = State::Idle;
        entry.next_try = at;
        self.queue.insert((at, addr));
    }

    /// Takes `addr` out of the queue into `state` (dialling or connected).
    fn set_busy(&mut self, addr: SocketAddr, state: State) {
        let Some(entry) = self.entries.get_mut(&addr) else { return };
        if entry.state == State::Idle {
            self.queue.remove(&(entry.next_try, addr));
        }
        entry.state = state;
    }

    /// A connection attempt to `addr` has started.
    pub fn dialling(&mut self, addr: SocketAddr, now: Instant) {
        self.set_busy(addr, State::Dialling);
        if let Some(entry) = self.entries.get_mut(&addr) {
            entry.next_try = now + DIAL_GRACE;
        }
    }

    /// The attempt to reach `addr` failed: try again later, waiting longer after each failure.
    pub fn dial_failed(&mut self, addr: SocketAddr, now: Instant) {
        let Some(entry) = self.entries.get_mut(&addr) else { return };
        entry.failures += 1;
        let backoff = Duration::from_secs(2u64 << entry.failures.min(6));
        self.set_idle(addr, now + backoff);
    }

    /// A handshake with `peer_id` at `addr` finished (an attempt of ours, or a peer that
    /// dialled us). Should the connection not be kept after all, the address may be dialled
    /// again at once.
    pub fn handshaken(&mut self, addr: SocketAddr, peer_id: PeerId) {
        let Some(entry) = self.entries.get_mut(&addr) else { return };
        entry.peer_id = Some(peer_id);
        self.set_idle(addr, Instant::now());
    }

    /// The peer at `addr` is now one of our connections.
    pub fn connected(&mut self, addr: SocketAddr) {
        self.set_busy(addr, State::Connected);
        if let Some(entry) = self.entries.get_mut(&addr) {
            entry.failures = 0;
        }
    }

    /// The connection to the peer at `addr` ended.
    pub fn disconnected(&mut self, addr: SocketAddr, now: Instant) {
        self.set_idle(addr, now + REDIAL_AFTER_CLOSE);
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

    fn nobody(_: PeerId) -> bool {
        false
    }

    #[test]
    fn an_address_is_learned_once_and_our_own_never() {
        let now = Instant::now();
        let mut book = AddressBook::new(vec![addr(6881)]);
        assert!(book.learn(addr(1), PeerSource::Tracker, now));
        assert!(!book.learn(addr(1), PeerSource::Manual, now));
        assert!(!book.learn(addr(6881), PeerSource::Registry, now));
        assert!(!book.learn(addr(0), PeerSource::Tracker, now));
    }

    #[test]
    fn a_failed_dial_backs_off_and_a_connected_address_is_not_due() {
        let now = Instant::now();
        let mut book = AddressBook::new(Vec::new());
        book.learn(addr(1), PeerSource::Tracker, now);
        book.learn(addr(2), PeerSource::Tracker, now);
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
            book.learn(addr(port), PeerSource::Tracker, now);
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
            book.learn(many(n), PeerSource::Tracker, now);
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
        assert!(book.learn(fresh, PeerSource::Tracker, now), "a failed address makes room");
        assert!(book.len() <= MAX_ADDRESSES);
        let tried: Vec<SocketAddr> = due.iter().copied().filter(|a| book.knows(*a)).collect();
        assert_eq!(tried.len(), 15, "one failed address was forgotten for the new one");
    }

    #[test]
    fn known_seeds_are_not_due_while_we_are_complete() {
        let now = Instant::now();
        let mut book = AddressBook::new(Vec::new());
        for port in 1..=3 {
            book.learn(addr(port), PeerSource::Tracker, now);
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
