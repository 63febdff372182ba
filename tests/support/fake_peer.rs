//! A scriptable BitTorrent peer for swarm tests, built on `mt`'s own wire codecs.
//!
//! It listens on 127.0.0.1 (port 0) and, to every peer that connects for its torrent, answers
//! the handshake, says it has every piece (`have all` when the peer speaks the fast extension,
//! else a full bitfield), unchokes, and then serves each `request` from the real data as its
//! [`Behaviour`] says. Everything else it receives is ignored. It connects out only to
//! reproduce two peers dialling each other at once ([`Behaviour::ConnectsBack`]).
//!
//! Dropping it stops the accept loop and shuts every connection down.

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use mt::metainfo::Metainfo;
use mt::types::{InfoHash, PeerId};
use mt::wire::{BlockInfo, Handshake, Message, MessageReader, WireError, write_message};

/// How the peer answers requests.
#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    /// Every block it sends has every byte inverted, so each piece it touches fails its hash.
    Corrupt,
    /// Only the first block of each piece is answered, inverted; other requests go unanswered,
    /// so the rest of each such piece must come from someone else.
    SpoilsFirstBlocks,
    /// Correct blocks, each after this pause: a seed too slow to finish at once.
    Slow(Duration),
    /// Correct blocks; but the first peer to connect is, before its handshake is answered,
    /// dialled back at the address given to [`FakePeer::connect_back_to`] with the same peer
    /// id. Once that peer has accepted the second connection and has the answer on the first,
    /// the second is closed: what a peer does that keeps the connection it accepted first.
    ConnectsBack,
    /// Correct blocks; but it announces its pieces three times, as some clients do: first an
    /// empty bitfield, then one with the even pieces, and only then every piece.
    AnnouncesThrice,
}

/// The peer id the fake peer uses on every connection.
const PEER_ID: PeerId = PeerId(*b"-FK0001-scripted0001");
/// How long the fake peer waits for each step of connecting back.
const STEP: Duration = Duration::from_secs(10);

/// What the peer serves.
struct Torrent {
    info_hash: InfoHash,
    piece_length: usize,
    piece_count: u32,
    data: Vec<u8>,
    behaviour: Behaviour,
    /// Where [`Behaviour::ConnectsBack`] dials; taken by the first connection.
    connect_back: Mutex<Option<SocketAddr>>,
    first_taken: AtomicBool,
}

/// A running fake peer; stops when dropped.
pub struct FakePeer {
    addr: SocketAddr,
    torrent: Arc<Torrent>,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<JoinHandle<()>>,
}

