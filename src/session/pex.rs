//! Peer exchange (BEP 11 `ut_pex`): connected peers tell each other whom they know.
//!
//! Our extended handshake names `ut_pex` on [`OUR_UT_PEX`], except for private torrents
//! (BEP 27), whose peers come from their trackers alone. A peer that names it in its own
//! handshake hears from us right after its handshake (a downloader of a small torrent may be
//! done, and part from a seed, within a second) and then at most once every
//! [`MESSAGE_INTERVAL`]: the listen addresses of the other peers we are connected
//! to that we did not name to it yet (`added`, at most [`MAX_ADDED`], flagged seed and
//! reachable where we know it, never the encryption flag), and those we named that are gone
//! (`dropped`). A listen address is the address we dialled, or for a peer that dialled us its
//! IP with the port of its extended handshake; a peer that named none is not passed on. Seeds
//! we part from because both sides are seeds are still named, so that a downloader learns of
//! them (the last [`MAX_SEEDS_NAMED`]).
//!
//! What peers send us is bounded by the codec (200 entries a list); the addresses go into the
//! address book as [`PeerSource::Pex`], which dedupes and bounds them, and are dialled like
//! a tracker's. A message that does not decode costs its sender a strike.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::address_book::PeerSource;
use super::swarm::Swarm;
use crate::peer::{PeerCommand, PeerKey};
use crate::wire::pex::{self, FLAG_REACHABLE, FLAG_SEED, PexMessage};
use crate::wire::{ExtendedHandshake, Message};

/// The extended message id we receive `ut_pex` messages on.
pub const OUR_UT_PEX: u8 = 3;
/// Least time between two of our messages to one peer.
pub const MESSAGE_INTERVAL: Duration = Duration::from_secs(60);
/// Most `added` entries in one of our messages.
pub const MAX_ADDED: usize = 50;
/// Most parted-from seeds we keep naming.
pub const MAX_SEEDS_NAMED: usize = 50;

/// What we exchange with one peer.
#[derive(Debug)]
pub struct PexState {
    /// The extended id it receives `ut_pex` on.
    pub their_id: u8,
    /// When our next message may go.
    pub next: Instant,
    /// The addresses we named to it and have not said are dropped.
    pub named: HashSet<SocketAddr>,
}

/// Adds `ut_pex` to our extended handshake, unless the torrent is private.
pub fn advertise(handshake: &mut ExtendedHandshake, private: bool) {
    if !private {
        handshake.extensions.insert(pex::UT_PEX.to_string(), OUR_UT_PEX);
    }
}

/// The id a peer receives `ut_pex` on, from its extended handshake (0 means disabled).
pub fn peer_id_for(handshake: &ExtendedHandshake) -> Option<u8> {
    handshake.extensions.get(pex::UT_PEX).copied().filter(|&id| id != 0)
}

/// The message that brings a peer told of `named` up to date with `now_known`, and what it
/// will have been told then. `added` holds at most [`MAX_ADDED`]; the rest wait.
fn diff(
    named: &HashSet<SocketAddr>,
    now_known: &HashMap<SocketAddr, u8>,
) -> (PexMessage, HashSet<SocketAddr>) {
    let mut added: Vec<(SocketAddr, u8)> = now_known
        .iter()
        .filter(|(addr, _)| !named.contains(addr))
        .map(|(addr, flags)| (*addr, *flags))
        .collect();
    added.sort();
    added.truncate(MAX_ADDED);
    let mut dropped: Vec<SocketAddr> =
        named.iter().filter(|addr| !now_known.contains_key(addr)).copied().collect();
    dropped.sort();
    let mut after: HashSet<SocketAddr> =
        named.iter().filter(|addr| now_known.contains_key(addr)).copied().collect();
    after.extend(added.iter().map(|(addr, _)| *addr));
    (PexMessage { added, dropped }, after)
}

