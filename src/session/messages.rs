//! The session's handling of peer messages and finished hash checks.
//!
//! Nothing a peer sends is trusted: piece indexes, bitfield size and spare bits, and block
//! bounds are checked against the torrent; a block we did not request is dropped; a protocol
//! violation ends that peer only. A piece that fails its hash is fetched again. Blame needs
//! proof: a failed piece with one sender counts against it; one with several senders is fetched
//! again from a single peer, and when that passes, the earlier senders not in it are to blame.
//! A peer blamed twice is banned, so an honest peer that finished a liar's piece is never.

use std::sync::atomic::Ordering;

use super::Event;
use super::swarm::{Control, Swarm};
use crate::bitfield::Bitfield;
use crate::error::Error;
use crate::hash::{self, PieceStatus};
use crate::peer::{PeerCommand, PeerEvent, PeerKey};
use crate::picker::{Block, Received};
use crate::types::PieceIndex;
use crate::wire::{BlockInfo, ExtendedHandshake, Message};

/// Hash failures after which a peer is banned.
const BAN_AFTER_HASH_FAILURES: u32 = 2;
/// Protocol slips (unrequested blocks, bad requests) after which a peer is dropped.
const DROP_AFTER_STRIKES: u32 = 50;

impl Swarm {
    pub(super) fn on_peer_event(&mut self, key: PeerKey, event: PeerEvent) -> Result<(), Error> {
        match event {
            PeerEvent::Message(message) => self.on_message(key, message),
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
        if !self.peers.contains_key(&key) {
            return Ok(()); // a late message from a peer we already dropped
        }
        let piece_count = self.picker.have().len();
        match message {
            Message::KeepAlive | Message::Port(_) | Message::Suggest { .. } => {}
            Message::AllowedFast { .. } => {}
            Message::Choke => {
                let fast = self.with_peer(key, |p| {
                    p.peer_choking = true;
                    p.fast
                });
                if fast == Some(false) {
                    self.picker.peer_choked(key);
                }
            }
            Message::Unchoke => {
                self.with_peer(key, |p| p.peer_choking = false);
                self.fill_requests(key);
            }
            Message::Interested => {
                self.with_peer(key, |p| p.peer_interested = true);
                self.unchoke_if_room(key);
            }
            Message::NotInterested => {
                self.with_peer(key, |p| p.peer_interested = false);
            }
            Message::Have { piece } => {
                if piece >= piece_count {
                    self.drop_peer(key, format!("have for piece {piece} of {piece_count}"));
                    return Ok(());
                }
                self.with_peer(key, |p| p.has.set(piece));
                self.picker.peer_have(key, piece);
                self.after_availability(key);
            }
            Message::Bitfield(bytes) => match Bitfield::from_bytes(&bytes, piece_count) {
                Ok(bitfield) => self.set_bitfield(key, bitfield),
                Err(e) => self.drop_peer(key, format!("bad bitfield: {e}")),
            },
            Message::HaveAll => self.set_bitfield(key, Bitfield::full(piece_count)),
            Message::HaveNone => self.set_bitfield(key, Bitfield::new(piece_count)),
            Message::Request(info) => self.on_request(key, info),
            Message::Cancel(info) => {
                if let Some(peer) = self.peers.get_mut(&key) {
                    peer.handle.send(PeerCommand::Cancel(info));
                }
            }
            Message::Reject(info) => {
                let block = Block { piece: info.piece, begin: info.begin, length: info.length };
                self.picker.request_rejected(key, &block);
                // A reject while we are unchoked means it cannot serve that piece after all
                // (BEP 6): stop asking it for that piece, and let others have the blocks.
                let unchoked = self.with_peer(key, |p| {
                    if !p.peer_choking {
                        p.has.clear(info.piece);
                    }
                    !p.peer_choking
                });
                if unchoked == Some(true) {
                    let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
                    for other in keys {
                        self.fill_requests(other);
                    }
                }
            }
            Message::Piece { piece, begin, data } => self.on_block(key, piece, begin, &data)?,
            Message::Extended { id: 0, payload } => {
                if let Ok(handshake) = ExtendedHandshake::decode(&payload) {
                    self.on_extended_handshake(key, handshake);
                }
            }
            Message::Extended { .. } => {}
        }
        Ok(())
    }

    fn with_peer<R>(
        &mut self,
        key: PeerKey,
        f: impl FnOnce(&mut super::peer_state::Peer) -> R,
    ) -> Option<R> {
        self.peers.get_mut(&key).map(f)
    }

    fn on_extended_handshake(&mut self, key: PeerKey, handshake: ExtendedHandshake) {
        let Some(peer) = self.peers.get_mut(&key) else { return };
        if let Some(reqq) = handshake.reqq {
            peer.reqq = usize::try_from(reqq).unwrap_or(usize::MAX).clamp(1, 4096);
        }
        if let Some(client) = handshake.client {
            let _ = self.events.send(Event::PeerClient { addr: peer.addr, client });
        }
        if let Some(port) = handshake.listen_port {
            let mut addr = peer.addr;
            addr.set_port(port);
            let peer_id = peer.peer_id;
            self.learn(addr);
            // We know who listens there and are connected to it already: dialling it now
            // would only make a duplicate connection that one side must drop.
            if let Some(known) = self.known.get_mut(&addr) {
                known.peer_id = Some(peer_id);
            }
        }
    }

    fn set_bitfield(&mut self, key: PeerKey, bitfield: Bitfield) {
        let Some(peer) = self.peers.get_mut(&key) else { return };
        if peer.got_bitfield {
            self.drop_peer(key, "sent a second bitfield".into());
            return;
        }
        peer.got_bitfield = true;
        peer.has = bitfield;
        let has = peer.has.clone();
        if has.is_complete() {
            self.picker.peer_have_all(key);
        } else {
            self.picker.peer_bitfield(key, &has);
        }
        if self.complete() && has.is_complete() {
            self.drop_peer(key, "both sides are seeds".into());
            return;
        }
        self.after_availability(key);
    }

    /// After a peer announced pieces: update our interest and ask it for blocks.
    fn after_availability(&mut self, key: PeerKey) {
        self.update_interest(key);
        self.fill_requests(key);
    }

    /// Sends interested / not interested when our wish changes.
    pub(super) fn update_interest(&mut self, key: PeerKey) {
        let Some(peer) = self.peers.get(&key) else { return };
        // Storage that cannot be written (a seed over read-only data) wants nothing.
        let wanted = self.config.storage.is_writable()
            && !self.complete()
            && self.picker.interesting(&peer.has);
        if wanted != peer.am_interested {
            let message = if wanted { Message::Interested } else { Message::NotInterested };
            if let Some(peer) = self.peers.get_mut(&key) {
                peer.am_interested = wanted;
                peer.handle.send(PeerCommand::Send(vec![message]));
            }
        }
    }

    /// Tops up the peer's request pipeline.
    pub(super) fn fill_requests(&mut self, key: PeerKey) {
        let Some(peer) = self.peers.get(&key) else { return };
        if self.complete() || peer.peer_choking || !peer.am_interested {
            return;
        }
        let outstanding = self.picker.outstanding(key);
        let target = peer.target_depth();
        // Refill in batches: one burst per quarter of the pipeline, not one per block.
        if outstanding > target - target / 4 {
            return;
        }
        let blocks = self.picker.pick(key, &peer.has, target - outstanding);
        if blocks.is_empty() {
            return;
        }
        let requests = blocks
            .iter()
            .map(|b| {
                Message::Request(BlockInfo { piece: b.piece, begin: b.begin, length: b.length })
            })
            .collect();
        peer.handle.send(PeerCommand::Send(requests));
        for block in blocks.iter().filter(|b| b.begin == 0) {
            let _ = self.prefault.send(block.piece);
        }
    }

    /// Our data for a piece can no longer be read (a file was truncated or removed while we
    /// serve it): stop offering that piece, tell the peer, and warn once per cause.
    fn on_storage_failed(&mut self, key: PeerKey, block: BlockInfo, reason: String) {
        self.broken.insert(block.piece);
        if let Some(peer) = self.peers.get(&key)
            && peer.fast
        {
            peer.handle.send(PeerCommand::Send(vec![Message::Reject(block)]));
        }
        if self.storage_warnings.insert(reason.clone()) {
            self.warn(format!("cannot serve piece {}: {reason}", block.piece));
        }
    }

    fn on_request(&mut self, key: PeerKey, info: BlockInfo) {
        let layout = self.config.metainfo.layout();
        let in_range =
            layout.block_range(PieceIndex(info.piece), info.begin, info.length).is_some();
        let have = self.picker.have().get(info.piece) && !self.broken.contains(&info.piece);
        let Some(peer) = self.peers.get_mut(&key) else { return };
        if !in_range {
            peer.strikes += 10;
        }
        let refuse = !in_range || !have || peer.am_choking;
        if refuse {
            if peer.fast {
                peer.handle.send(PeerCommand::Send(vec![Message::Reject(info)]));
            }
            if peer.strikes >= DROP_AFTER_STRIKES {
                self.drop_peer(key, "too many invalid requests".into());
            }
            return;
        }
        peer.up.add(u64::from(info.length));
        self.counters.uploaded.fetch_add(u64::from(info.length), Ordering::Relaxed);
        peer.handle.send(PeerCommand::Upload(info));
    }

    fn on_block(&mut self, key: PeerKey, piece: u32, begin: u32, data: &[u8]) -> Result<(), Error> {
        let length = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let block = Block { piece, begin, length };
        match self.picker.block_received(key, &block) {
            Received::Unrequested => {
                if let Some(peer) = self.peers.get_mut(&key) {
                    peer.strikes += 1;
                    if peer.strikes >= DROP_AFTER_STRIKES {
                        self.drop_peer(key, "sent too many blocks we never asked for".into());
                    }
                }
                return Ok(());
            }
            Received::Duplicate => return Ok(()),
            Received::Accepted { piece_complete, cancel } => {
                let range = self
                    .config
                    .metainfo
                    .layout()
                    .block_range(PieceIndex(piece), begin, length)
                    .ok_or(Error::Bug("the picker accepted a block outside its piece"))?;
                self.config.storage.write(range.start, data)?;
                self.counters.downloaded.fetch_add(u64::from(length), Ordering::Relaxed);
                if let Some(peer) = self.peers.get_mut(&key) {
                    peer.down.add(u64::from(length));
                    peer.last_block = std::time::Instant::now();
                }
                for (other, block) in cancel {
                    if let Some(peer) = self.peers.get(&other) {
                        let info = BlockInfo {
                            piece: block.piece,
                            begin: block.begin,
                            length: block.length,
                        };
                        peer.handle.send(PeerCommand::Send(vec![Message::Cancel(info)]));
                    }
                }
                if piece_complete {
                    self.start_hash(piece);
                }
            }
        }
        self.fill_requests(key);
        Ok(())
    }

    fn start_hash(&mut self, piece: u32) {
        if !self.hashing.insert(piece) {
            return;
        }
        let storage = self.config.storage.clone();
        let meta = self.config.metainfo.clone();
        let control = self.control_tx.clone();
        rayon::spawn(move || {
            let index = PieceIndex(piece);
            let good = match meta.info.pieces.get(index.get()) {
                Some(expected) => {
                    hash::verify_piece(&storage, index, expected) == PieceStatus::Good
                }
                None => false,
            };
            // A verified piece is written back before any peer hears we have it.
            let flushed = match good {
                true => storage.flush(meta.layout().piece_range(index)).map_err(|e| e.to_string()),
                false => Ok(()),
            };
            let _ = control.send(Control::Hashed { piece, good, flushed });
        });
    }

    pub(super) fn on_hashed(
        &mut self,
        piece: u32,
        good: bool,
        flushed: Result<(), String>,
    ) -> Result<(), Error> {
        self.hashing.remove(&piece);
        if let Err(reason) = flushed {
            return Err(Error::Network(format!("cannot write piece {piece} to disk: {reason}")));
        }
        if !good {
            let contributors = self.picker.piece_failed(piece);
            let addrs =
                contributors.iter().filter_map(|k| self.peers.get(k).map(|p| p.addr)).collect();
            let _ = self.events.send(Event::PieceFailed { piece, from: addrs });
            if let [only] = contributors[..] {
                // One sender: the bad data is certainly its.
                self.blame(only);
            } else {
                // Several senders: fetch it again from one peer. If that fails, the fault is
                // that peer's; if it passes, the earlier senders not in it are to blame.
                self.failed_with.entry(piece).or_default().extend(contributors);
                self.picker.require_single_source(piece);
            }
            let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
            for key in keys {
                self.fill_requests(key);
            }
            return Ok(());
        }
        if let Some(earlier) = self.failed_with.remove(&piece) {
            let good = self.picker.contributors(piece);
            let mut suspects: Vec<PeerKey> =
                earlier.into_iter().filter(|key| !good.contains(key)).collect();
            suspects.sort_unstable();
            suspects.dedup();
            for key in suspects {
                self.blame(key);
            }
        }
        for (other, block) in self.picker.piece_verified(piece) {
            if let Some(peer) = self.peers.get(&other) {
                let info =
                    BlockInfo { piece: block.piece, begin: block.begin, length: block.length };
                peer.handle.send(PeerCommand::Send(vec![Message::Cancel(info)]));
            }
        }
        self.counters.left.store(self.picker.missing_bytes(), Ordering::Relaxed);
        for peer in self.peers.values() {
            peer.handle.send(PeerCommand::Send(vec![Message::Have { piece }]));
        }
        if self.picker.is_complete() {
            self.on_complete();
        }
        Ok(())
    }

    /// Counts a piece of bad data against a peer; bans it after [`BAN_AFTER_HASH_FAILURES`].
    fn blame(&mut self, key: PeerKey) {
        let failures = self.with_peer(key, |p| {
            p.hash_failures += 1;
            p.hash_failures
        });
        if let Some(n) = failures
            && n >= BAN_AFTER_HASH_FAILURES
        {
            self.ban(key, format!("sent {n} pieces that failed the hash check"));
        }
    }

    fn on_complete(&mut self) {
        let _ = self.config.storage.flush(0..self.config.metainfo.layout().total_length());
        if let Some(signals) = &self.signals {
            let _ = signals.send(super::announce::Signal::Completed);
        }
        let stats = self.stats();
        let _ = self.events.send(Event::Complete(stats));
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            let seed = self.peers.get(&key).is_some_and(|p| p.has.is_complete());
            if seed && self.config.keep_seeding {
                self.drop_peer(key, "both sides are seeds".into());
            } else {
                self.update_interest(key);
            }
        }
    }
}
