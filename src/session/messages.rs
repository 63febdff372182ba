//! The session's handling of peer messages: choke and interest, what a peer has, its
//! requests to us, and our requests to it. Blocks that arrive and hash results are in
//! `pieces.rs`.
//!
//! Nothing a peer sends is trusted: piece indexes, bitfield size and spare bits, and block
//! bounds are checked against the torrent; a protocol violation ends that peer only.

use super::Event;
use super::distribution::Connected;
use super::metadata;
use super::peers::{MAX_ALLOWED_FAST_IN, Peer};
use super::pex::{self, PexState};
use super::swarm::Swarm;
use crate::bitfield::Bitfield;
use crate::error::Error;
use crate::layout::BLOCK_LEN;
use crate::peer::{PeerCommand, PeerEvent, PeerKey};
use crate::types::PieceIndex;
use crate::wire::{BlockInfo, ExtendedHandshake, Message};

/// Protocol slips (unrequested blocks, bad requests) after which a peer is dropped.
pub(super) const DROP_AFTER_STRIKES: u32 = 50;

impl Swarm {
    pub(super) fn on_peer_event(&mut self, key: PeerKey, event: PeerEvent) -> Result<(), Error> {
        match event {
            PeerEvent::Message(message) => {
                let bytes = crate::peer::weight(&message);
                let handled = self.on_message(key, message);
                if bytes > 0 {
                    self.channels.peer_events.in_flight.release(bytes);
                }
                handled
            }
            PeerEvent::StorageFailed { block, reason } => {
                self.on_storage_failed(key, block, reason);
                Ok(())
            }
            PeerEvent::Closed(reason) => {
                self.drop_peer(key, reason);
                Ok(())
            }
        }
    }

    fn on_message(&mut self, key: PeerKey, message: Message) -> Result<(), Error> {
        if !self.peers.contains(key) {
            return Ok(()); // a late message from a peer we already dropped
        }
        let piece_count = self.picker.have().len();
        match message {
            Message::KeepAlive | Message::Suggest { .. } => {}
            Message::Port(port) => {
                // BEP 5: the peer's DHT node; ours pings it and keeps it if it answers.
                if let (Some(dht), Some(peer)) = (&self.channels.dht, self.peers.get(key))
                    && port != 0
                {
                    dht.ping(std::net::SocketAddr::new(peer.addr.ip(), port));
                }
            }
            Message::AllowedFast { piece } => {
                // Only meaningful with the fast extension; a peer may name a few pieces.
                let fresh = self.with_peer(key, |p| {
                    let fresh = p.fast
                        && piece < piece_count
                        && p.allowed_in.len() < MAX_ALLOWED_FAST_IN
                        && !p.allowed_in.contains(&piece);
                    if fresh {
                        p.allowed_in.push(piece);
                    }
                    fresh
                });
                if fresh == Some(true) {
                    self.fill_requests(key);
                }
            }
            Message::Choke => {
                let fast = self.with_peer(key, |p| {
                    p.peer_choking = true;
                    p.fast
                });
                match fast {
                    // Without the fast extension a choke drops every request: take them back
                    // and say so, so that a block it still sends is no offence.
                    Some(false) => {
                        let given_back = self.picker.peer_choked(key);
                        self.cancel_given_back(key, &given_back);
                    }
                    // With it, each request gets a reject or its block; allowed-fast pieces
                    // may still be asked for.
                    Some(true) => self.fill_requests(key),
                    None => {}
                }
            }
            Message::Unchoke => {
                self.with_peer(key, |p| p.peer_choking = false);
                self.fill_requests(key);
            }
            Message::Interested => {
                self.with_peer(key, |p| p.peer_interested = true);
                self.refill_slots();
            }
            Message::NotInterested => {
                self.with_peer(key, |p| p.peer_interested = false);
                self.refill_slots();
            }
            Message::Have { piece } => {
                if piece >= piece_count {
                    self.drop_peer(key, format!("have for piece {piece} of {piece_count}"));
                    return Ok(());
                }
                self.with_peer(key, |p| p.has.set(piece));
                self.picker.peer_have(key, piece);
                self.offers_spread(key, Some(piece));
                self.after_availability(key);
            }
            Message::Bitfield(bytes) => match Bitfield::from_bytes(&bytes, piece_count) {
                Ok(bitfield) => self.set_bitfield(key, bitfield),
                Err(e) => self.drop_peer(key, format!("bad bitfield: {e}")),
            },
            Message::HaveAll => self.set_bitfield(key, Bitfield::full(piece_count)),
            Message::HaveNone => self.set_bitfield(key, Bitfield::new(piece_count)),
            Message::Request(info) => self.on_request(key, info),
            Message::HashRequest(request) => self.on_hash_request(key, request),
            // We ask for no hashes yet: an answer to nothing is dropped.
            Message::Hashes { .. } | Message::HashReject(_) => {}
            Message::Cancel(info) => {
                if let Some(peer) = self.peers.get(key) {
                    peer.handle.send(PeerCommand::Cancel(info));
                }
            }
            Message::Reject(info) => {
                // The block goes back to the picker for any peer to take. This one is not
                // asked for that piece again for a while (after a choke, or when it cannot
                // serve it now), but later it is: it may be the only peer that has it.
                self.picker.request_rejected(key, &info);
                let now = std::time::Instant::now();
                if self.with_peer(key, |p| p.avoid(info.piece, now)).is_some() {
                    for other in self.peers.keys() {
                        self.fill_requests(other);
                    }
                }
            }
            Message::Piece { piece, begin, data } => self.on_block(key, piece, begin, data)?,
            Message::Extended { id: 0, payload } => {
                if let Ok(handshake) = ExtendedHandshake::decode(&payload) {
                    self.on_extended_handshake(key, handshake);
                }
            }
            Message::Extended { id: metadata::OUR_UT_METADATA, payload } => {
                self.on_metadata_message(key, &payload);
            }
            Message::Extended { id: pex::OUR_UT_PEX, payload } => {
                self.on_pex_message(key, &payload);
            }
            Message::Extended { .. } => {}
        }
        Ok(())
    }

