//! Opening a connection: TCP connect (or accept) and the BEP 3 handshake exchange.
//!
//! The side that connects sends its handshake first; the accepting side reads one, checks
//! the info hash, then answers. An accepted connection that opens with an encrypted handshake
//! (message stream encryption, [`crate::mse`]) is answered first with a plaintext stream
//! selected, then goes on as a plain one. Both sides refuse a handshake for another torrent and a
//! connection to themselves. Every step is bounded by the timeout given.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::PeerError;
use crate::mse;
use crate::types::{InfoHash, PeerId};
use crate::wire::{Handshake, MessageReader};

/// Bytes that tell a plain handshake (length byte and protocol name) from an encrypted one.
const PROTOCOL_HEADER_LEN: usize = 20;

/// A connection whose handshakes are done.
pub struct Connected {
    /// The socket, wrapped in a message reader that may already hold buffered bytes.
    pub reader: MessageReader<TcpStream>,
    /// The peer's handshake.
    pub handshake: Handshake,
    /// The peer's address.
    pub addr: SocketAddr,
    /// True when we connected out.
    pub outgoing: bool,
}

/// Connects to `addr` and exchanges handshakes; `ours` is what we send (its info hash and
/// peer id are what the peer's must match and must not be). For a hybrid torrent, `upgrade`
/// is its v2 info hash truncated to 20 bytes: a v2 peer may answer our v1 hash with it to
/// move the connection to v2 (BEP 52), and it stands for the same torrent.
pub fn connect(
    addr: SocketAddr,
    ours: Handshake,
    upgrade: Option<InfoHash>,
    timeout: Duration,
) -> Result<Connected, PeerError> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(PeerError::Connect)?;
    prepare(&stream, timeout).map_err(PeerError::Connect)?;
    stream.write_all(&ours.encode()).map_err(PeerError::Connect)?;
    let mut reader = MessageReader::new(stream);
    let handshake = reader.read_handshake().map_err(PeerError::Handshake)?;
    check(&handshake, ours.info_hash, upgrade, ours.peer_id)?;
    Ok(Connected { reader, handshake, addr, outgoing: true })
}

/// Reads the handshake of an accepted connection and answers it with `ours`. A peer may
/// name a hybrid torrent by its truncated v2 hash, `also`; we answer with the hash it used.
pub fn accept(
    stream: TcpStream,
    ours: Handshake,
    also: Option<InfoHash>,
    timeout: Duration,
) -> Result<Connected, PeerError> {
    let info_hash = ours.info_hash;
    let addr = stream.peer_addr().map(crate::dual_stack::canonical).map_err(PeerError::Connect)?;
    prepare(&stream, timeout).map_err(PeerError::Connect)?;
    let mut reader = MessageReader::new(stream);
    let first = reader.peek(PROTOCOL_HEADER_LEN).map_err(PeerError::Handshake)?;
    if !mse::is_plain_handshake(first) {
        mse::answer(&mut reader, info_hash, also).map_err(PeerError::Encryption)?;
    }
    let handshake = reader.read_handshake().map_err(PeerError::Handshake)?;
    check(&handshake, info_hash, also, ours.peer_id)?;
    let answer = Handshake { info_hash: handshake.info_hash, ..ours };
    reader.get_mut().write_all(&answer.encode()).map_err(PeerError::Connect)?;
    Ok(Connected { reader, handshake, addr, outgoing: false })
}

fn prepare(stream: &TcpStream, timeout: Duration) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))
}

fn check(
    handshake: &Handshake,
    info_hash: InfoHash,
    also: Option<InfoHash>,
    peer_id: PeerId,
) -> Result<(), PeerError> {
    if handshake.info_hash != info_hash && Some(handshake.info_hash) != also {
        return Err(PeerError::WrongInfoHash);
    }
    if handshake.peer_id == peer_id {
        return Err(PeerError::OwnConnection);
    }
    Ok(())
}
