//! Making and ending connections: peer addresses from every source into the address book,
//! dialled as soon as they arrive within a budget of [`CONNECTS_PER_SECOND`]; a finished
//! handshake becoming a connected peer (or not); and the end of a connection.
//!
//! Two peers that dial each other at once end up with one connection: each end keeps the one
//! opened by the peer with the lower id. When the session is full it makes room by dropping
//! the peer that has been of no use the longest, so idle connections cannot lock others out.
//! A peer that had every piece when its connection ended is remembered as a seed, so a
//! complete session does not dial it again.

use std::net::SocketAddr;
use std::time::Instant;

use super::Event;
use super::address_book::PeerSource;
use super::metadata;
use super::peers::{OUR_REQQ, Peer};
use super::pex;
use super::swarm::Swarm;
use crate::peer::{self, Connected, PeerCommand, PeerKey, PeerOptions};
use crate::types::PeerId;
use crate::wire::allowed_fast::{self, ALLOWED_FAST_COUNT, allowed_fast_set};
use crate::wire::{ExtendedHandshake, Message};

/// Most connected peers.
pub const MAX_PEERS: usize = 128;
/// Connection attempts started per second.
pub const CONNECTS_PER_SECOND: usize = 16;

impl Swarm {
    /// The one entry point for peer addresses, whatever their source. New addresses are
    /// dialled at once, within the dial budget, not at the next timer round.
    pub fn add_candidates(&mut self, source: PeerSource, addrs: Vec<SocketAddr>) {
        let mut new = false;
        let now = Instant::now();
        for addr in addrs {
            new |= self.book.learn(addr, source, now);
        }
        if new {
            self.connect_some(Instant::now());
        }
    }

    /// A connected peer named the port it listens on. It is learned knowing who listens
    /// there, before any dial, so it is not dialled while we are connected to that peer.
    pub fn add_listen_port(&mut self, listen: SocketAddr, peer_id: PeerId) {
        let new = self.book.learn(listen, PeerSource::ListenPort, Instant::now());
        self.book.listens_at(listen, peer_id);
        if new {
            self.connect_some(Instant::now());
        }
    }

    /// Reads same-host seeders from the registry.
    pub fn discover(&mut self) {
        let Some(registry) = self.config.registry.clone() else { return };
        let found = registry.lookup(self.config.metainfo.info_hash);
        self.add_candidates(PeerSource::Registry, found);
    }

    /// Starts connections to known addresses that are due, within the per-second budget.
    pub fn connect_some(&mut self, now: Instant) {
        let budget = CONNECTS_PER_SECOND.saturating_sub(self.timers.dials_this_second);
        if self.peers.len() >= MAX_PEERS || budget == 0 {
            return;
        }
        self.book.set_complete(self.complete());
        let peers = &self.peers;
        let due = self.book.due(now, budget, |id| peers.with_id(id).is_some());
        for addr in due {
            if !self.channels.dialer.connect(addr) {
                break;
            }
            self.book.dialling(addr, now);
            self.timers.dials_this_second += 1;
        }
    }