    pub(super) fn with_peer<R>(
        &mut self,
        key: PeerKey,
        f: impl FnOnce(&mut Peer) -> R,
    ) -> Option<R> {
        self.peers.get_mut(key).map(f)
    }

    fn on_extended_handshake(&mut self, key: PeerKey, handshake: ExtendedHandshake) {
        let Some(peer) = self.peers.get_mut(key) else { return };
        if let Some(reqq) = handshake.reqq {
            peer.reqq = usize::try_from(reqq).unwrap_or(usize::MAX).clamp(1, 4096);
        }
        peer.ut_metadata = metadata::peer_id_for(&handshake);
        peer.listen_port = handshake.listen_port.or(peer.listen_port);
        if let Some(their_id) = pex::peer_id_for(&handshake) {
            let now = std::time::Instant::now();
            // A repeated handshake keeps what we told it and when we may next.
            let (next, named) = match peer.pex.take() {
                Some(state) => (state.next, state.named),
                None => (now, Default::default()),
            };
            peer.pex = Some(PexState { their_id, next, named });
            self.send_pex(now);
        }
        let Some(peer) = self.peers.get_mut(key) else { return };
        let (addr, peer_id) = (peer.addr, peer.peer_id);
        if let Some(client) = handshake.client {
            self.channels.emit(Event::PeerClient { addr, client });
        }
        if let Some(port) = handshake.listen_port {
            let mut listen = addr;
            listen.set_port(port);
            // We know who listens there and are connected to it already: dialling it now
            // would only make a duplicate connection that one side must drop.
            self.add_listen_port(listen, peer_id);
        }
    }

    /// The peer's `bitfield`, `have all` or `have none`. A later one replaces what the peer
    /// said before, as libtorrent accepts: aria2 and others announce again, and a replaced set
    /// costs us nothing (the picker moves the peer's share of the availability counts). Blocks
    /// already requested of pieces it no longer claims are answered, rejected or time out.
    fn set_bitfield(&mut self, key: PeerKey, bitfield: Bitfield) {
        let Some(peer) = self.peers.get_mut(key) else { return };
        peer.has = bitfield;
        let has = peer.has.clone();
        if has.is_complete() {
            self.picker.peer_have_all(key);
        } else {
            self.picker.peer_bitfield(key, &has);
        }
        if self.complete() && has.is_complete() {
            // It hears our own `have all` before we part, so it knows we are a seed too.
            self.remember_seed(key);
            self.with_peer(key, |p| p.parting = true);
            self.drop_peer(key, "both sides are seeds".into());
            return;
        }
        self.offers_spread(key, None);
        self.after_availability(key);
    }

    /// After a peer announced pieces: update our interest and ask it for blocks.
    fn after_availability(&mut self, key: PeerKey) {
        self.update_interest(key);
        self.fill_requests(key);
    }

