//! The writer thread: session commands → socket bytes, including uploads read from storage.
//!
//! Uploads wait in a queue so a later `cancel` or `choke` can still remove them. Output goes
//! through a buffer that is flushed whenever no more work is waiting, so bursts of small
//! messages become few system calls. A keep-alive is sent after [`KEEP_ALIVE`] without
//! traffic.
//!
//! # Refused uploads
//!
//! With a peer that speaks the fast extension every request gets exactly one answer
//! (BEP 6): an upload cancelled while still queued, or one past the queue limit, is answered
//! with `reject`.
//!
//! # Choking
//!
//! When the session's `choke` goes out, the uploads still queued are dropped (BEP 3: a choke
//! discards the peer's requests), each answered with `reject` for a fast peer, so a choked
//! peer receives no more blocks. Uploads of the pieces we named in `allowed fast` messages
//! stay: a choked peer may still request those.
//!
//! # Upload limit
//!
//! With `--max-up`, the first queued upload waits for its tokens in the process-wide bucket
//! ([`crate::bandwidth`]); while it waits, buffered bytes are flushed and commands are still
//! taken, so a cancel or choke is honoured at once. Tokens taken for a block that is then
//! cancelled stay with the next one.
//!
//! # What counts as uploaded
//!
//! A block counts once the socket has taken every byte of its `piece` message, not when it
//! is queued or buffered: the socket is wrapped in a counter of the bytes the kernel
//! accepted, and each `piece` message waits in `in_transit` until that count passes its end.

use std::collections::VecDeque;
use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::outbox::{Counting, Outbox};
use super::{Link, PeerCommand, PeerEvent, PeerKey, PeerOptions, Uploads};
use crate::storage::Storage;
use crate::types::PieceIndex;
use crate::wire::{BlockInfo, Message, write_message};

/// Idle time after which we send a keep-alive.
pub const KEEP_ALIVE: Duration = Duration::from_secs(60);

/// Time a single socket write may block before the peer counts as stalled.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a connection's writer thread gets its work and reports what it did.
pub(super) struct Channels {
    pub commands: Receiver<PeerCommand>,
    pub events: Sender<(PeerKey, PeerEvent)>,
    pub link: Arc<Link>,
    /// The session-wide count of bytes sent and the upload limit.
    pub uploads: Uploads,
}

struct Writer {
    out: Outbox<Counting>,
    key: PeerKey,
    storage: Arc<Storage>,
    options: PeerOptions,
    channels: Channels,
    uploads: VecDeque<BlockInfo>,
    /// The pieces we told the peer it may request while choked (`allowed fast` we sent).
    allowed_fast: Vec<u32>,
    /// Piece messages written but not yet all taken by the socket: (stream offset of their
    /// end, payload bytes).
    in_transit: VecDeque<(u64, u64)>,
    /// Tokens of the upload limit already taken for the first queued upload.
    paid: u64,
}

pub(super) fn run(
    stream: TcpStream,
    key: PeerKey,
    storage: Arc<Storage>,
    options: PeerOptions,
    channels: Channels,
) {
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let shutdown = stream.try_clone();
    let mut writer = Writer {
        out: Outbox::new(Counting { stream, written: 0 }),
        key,
        storage,
        options,
        channels,
        uploads: VecDeque::new(),
        allowed_fast: Vec::new(),
        in_transit: VecDeque::new(),
        paid: 0,
    };
    // Ended by an error (the reader sees the same broken socket and reports the close), or
    // asked to close once the queue is written: either way the connection ends here.
    let _ = writer.run();
    if let Ok(stream) = shutdown {
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }
}