impl FakePeer {
    /// Starts a peer for `torrent` whose content (all files, concatenated) is `data`.
    pub fn start(torrent: &Path, data: Vec<u8>, behaviour: Behaviour) -> FakePeer {
        let meta = Metainfo::load(torrent).expect("the fake peer's torrent loads");
        assert_eq!(meta.layout().total_length(), data.len() as u64, "data matches the torrent");
        let torrent = Arc::new(Torrent {
            info_hash: meta.info_hash,
            piece_length: usize::try_from(meta.layout().piece_length()).expect("fits"),
            piece_count: meta.layout().piece_count(),
            data,
            behaviour,
            connect_back: Mutex::new(None),
            first_taken: AtomicBool::new(false),
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("fake peer binds");
        listener.set_nonblocking(true).expect("non-blocking accept");
        let addr = listener.local_addr().expect("fake peer address");
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let (stop, connections, torrent) = (stop.clone(), connections.clone(), torrent.clone());
            std::thread::spawn(move || accept_loop(&listener, &torrent, &stop, &connections))
        };
        FakePeer { addr, torrent, stop, connections, accept: Some(accept) }
    }

    /// Where [`Behaviour::ConnectsBack`] dials back (the downloader's listen address).
    pub fn connect_back_to(&self, addr: SocketAddr) {
        *self.torrent.connect_back.lock().unwrap_or_else(PoisonError::into_inner) = Some(addr);
    }

    /// Where it listens, `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for stream in self.connections.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    torrent: &Arc<Torrent>,
    stop: &AtomicBool,
    connections: &Mutex<Vec<TcpStream>>,
) {
    while !stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                if let Ok(clone) = stream.try_clone() {
                    connections.lock().unwrap_or_else(PoisonError::into_inner).push(clone);
                }
                let torrent = torrent.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &torrent);
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Talks to one connected peer until it hangs up or the stream is shut down.
fn serve(stream: TcpStream, torrent: &Torrent) -> Result<(), WireError> {
    let mut writer = stream.try_clone()?;
    let mut reader = MessageReader::new(stream);
    let theirs = reader.read_handshake()?;
    if theirs.info_hash != torrent.info_hash {
        return Ok(());
    }
    let mut second = match torrent.behaviour {
        Behaviour::ConnectsBack if !torrent.first_taken.swap(true, Ordering::AcqRel) => {
            Some(connect_back(torrent)?)
        }
        _ => None,
    };
    writer.write_all(&Handshake::new(torrent.info_hash, PEER_ID).encode())?;
    let have = if theirs.supports_fast() {
        Message::HaveAll
    } else {
        Message::Bitfield(full_bitfield(torrent.piece_count))
    };
    if let Behaviour::AnnouncesThrice = torrent.behaviour {
        write_message(&mut writer, &Message::Bitfield(even_bitfield(torrent.piece_count, false)))?;
        write_message(&mut writer, &Message::Unchoke)?;
        write_message(&mut writer, &Message::Bitfield(even_bitfield(torrent.piece_count, true)))?;
    }
    write_message(&mut writer, &have)?;
    write_message(&mut writer, &Message::Unchoke)?;
    loop {
        let message = reader.read_message();
        if let Some(second) = second.take() {
            // The first connection's fate is known (a message, or closed): drop the second.
            let _ = second.shutdown(Shutdown::Both);
        }
        match message {
            Ok(Message::Request(block)) => {
                if let Some(data) = answer(torrent, block) {
                    write_message(
                        &mut writer,
                        &Message::Piece { piece: block.piece, begin: block.begin, data },
                    )?;
                }
            }
            Ok(_) | Err(WireError::UnknownMessage { .. }) => {}
            Err(err) => return Err(err),
        }
    }
}

/// Dials the address given to [`FakePeer::connect_back_to`], completes a handshake as the
/// same peer, and returns the connection once the other side has sent a message on it (so it
/// has accepted it as a peer).
fn connect_back(torrent: &Torrent) -> Result<TcpStream, WireError> {
    let mut waited = Duration::ZERO;
    let addr = loop {
        if let Some(addr) = *torrent.connect_back.lock().unwrap_or_else(PoisonError::into_inner) {
            break addr;
        }
        assert!(waited < STEP, "the test never said where to connect back to");
        std::thread::sleep(Duration::from_millis(10));
        waited += Duration::from_millis(10);
    };
    let mut stream = TcpStream::connect_timeout(&addr, STEP)?;
    stream.set_read_timeout(Some(STEP))?;
    stream.write_all(&Handshake::new(torrent.info_hash, PEER_ID).encode())?;
    let mut reader = MessageReader::new(stream.try_clone()?);
    reader.read_handshake()?;
    match reader.read_message() {
        Ok(_) | Err(WireError::UnknownMessage { .. }) => Ok(stream),
        Err(err) => Err(err),
    }
}

/// The bytes sent for `block`, or `None` when it lies outside the torrent.
fn answer(torrent: &Torrent, block: BlockInfo) -> Option<Vec<u8>> {
    let start = usize::try_from(block.piece).ok()?.checked_mul(torrent.piece_length)?
        + usize::try_from(block.begin).ok()?;
    let end = start.checked_add(usize::try_from(block.length).ok()?)?;
    let mut data = torrent.data.get(start..end)?.to_vec();
    match torrent.behaviour {
        Behaviour::Corrupt => data.iter_mut().for_each(|byte| *byte ^= 0xff),
        Behaviour::SpoilsFirstBlocks if block.begin != 0 => return None,
        Behaviour::SpoilsFirstBlocks => data.iter_mut().for_each(|byte| *byte ^= 0xff),
        Behaviour::Slow(pause) => std::thread::sleep(pause),
        Behaviour::ConnectsBack | Behaviour::AnnouncesThrice => {}
    }
    Some(data)
}

/// A bitfield with the first `pieces` bits set and the spare bits clear.
fn full_bitfield(pieces: u32) -> Vec<u8> {
    let pieces = usize::try_from(pieces).expect("fits");
    let mut bytes = vec![0xff; pieces.div_ceil(8)];
    if pieces % 8 != 0
        && let Some(last) = bytes.last_mut()
    {
        *last = 0xff << (8 - pieces % 8);
    }
    bytes
}

/// A bitfield of `pieces` bits with the even pieces set when `even`, else none.
fn even_bitfield(pieces: u32, even: bool) -> Vec<u8> {
    let pieces = usize::try_from(pieces).expect("fits");
    let mut bytes = vec![0; pieces.div_ceil(8)];
    for piece in (0..pieces).filter(|p| even && p % 2 == 0) {
        bytes[piece / 8] |= 0x80 >> (piece % 8);
    }
    bytes
}