    /// Sends interested / not interested when our wish changes.
    pub(super) fn update_interest(&mut self, key: PeerKey) {
        let Some(peer) = self.peers.get(key) else { return };
        // Storage that cannot be written (a seed over read-only data) wants nothing.
        let wanted = self.disk.storage.is_writable()
            && !self.complete()
            && self.picker.interesting(&peer.has);
        if wanted != peer.am_interested {
            let message = if wanted { Message::Interested } else { Message::NotInterested };
            if let Some(peer) = self.peers.get_mut(key) {
                peer.am_interested = wanted;
                peer.handle.send(PeerCommand::Send(vec![message]));
            }
        }
    }

    /// Tops up the peer's request pipeline.
    pub(super) fn fill_requests(&mut self, key: PeerKey) {
        let Some(peer) = self.peers.get(key) else { return };
        if self.complete() || !peer.am_interested {
            return;
        }
        let outstanding = self.picker.outstanding(key);
        let target = peer.target_depth();
        // Refill in batches: one burst per quarter of the pipeline, not one per block.
        if outstanding > target - target / 4 {
            return;
        }
        // Under a download limit, ask only for the blocks whose bytes may arrive now.
        let limit = self.config.limits.down.as_deref();
        let affordable = limit.map_or(usize::MAX, |bucket| {
            usize::try_from(bucket.available() / u64::from(BLOCK_LEN)).unwrap_or(usize::MAX)
        });
        let wanted = (target - outstanding).min(affordable);
        if wanted == 0 {
            return;
        }
        // Only now, since it may copy the peer's bitfield.
        let Some(requestable) = peer.requestable() else { return };
        let blocks = self.picker.pick(key, &requestable, wanted);
        if blocks.is_empty() {
            return;
        }
        if let Some(bucket) = limit {
            bucket.take(blocks.iter().map(|block| u64::from(block.length)).sum());
        }
        let requests = blocks.iter().map(|block| Message::Request(*block)).collect();
        peer.handle.send(PeerCommand::Send(requests));
    }

    /// Requests we took back from a peer (its choke, or it stalled): cancel them, and
    /// remember them so that a block it still sends is accepted or ignored, not held against
    /// it.
    pub(super) fn cancel_given_back(&mut self, key: PeerKey, blocks: &[BlockInfo]) {
        let Some(peer) = self.peers.get_mut(key) else { return };
        if blocks.is_empty() {
            return;
        }
        peer.give_back(blocks);
        let cancels = blocks.iter().map(|block| Message::Cancel(*block)).collect();
        peer.handle.send(PeerCommand::Send(cancels));
    }

    /// Our data for a piece can no longer be read (a file was truncated or removed while we
    /// serve it): stop offering that piece, tell the peer, and warn once per cause.
    fn on_storage_failed(&mut self, key: PeerKey, block: BlockInfo, reason: String) {
        self.disk.broken.insert(block.piece);
        if let Some(peer) = self.peers.get(key)
            && peer.fast
        {
            peer.handle.send(PeerCommand::Send(vec![Message::Reject(block)]));
        }
        if self.disk.first_warning(&reason) {
            self.channels.warn(format!("cannot serve piece {}: {reason}", block.piece));
        }
    }

    fn on_request(&mut self, key: PeerKey, info: BlockInfo) {
        let layout = self.config.metainfo.layout();
        let in_range =
            layout.request_range(PieceIndex(info.piece), info.begin, info.length).is_some();
        let have = self.picker.have().get(info.piece) && !self.disk.broken.contains(&info.piece);
        let Some(peer) = self.peers.get_mut(key) else { return };
        if !in_range {
            peer.strikes += 10;
        }
        // A choked peer may still ask for the pieces of its allowed-fast set (BEP 6).
        let choked = peer.am_choking && !(peer.fast && peer.allowed_out.contains(&info.piece));
        let mut refuse = !in_range || !have || choked;
        if let Some(super_seed) = &self.super_seed {
            refuse |= !super_seed.may_serve(key, info.piece);
        } else if !refuse && peer.fast && self.picker.is_complete() {
            let swarm = Connected { picker: &self.picker, peers: &self.peers };
            if let Some(has) = self.peers.get(key).map(|p| &p.has) {
                let now = std::time::Instant::now();
                refuse = !self.distribution.should_serve(info.piece, key, has, &swarm, now);
            }
        }
        let Some(peer) = self.peers.get_mut(key) else { return };
        if refuse {
            if peer.fast {
                peer.handle.send(PeerCommand::Send(vec![Message::Reject(info)]));
            }
            if peer.strikes >= DROP_AFTER_STRIKES {
                self.drop_peer(key, "too many invalid requests".into());
            }
            return;
        }
        peer.handle.send(PeerCommand::Upload(info));
        self.distribution.sending(info.piece, key);
    }
}
