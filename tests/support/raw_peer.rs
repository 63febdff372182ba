//! A raw, scriptable peer connection for hostile-peer tests: it sends whatever bytes a test
//! gives it (valid messages from `mt::wire`, or anything else) and can tell when the other
//! side has hung up.
//!
//! It either dials a running `mt` ([`RawPeer::connect`]) or waits for `mt` to dial it
//! ([`RawListener`]). Every read and write has a timeout, and every wait has a limit.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use mt::types::{InfoHash, PeerId};
use mt::wire::{Handshake, Message, MessageReader, WireError};

/// How long one blocking read waits before the caller's deadline is checked again.
const READ_SLICE: Duration = Duration::from_millis(200);
/// How long one write may block (a peer that stops reading must not hang the test).
const WRITE_LIMIT: Duration = Duration::from_secs(20);

/// A peer id for raw connections; `n` keeps many connections apart.
pub fn peer_id(n: u32) -> PeerId {
    let mut id = *b"-RW0001-000000000000";
    id[12..20].copy_from_slice(format!("{n:08}").as_bytes());
    PeerId(id)
}

/// What a hostile connection observed when it waited for the other side to hang up.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// End of stream: the other side closed the connection.
    Closed,
    /// The connection was reset.
    Reset,
}

/// One TCP connection driven byte by byte.
pub struct RawPeer {
    stream: TcpStream,
    reader: MessageReader<TcpStream>,
}

impl RawPeer {
    /// Connects to `addr` (within 10 s).
    pub fn connect(addr: &str) -> std::io::Result<RawPeer> {
        let addr: SocketAddr = addr.parse().expect("a numeric socket address");
        RawPeer::wrap(TcpStream::connect_timeout(&addr, Duration::from_secs(10))?)
    }

    fn wrap(stream: TcpStream) -> std::io::Result<RawPeer> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(READ_SLICE))?;
        stream.set_write_timeout(Some(WRITE_LIMIT))?;
        let reader = MessageReader::new(stream.try_clone()?);
        Ok(RawPeer { stream, reader })
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().expect("a connected socket has a local address")
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends one message.
    pub fn send_message(&mut self, message: &Message) -> std::io::Result<()> {
        self.send(&message.encode())
    }

    /// Sends our handshake for `info_hash` (fast and extension bits set) as peer `id`.
    pub fn send_handshake(&mut self, info_hash: InfoHash, id: PeerId) -> std::io::Result<()> {
        self.send(&Handshake::new(info_hash, id).encode())
    }

    /// Reads the other side's handshake within `limit`.
    pub fn read_handshake(&mut self, limit: Duration) -> Result<Handshake, String> {
        let deadline = Instant::now() + limit;
        loop {
            match self.reader.read_handshake() {
                Ok(handshake) => return Ok(handshake),
                Err(WireError::Io(e)) if is_timeout(&e) && Instant::now() < deadline => {}
                Err(e) => return Err(format!("no handshake: {e}")),
            }
        }
    }

    /// Sends our handshake for `info_hash` and reads theirs.
    pub fn handshake(&mut self, info_hash: InfoHash, id: PeerId) -> Result<Handshake, String> {
        self.send_handshake(info_hash, id).map_err(|e| format!("send handshake: {e}"))?;
        self.read_handshake(Duration::from_secs(10))
    }

    /// Reads messages until one satisfies `want` (returned), the stream ends, or `limit` passes.
    pub fn wait_for_message(
        &mut self,
        limit: Duration,
        want: impl Fn(&Message) -> bool,
    ) -> Result<Message, String> {
        let deadline = Instant::now() + limit;
        loop {
            match self.reader.read_message() {
                Ok(message) if want(&message) => return Ok(message),
                Ok(_) | Err(WireError::UnknownMessage { .. }) => {}
                Err(WireError::Io(e)) if is_timeout(&e) => {}
                Err(e) => return Err(format!("connection ended first: {e}")),
            }
            if Instant::now() >= deadline {
                return Err(format!("no such message within {limit:?}"));
            }
        }
    }

    /// The next message, or `None` when nothing arrived within one short read slice.
    pub fn next_message(&mut self) -> Result<Option<Message>, String> {
        match self.reader.read_message() {
            Ok(message) => Ok(Some(message)),
            Err(WireError::UnknownMessage { .. }) => Ok(None),
            Err(WireError::Io(e)) if is_timeout(&e) => Ok(None),
            Err(e) => Err(format!("connection ended: {e}")),
        }
    }

    /// Reads every message until none has arrived for `quiet` (or `limit` has passed), and
    /// returns them in order.
    pub fn read_until_quiet(
        &mut self,
        quiet: Duration,
        limit: Duration,
    ) -> Result<Vec<Message>, String> {
        let deadline = Instant::now() + limit;
        let mut last = Instant::now();
        let mut messages = Vec::new();
        while Instant::now() < deadline && last.elapsed() < quiet {
            if let Some(message) = self.next_message()? {
                messages.push(message);
                last = Instant::now();
            }
        }
        Ok(messages)
    }

    /// Reads and discards whatever arrives until the other side closes or resets the
    /// connection; `Err` if it is still open after `limit`.
    pub fn wait_closed(&mut self, limit: Duration) -> Result<Ending, String> {
        let deadline = Instant::now() + limit;
        let stream = self.reader.get_mut();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return Ok(Ending::Closed),
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Ok(Ending::Reset),
            }
            if Instant::now() >= deadline {
                return Err(format!("the connection was still open after {limit:?}"));
            }
        }
    }

    /// Closes the connection.
    pub fn close(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

impl Drop for RawPeer {
    fn drop(&mut self) {
        self.close();
    }
}

/// A listening socket on 127.0.0.1 (port 0) for `mt` to dial.
pub struct RawListener {
    listener: TcpListener,
}

impl RawListener {
    /// Binds 127.0.0.1, port 0.
    pub fn bind() -> RawListener {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).expect("non-blocking accept");
        RawListener { listener }
    }

    /// Where it listens, `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.listener.local_addr().expect("listening address").to_string()
    }

    /// Accepts one connection within `limit`.
    pub fn accept(&self, limit: Duration) -> Result<RawPeer, String> {
        let deadline = Instant::now() + limit;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
                    return RawPeer::wrap(stream).map_err(|e| e.to_string());
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(format!("nobody connected within {limit:?}: {e}")),
            }
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}
