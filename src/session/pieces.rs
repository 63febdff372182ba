//! Blocks that arrive and what becomes of their pieces: stored, hashed, then announced with
//! `have`, or fetched again and blamed on whoever sent them.
//!
//! A block we did not request is dropped; a peer that keeps sending them is dropped. A piece
//! that fails its hash is fetched again. Blame needs proof: a failed piece with one sender
//! counts against it; one with several senders is fetched again from a single peer, and when
//! that passes, the earlier senders not in it are to blame. A peer blamed twice is banned, so
//! an honest peer that finished a liar's piece never is. A web seed blamed once is dropped.

use std::sync::atomic::Ordering;

use super::Event;
use super::announce::Signal;
use super::messages::DROP_AFTER_STRIKES;
use super::swarm::Swarm;
use crate::error::Error;
use crate::peer::{PeerCommand, PeerKey};
use crate::picker::{Block, Received};
use crate::types::PieceIndex;
use crate::wire::Message;

/// Hash failures after which a peer is banned.
const BAN_AFTER_HASH_FAILURES: u32 = 2;

impl Swarm {
    pub(super) fn on_block(
        &mut self,
        key: PeerKey,
        piece: u32,
        begin: u32,
        data: Vec<u8>,
    ) -> Result<(), Error> {
        let length = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let block = Block { piece, begin, length };
        match self.picker.block_received(key, &block) {
            Received::Unrequested => {
                let given_back = self.peers.get_mut(key).is_some_and(|p| p.take_given_back(&block));
                if given_back {
                    // We cancelled it, but it was on its way: take it if we still need it.
                    return match self.picker.block_received_late(key, &block) {
                        Received::Accepted { piece_complete, cancel } => {
                            self.store_block(key, block, data, piece_complete, cancel)
                        }
                        Received::Unrequested | Received::Duplicate => Ok(()),
                    };
                }
                if let Some(peer) = self.peers.get_mut(key) {
                    peer.strikes += 1;
                    if peer.strikes >= DROP_AFTER_STRIKES {
                        self.drop_peer(key, "sent too many blocks we never asked for".into());
                    }
                }
                Ok(())
            }
            Received::Duplicate => Ok(()),
            Received::Accepted { piece_complete, cancel } => {
                self.store_block(key, block, data, piece_complete, cancel)
            }
        }
    }

    /// Writes an accepted block, cancels its endgame duplicates, hashes the piece once
    /// complete, and tops up the sender's requests.
    fn store_block(
        &mut self,
        key: PeerKey,
        block: Block,
        data: Vec<u8>,
        piece_complete: bool,
        cancel: Vec<(PeerKey, Block)>,
    ) -> Result<(), Error> {
        let Block { piece, begin, length } = block;
        let range = self
            .config
            .metainfo
            .layout()
            .block_range(PieceIndex(piece), begin, length)
            .ok_or(Error::Bug("the picker accepted a block outside its piece"))?;
        self.disk.write(range.start, data);
        self.channels.counters.downloaded.fetch_add(u64::from(length), Ordering::Relaxed);
        if let Some(peer) = self.peers.get_mut(key) {
            peer.down.add(u64::from(length));
            peer.last_block = std::time::Instant::now();
        }
        for (other, block) in cancel {
            if let Some(peer) = self.peers.get(other) {
                peer.handle.send(PeerCommand::Send(vec![Message::Cancel(block)]));
            }
        }
        if piece_complete {
            self.disk.check(piece);
        }
        self.fill_requests(key);
        Ok(())
    }

    pub(super) fn on_hashed(&mut self, piece: u32, good: bool) -> Result<(), Error> {
        self.disk.hashing.remove(&piece);
        if !good {
            let contributors = self.picker.piece_failed(piece);
            let addrs =
                contributors.iter().filter_map(|k| self.peers.get(*k).map(|p| p.addr)).collect();
            self.channels.emit(Event::PieceFailed { piece, from: addrs });
            if let [only] = contributors[..] {
                // One sender: the bad data is certainly its.
                self.blame(only);
            } else {
                // Several senders: fetch it again from one peer. If that fails, the fault is
                // that peer's; if it passes, the earlier senders not in it are to blame.
                self.peers.suspects.entry(piece).or_default().extend(contributors);
                self.picker.require_single_source(piece);
            }
            for key in self.peers.keys() {
                self.fill_requests(key);
            }
            return Ok(());
        }
        if let Some(earlier) = self.peers.suspects.remove(&piece) {
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
            if let Some(peer) = self.peers.get(other) {
                peer.handle.send(PeerCommand::Send(vec![Message::Cancel(block)]));
            }
        }
        self.channels.counters.left.store(self.picker.missing_bytes(), Ordering::Relaxed);
        // Announced before it is durable: the sync thread flushes it within a second, and
        // only then does the resume record claim it.
        self.disk.verified(piece);
        for peer in self.peers.values() {
            let mut news = vec![Message::Have { piece }];
            if peer.allowed_out.contains(&piece) {
                news.push(Message::AllowedFast { piece });
            }
            peer.handle.send(PeerCommand::Send(news));
        }
        if self.picker.is_complete() {
            self.on_complete();
        }
        Ok(())
    }

    /// Counts a piece of bad data against a peer; bans it after [`BAN_AFTER_HASH_FAILURES`].
    fn blame(&mut self, key: PeerKey) {
        // A web seed has no second chance: its server sends the same bytes every time.
        if self.webseeds.contains(key) {
            self.drop_webseed(key, "sent a piece that failed the hash check".into());
            return;
        }
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
        self.channels.signal(Signal::Completed);
        let stats = self.stats();
        self.channels.emit(Event::Complete(stats));
        for key in self.peers.keys() {
            let seed = self.peers.get(key).is_some_and(|p| p.has.is_complete());
            if seed && self.config.keep_seeding {
                self.drop_peer(key, "both sides are seeds".into());
            } else {
                self.update_interest(key);
            }
        }
    }
}