impl Writer {
    fn run(&mut self) -> std::io::Result<()> {
        loop {
            // Take every waiting command before doing slow work.
            let next = if self.uploads.is_empty() {
                self.flush()?;
                match self.channels.commands.recv_timeout(KEEP_ALIVE) {
                    Ok(command) => Some(command),
                    Err(RecvTimeoutError::Timeout) => {
                        write_message(&mut self.out, &Message::KeepAlive)?;
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return Ok(()),
                }
            } else if let Some(wait) = self.upload_wait() {
                // Over the upload limit: send what is buffered and take commands meanwhile.
                self.flush()?;
                match self.channels.commands.recv_timeout(wait) {
                    Ok(command) => Some(command),
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return Ok(()),
                }
            } else {
                self.channels.commands.try_recv().ok()
            };
            match next {
                Some(PeerCommand::Send(messages)) => {
                    for message in &messages {
                        write_message(&mut self.out, message)?;
                        match message {
                            Message::Choke => self.choked()?,
                            Message::AllowedFast { piece } => self.allowed_fast.push(*piece),
                            _ => {}
                        }
                    }
                    self.settle();
                }
                Some(PeerCommand::Upload(info)) => {
                    if self.uploads.len() < self.options.max_queued_uploads {
                        self.uploads.push_back(info);
                    } else {
                        self.refuse(info)?; // past the queue limit we advertised
                    }
                }
                Some(PeerCommand::Cancel(info)) => {
                    if let Some(at) = self.uploads.iter().position(|queued| *queued == info) {
                        self.uploads.remove(at);
                        self.refuse(info)?;
                    }
                }
                Some(PeerCommand::Close) => return self.flush(),
                None => self.upload_next()?,
            }
        }
    }

    /// How long the first queued upload must wait for the upload limit; `None` once its
    /// tokens are taken (or there is no limit).
    fn upload_wait(&mut self) -> Option<Duration> {
        let (Some(limit), Some(next)) = (&self.channels.uploads.limit, self.uploads.front()) else {
            return None;
        };
        let bytes = u64::from(next.length);
        if self.paid >= bytes {
            return None;
        }
        match limit.try_take(bytes - self.paid) {
            Ok(()) => {
                self.paid = bytes;
                None
            }
            Err(wait) => Some(wait),
        }
    }

    /// Reads and sends the first queued upload.
    fn upload_next(&mut self) -> std::io::Result<()> {
        let Some(info) = self.uploads.pop_front() else { return Ok(()) };
        self.paid = self.paid.saturating_sub(u64::from(info.length));
        let len = usize::try_from(info.length).unwrap_or(usize::MAX);
        let storage = &self.storage;
        let read =
            self.out.piece(info.piece, info.begin, len, |buf| read_block(storage, info, buf));
        if let Err(reason) = read? {
            let failed = PeerEvent::StorageFailed { block: info, reason };
            let _ = self.channels.events.send((self.key, failed));
            return Ok(());
        }
        let end = self.out.sink().written + self.out.buffered() as u64;
        self.in_transit.push_back((end, u64::from(info.length)));
        self.settle();
        Ok(())
    }

    /// We choked the peer: its queued uploads are dropped (a fast peer hears `reject` for
    /// each), except those of pieces in its allowed-fast set.
    fn choked(&mut self) -> std::io::Result<()> {
        let queued = std::mem::take(&mut self.uploads);
        for info in queued {
            if self.allowed_fast.contains(&info.piece) {
                self.uploads.push_back(info);
            } else {
                self.refuse(info)?;
            }
        }
        Ok(())
    }

    /// An upload that will not be sent: a fast peer hears `reject`.
    fn refuse(&mut self, info: BlockInfo) -> std::io::Result<()> {
        if self.options.fast {
            write_message(&mut self.out, &Message::Reject(info))?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        self.settle();
        Ok(())
    }

    /// Counts the blocks whose `piece` message the socket has taken entirely.
    fn settle(&mut self) {
        let written = self.out.sink().written;
        while let Some(&(end, bytes)) = self.in_transit.front() {
            if end > written {
                break;
            }
            self.in_transit.pop_front();
            self.channels.link.sent.fetch_add(bytes, Ordering::Relaxed);
            self.channels.uploads.sent_total.fetch_add(bytes, Ordering::Relaxed);
        }
    }
}

/// Reads a requested block into `buf` (its length); the part of it past the end of the
/// stream (the padded tail of a v2 torrent, see [`crate::layout::Layout::request_range`])
/// is zeros.
fn read_block(storage: &Storage, info: BlockInfo, buf: &mut [u8]) -> Result<(), String> {
    let layout = storage.layout();
    let range = layout
        .request_range(PieceIndex(info.piece), info.begin, info.length)
        .ok_or_else(|| format!("block {}+{} is outside the torrent", info.piece, info.begin))?;
    let stored = range.end.min(layout.total_length()).saturating_sub(range.start);
    let stored = usize::try_from(stored).unwrap_or(0).min(buf.len());
    let (data, tail) = buf.split_at_mut(stored);
    tail.fill(0);
    storage.read(range.start, data).map_err(|e| e.to_string())
}
