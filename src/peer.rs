//! One peer connection: handshake, then a reader thread and a writer thread.
//!
//! The reader turns bytes from the socket into [`PeerEvent`]s for the session; the writer
//! turns the session's [`PeerCommand`]s into bytes, reading uploaded blocks from storage
//! itself so the session thread never waits on a disk read. Neither thread keeps swarm state
//! or decides anything: the session validates every message against the torrent. The reader's
//! channel to the session is bounded, so a session that falls behind slows the peer down
//! through TCP instead of buffering without limit.
//!
//! The session's commands to the writer go through a bounded channel (the upload queue plus
//! `COMMAND_SLACK`): it fills only while the writer is stuck on a socket the peer does not
//! read, and then the connection is shut down rather than the queue grown.
//!
//! The writer counts a block as uploaded once the socket has taken all of it, in the
//! connection's [`Link`] and in the session-wide total it is given; cancelled, dropped and
//! failed uploads never count. With an upload limit, each block waits for its tokens in the
//! process-wide bucket before it is written; the writer keeps taking commands meanwhile.
//!
//! Errors here end this one connection ([`PeerError`]); they have no `From` into the fatal
//! [`crate::Error`].

mod handshake;
mod in_flight;
mod outbox;
mod reader;
mod writer;

use std::fmt;
use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::bandwidth::TokenBucket;
use crate::storage::Storage;
use crate::wire::{BlockInfo, Message, WireError};

pub use handshake::{Connected, accept, connect};
pub use in_flight::{InFlight, weight};
pub use reader::{MAX_METADATA_MESSAGE, MAX_PEX_MESSAGE};

/// Commands beyond the upload queue a writer's channel holds (`have`, choke, cancel, ...).
const COMMAND_SLACK: usize = 2048;

/// How a session names a connection.
pub use crate::picker::PeerKey;

/// How a connection behaves; the session chooses these and passes them in.
#[derive(Clone, Copy, Debug)]
pub struct PeerOptions {
    /// Most uploads queued for the peer at once; requests beyond this are refused. The
    /// session advertises it as our BEP 10 `reqq`.
    pub max_queued_uploads: usize,
    /// Both sides speak the fast extension (BEP 6): every request gets exactly one answer,
    /// a block or `reject`.
    pub fast: bool,
    /// The extended message id we receive `ut_metadata` on (BEP 9), if we speak it: such
    /// messages of up to [`MAX_METADATA_MESSAGE`] bytes reach the session; other extension
    /// messages but the handshake are dropped by the reader.
    pub ut_metadata: Option<u8>,
    /// The extended message id we receive `ut_pex` on (BEP 11), if we speak it: such
    /// messages of up to [`MAX_PEX_MESSAGE`] bytes reach the session.
    pub ut_pex: Option<u8>,
}

/// What a connection's writer thread and the session share without a message.
#[derive(Debug, Default)]
pub struct Link {
    /// Payload bytes of `piece` messages the socket took on this connection.
    sent: AtomicU64,
}

/// What a peer connection reports to the session.
#[derive(Debug)]
pub enum PeerEvent {
    /// A message arrived.
    Message(Message),
    /// An upload could not be read from storage (the data changed under us).
    StorageFailed {
        /// The block that could not be sent.
        block: BlockInfo,
        /// Why.
        reason: String,
    },
    /// The connection ended; the text says why.
    Closed(String),
}

/// Where a connection's threads report to the session: the bounded event channel, and the
/// budget of bytes in flight on it that a reader reserves before it queues a large message.
#[derive(Clone, Debug)]
pub struct ToSession {
    /// Events, with the key of the connection they come from.
    pub events: Sender<(PeerKey, PeerEvent)>,
    /// Bytes of messages queued and not yet handled; the session releases them.
    pub in_flight: Arc<InFlight>,
}

/// What the session asks a connection to do.
#[derive(Debug)]
pub enum PeerCommand {
    /// Send these messages, in order.
    Send(Vec<Message>),
    /// Read this block from storage and send it as a `piece` message.
    Upload(BlockInfo),
    /// Drop a queued upload of this block if it has not been sent yet (a fast peer then
    /// hears `reject`).
    Cancel(BlockInfo),
    /// Close the connection.
    Close,
}