impl Swarm {
    /// A `ut_pex` message from `key`: its peers go into the address book.
    pub(super) fn on_pex_message(&mut self, key: PeerKey, payload: &[u8]) {
        if self.config.metainfo.info.private {
            return;
        }
        let Some(peer) = self.peers.get_mut(key) else { return };
        let message = match PexMessage::decode(payload) {
            Ok(message) => message,
            Err(_) => {
                peer.strikes += 1;
                return;
            }
        };
        let now = Instant::now();
        let mut new = false;
        for (addr, _) in message.added {
            new |= self.book.learn(addr, PeerSource::Pex, now);
        }
        if new {
            self.connect_some(now);
        }
    }

    /// Remembers a seed we part from, to name it to downloaders.
    pub(super) fn remember_seed(&mut self, key: PeerKey) {
        let Some(addr) = self.peers.get(key).and_then(|peer| peer.listen_addr()) else { return };
        if !self.pex_seeds.contains(&addr) {
            if self.pex_seeds.len() >= MAX_SEEDS_NAMED {
                self.pex_seeds.pop_front();
            }
            self.pex_seeds.push_back(addr);
        }
    }

    /// Sends the `ut_pex` messages that are due.
    pub(super) fn send_pex(&mut self, now: Instant) {
        if self.config.metainfo.info.private {
            return;
        }
        let due: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, peer)| peer.pex.as_ref().is_some_and(|pex| pex.next <= now))
            .map(|(key, _)| key)
            .collect();
        if due.is_empty() {
            return;
        }
        let mut known: HashMap<SocketAddr, u8> =
            self.pex_seeds.iter().map(|addr| (*addr, FLAG_SEED)).collect();
        for (_, peer) in self.peers.iter() {
            if let Some(addr) = peer.listen_addr() {
                let seed = if peer.has.is_complete() { FLAG_SEED } else { 0 };
                let reachable = if peer.outgoing { FLAG_REACHABLE } else { 0 };
                known.insert(addr, seed | reachable);
            }
        }
        for key in due {
            let Some(peer) = self.peers.get_mut(key) else { continue };
            let own = peer.listen_addr();
            let Some(state) = peer.pex.as_mut() else { continue };
            let mut theirs = known.clone();
            if let Some(own) = own {
                theirs.remove(&own);
            }
            let (message, named) = diff(&state.named, &theirs);
            state.named = named;
            state.next = now + MESSAGE_INTERVAL;
            if message.added.is_empty() && message.dropped.is_empty() {
                continue;
            }
            let message = Message::Extended { id: state.their_id, payload: message.encode() };
            peer.handle.send(PeerCommand::Send(vec![message]));
        }
    }
}

/// The seeds we keep naming after parting from them.
pub type NamedSeeds = VecDeque<SocketAddr>;

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn names_new_peers_once_and_drops_the_gone() {
        let known: HashMap<_, _> = [(addr(1), FLAG_SEED), (addr(2), 0)].into();
        let (first, named) = diff(&HashSet::new(), &known);
        assert_eq!(first.added, vec![(addr(1), FLAG_SEED), (addr(2), 0)]);
        assert!(first.dropped.is_empty());
        let known: HashMap<_, _> = [(addr(2), 0), (addr(3), FLAG_REACHABLE)].into();
        let (second, named) = diff(&named, &known);
        assert_eq!(second.added, vec![(addr(3), FLAG_REACHABLE)]);
        assert_eq!(second.dropped, vec![addr(1)]);
        assert_eq!(named, [addr(2), addr(3)].into());
    }

    #[test]
    fn adds_at_most_fifty_at_a_time() {
        let known: HashMap<_, _> = (1..=120).map(|p| (addr(p), 0)).collect();
        let (first, named) = diff(&HashSet::new(), &known);
        assert_eq!(first.added.len(), MAX_ADDED);
        let (second, named) = diff(&named, &known);
        assert_eq!(second.added.len(), MAX_ADDED);
        let (third, named) = diff(&named, &known);
        assert_eq!((third.added.len(), named.len()), (20, 120));
    }
}