    /// A handshake finished: keep the connection as a peer, or drop it.
    pub fn on_connected(&mut self, connected: Connected) {
        let addr = connected.addr;
        let their_id = connected.handshake.peer_id;
        self.book.handshaken(addr, their_id);
        if let Some((key, peer)) = self.peers.with_id(their_id) {
            // Both sides dialled at once. Each end keeps the connection opened by the peer
            // with the lower id, so both keep the same one.
            let opener = |outgoing: bool| if outgoing { self.config.peer_id.0 } else { their_id.0 };
            if peer.outgoing == connected.outgoing
                || opener(peer.outgoing) < opener(connected.outgoing)
            {
                return; // dropping `connected` closes it
            }
            self.drop_peer(key, "replaced by the connection the peer opened".into());
        }
        if self.book.is_banned(addr, their_id) {
            return; // dropping `connected` closes the socket
        }
        if self.peers.len() >= MAX_PEERS {
            match self.peers.longest_idle() {
                Some(key) => self.drop_peer(key, "making room for a new peer".into()),
                None => return,
            }
        }
        let fast = connected.handshake.supports_fast();
        let dht = connected.handshake.supports_dht() && self.channels.dht.is_some();
        let extensions = connected.handshake.supports_extensions();
        let outgoing = connected.outgoing;
        let key = self.peers.next_key();
        let storage = self.disk.storage.clone();
        let ut_metadata = extensions.then_some(metadata::OUR_UT_METADATA);
        let ut_pex = (extensions && !self.config.metainfo.info.private).then_some(pex::OUR_UT_PEX);
        let options = PeerOptions { max_queued_uploads: OUR_REQQ, fast, ut_metadata, ut_pex };
        let events = self.channels.peer_events.clone();
        let uploads = peer::Uploads {
            sent_total: self.channels.counters.uploaded.clone(),
            limit: self.config.limits.up.clone(),
        };
        let handle = match peer::start(connected, key, storage, events, options, uploads) {
            Ok(handle) => handle,
            Err(e) => {
                self.channels.warn(format!("peer {addr}: cannot start its threads: {e}"));
                return;
            }
        };
        let mut opening = Vec::new();
        if extensions {
            let mut handshake = ExtendedHandshake {
                client: Some(format!("mt {}", env!("CARGO_PKG_VERSION"))),
                reqq: u32::try_from(OUR_REQQ).ok(),
                listen_port: Some(self.channels.local_addr.port()),
                your_ip: Some(addr.ip()),
                ..ExtendedHandshake::default()
            };
            metadata::advertise(&mut handshake, &self.config.metainfo.raw_info);
            pex::advertise(&mut handshake, self.config.metainfo.info.private);
            opening.push(handshake.to_message());
        }
        if dht {
            // BEP 5: tell a peer that runs a DHT node where ours is.
            opening.push(Message::Port(self.channels.local_addr.port()));
        }
        let have = self.picker.have();
        let super_seeding = self.super_seed.is_some();
        if super_seeding {
            // It learns of pieces one offer at a time (BEP 16).
            if fast {
                opening.push(Message::HaveNone);
            }
        } else if fast && have.is_complete() {
            opening.push(Message::HaveAll);
        } else if fast && have.is_empty() {
            opening.push(Message::HaveNone);
        } else if !have.is_empty() {
            opening.push(Message::Bitfield(have.as_bytes().to_vec()));
        }
        // The pieces it may request while choked (BEP 6): those of its set we have now; the
        // others when we get them.
        let allowed_out = match (fast && !super_seeding, allowed_fast::ipv4_of(addr.ip())) {
            (true, Some(ip)) => {
                let info_hash = &self.config.metainfo.info_hash;
                allowed_fast_set(ip, info_hash, have.len(), ALLOWED_FAST_COUNT)
            }
            _ => Vec::new(),
        };
        for &piece in allowed_out.iter().filter(|&&piece| have.get(piece)) {
            opening.push(Message::AllowedFast { piece });
        }
        handle.send(PeerCommand::Send(opening));
        let pieces = self.picker.have().len();
        let mut peer = Peer::new(handle, addr, their_id, fast, outgoing, pieces);
        peer.allowed_out = allowed_out;
        self.peers.insert(key, peer);
        self.picker.peer_joined(key);
        self.book.connected(addr);
        self.channels.emit(Event::PeerConnected { addr, outgoing });
        self.make_offers(&[key]);
    }

    /// Ends a connection and forgets the peer.
    pub fn drop_peer(&mut self, key: PeerKey, reason: String) {
        let Some(peer) = self.peers.remove(key) else { return };
        let reason = match peer.handle.overflowed() {
            true => "does not read what we send (its send queue is full)".to_string(),
            false => reason,
        };
        match peer.parting {
            true => peer.handle.part(),
            false => peer.handle.shut_down(),
        }
        self.picker.peer_left(key);
        if let Some(super_seed) = &mut self.super_seed {
            super_seed.peer_left(key);
        }
        self.book.disconnected(peer.addr, Instant::now());
        if peer.has.is_complete() {
            self.book.seed_found(peer.addr, peer.peer_id);
        }
        self.choker.forget(key);
        self.channels.emit(Event::PeerClosed { addr: peer.addr, reason });
        if !peer.am_choking && peer.peer_interested {
            self.refill_slots(); // the slot it held goes to a waiting peer now
        }
        // Blocks it held are free again: hand them to the others.
        for other in self.peers.keys() {
            self.fill_requests(other);
        }
    }

    /// Ends a connection and refuses that peer from now on.
    pub fn ban(&mut self, key: PeerKey, reason: String) {
        if let Some(peer) = self.peers.get(key) {
            self.book.ban(peer.addr, peer.peer_id);
            let addr = peer.addr;
            self.channels.emit(Event::PeerBanned { addr, reason: reason.clone() });
        }
        self.drop_peer(key, format!("banned: {reason}"));
    }
}