/// Why a connection failed or ended.
#[derive(Debug)]
pub enum PeerError {
    /// TCP connect failed.
    Connect(io::Error),
    /// The handshake was malformed or timed out.
    Handshake(WireError),
    /// An encrypted handshake could not be answered.
    Encryption(crate::mse::MseError),
    /// The peer is on another torrent.
    WrongInfoHash,
    /// We connected to ourselves.
    OwnConnection,
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::Connect(e) => write!(f, "cannot connect: {}", crate::error::lower_io(e)),
            PeerError::Handshake(e) => write!(f, "handshake failed: {e}"),
            PeerError::Encryption(e) => write!(f, "encrypted handshake failed: {e}"),
            PeerError::WrongInfoHash => f.write_str("handshake names another torrent"),
            PeerError::OwnConnection => f.write_str("connected to ourselves"),
        }
    }
}

impl std::error::Error for PeerError {}

/// The session's grip on a running connection.
pub struct PeerHandle {
    /// Commands to the writer thread.
    pub commands: Sender<PeerCommand>,
    /// A clone of the socket, to unblock the reader on shutdown.
    stream: TcpStream,
    link: Arc<Link>,
    /// The part of `link.sent` already taken by [`PeerHandle::take_sent`].
    sent_taken: u64,
    /// A command found the writer's queue full.
    overflowed: AtomicBool,
}

impl PeerHandle {
    /// Queues a command; a closed connection ignores it (its reader reports the close). When
    /// the writer's queue is full the peer has stopped reading what we send: the connection
    /// is shut down and [`PeerHandle::overflowed`] says why.
    pub fn send(&self, command: PeerCommand) {
        if let Err(TrySendError::Full(_)) = self.commands.try_send(command) {
            self.overflowed.store(true, Ordering::Relaxed);
            let _ = self.stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Whether a command found the writer's queue full (the connection is then shut down).
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Relaxed)
    }

    /// Payload bytes the socket took since the last call.
    pub fn take_sent(&mut self) -> u64 {
        let sent = self.link.sent.load(Ordering::Relaxed);
        let new = sent.saturating_sub(self.sent_taken);
        self.sent_taken = sent;
        new
    }

    /// Closes the connection once what is queued for it has been written (the writer's
    /// timeout bounds that), or at once when its queue is full.
    pub fn part(&self) {
        if self.commands.try_send(PeerCommand::Close).is_err() {
            let _ = self.stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Closes the socket in both directions, which ends both threads promptly.
    pub fn shut_down(&self) {
        let _ = self.commands.try_send(PeerCommand::Close);
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// What every connection's uploads share: the session-wide count of bytes sent and the
/// upload limit.
#[derive(Clone, Debug, Default)]
pub struct Uploads {
    /// Payload bytes the sockets of every connection took.
    pub sent_total: Arc<AtomicU64>,
    /// Tokens each block takes before it is written (`--max-up`), if limited.
    pub limit: Option<Arc<TokenBucket>>,
}

/// Starts the reader and writer threads of a connection that has finished its handshake.
/// Bytes of blocks sent are added to `uploads.sent_total` as the socket takes them.
pub fn start(
    connected: Connected,
    key: PeerKey,
    storage: Arc<Storage>,
    to_session: ToSession,
    options: PeerOptions,
    uploads: Uploads,
) -> io::Result<PeerHandle> {
    let Connected { reader, addr, .. } = connected;
    let stream = reader.get_ref().try_clone()?;
    let write_stream = reader.get_ref().try_clone()?;
    // Every upload the peer may queue, plus room for the other messages that can pile up
    // while one write waits on a slow socket.
    let capacity = options.max_queued_uploads.saturating_add(COMMAND_SLACK);
    let (commands, command_rx): (Sender<PeerCommand>, Receiver<PeerCommand>) =
        crossbeam_channel::bounded(capacity);
    let link = Arc::new(Link::default());
    let events = to_session.events.clone();
    std::thread::Builder::new()
        .name(format!("mt-peer-read-{addr}"))
        .spawn(move || reader::run(reader, key, options, to_session))?;
    let channels = writer::Channels { commands: command_rx, events, link: link.clone(), uploads };
    std::thread::Builder::new()
        .name(format!("mt-peer-write-{addr}"))
        .spawn(move || writer::run(write_stream, key, storage, options, channels))?;
    Ok(PeerHandle { commands, stream, link, sent_taken: 0, overflowed: AtomicBool::new(false) })
}
