//! The writer thread's send buffer: messages and uploaded blocks gathered in one fixed
//! buffer and handed to the socket in few system calls.
//!
//! A block is read from storage straight into the buffer, behind room left for its 13-byte
//! `piece` header, so its bytes are copied once on their way from the mapping to the socket
//! (and once more by the kernel). Reading each block into a buffer of its own and then
//! copying it into a buffered writer cost a second copy: on a 512 MiB loopback upload, user
//! space copies were a third of the seed's CPU time. The header is written only once the
//! block is read, so a block that cannot be read leaves nothing behind.

use std::io::{self, Write};
use std::net::TcpStream;

use crate::wire::message::{PIECE_HEADER_LEN, encode_piece_header};

/// Bytes gathered before they are sent, unless the writer runs out of work first.
pub const CAPACITY: usize = 256 * 1024;

/// A socket that counts the bytes the kernel took.
pub struct Counting {
    pub stream: TcpStream,
    pub written: u64,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.stream.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// A send buffer over a counting socket.
pub struct Outbox<W: Write> {
    buf: Vec<u8>,
    /// `buf[..filled]` waits to be sent.
    filled: usize,
    sink: W,
}

impl<W: Write> Outbox<W> {
    /// An empty outbox of [`CAPACITY`] bytes over `sink`.
    pub fn new(sink: W) -> Outbox<W> {
        Outbox { buf: vec![0; CAPACITY], filled: 0, sink }
    }

    /// The socket (or other sink) behind the buffer.
    pub fn sink(&self) -> &W {
        &self.sink
    }

    /// Bytes buffered and not yet handed to the sink.
    pub fn buffered(&self) -> usize {
        self.filled
    }

    /// Appends a `piece` message of `len` data bytes, which `read` fills in; when `read`
    /// fails, nothing is appended and its error is returned inside `Ok`.
    pub fn piece(
        &mut self,
        piece: u32,
        begin: u32,
        len: usize,
        read: impl FnOnce(&mut [u8]) -> Result<(), String>,
    ) -> io::Result<Result<(), String>> {
        let total = PIECE_HEADER_LEN + len;
        if total > self.buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a block of {len} bytes does not fit in the send buffer"),
            ));
        }
        if self.filled + total > self.buf.len() {
            self.send()?;
        }
        let at = self.filled;
        let (header, data) = self.buf[at..at + total].split_at_mut(PIECE_HEADER_LEN);
        if let Err(reason) = read(data) {
            return Ok(Err(reason));
        }
        let mut encoded = [0u8; PIECE_HEADER_LEN];
        let data_len = u32::try_from(len).unwrap_or(u32::MAX);
        encode_piece_header(piece, begin, data_len, &mut encoded);
        header.copy_from_slice(&encoded);
        self.filled += total;
        Ok(Ok(()))
    }

    /// Hands everything buffered to the sink.
    fn send(&mut self) -> io::Result<()> {
        let mut sent = 0;
        while sent < self.filled {
            match self.sink.write(&self.buf[sent..self.filled]) {
                Ok(0) => {
                    self.buf.copy_within(sent..self.filled, 0);
                    self.filled -= sent;
                    return Err(io::ErrorKind::WriteZero.into());
                }
                Ok(n) => sent += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    // Keep what was not sent, in order, for a caller that tries again.
                    self.buf.copy_within(sent..self.filled, 0);
                    self.filled -= sent;
                    return Err(err);
                }
            }
        }
        self.filled = 0;
        Ok(())
    }
}

impl<W: Write> Write for Outbox<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.filled + bytes.len() > self.buf.len() {
            self.send()?;
        }
        if bytes.len() > self.buf.len() {
            return self.sink.write(bytes);
        }
        self.buf[self.filled..self.filled + bytes.len()].copy_from_slice(bytes);
        self.filled += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()?;
        self.sink.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Message;

    /// A sink that takes at most 1,000 bytes a call.
    struct Stingy(Vec<u8>);

    impl Write for Stingy {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(1000);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn messages_and_pieces_come_out_in_order_as_encoded() {
        let mut out = Outbox::new(Stingy(Vec::new()));
        let mut expected = Vec::new();
        for round in 0..40u32 {
            let data: Vec<u8> =
                (0..16384u32).map(|i| ((i + round) % 251).to_le_bytes()[0]).collect();
            crate::wire::write_message(&mut out, &Message::Have { piece: round }).expect("have");
            expected.extend(Message::Have { piece: round }.encode());
            let filled = out
                .piece(round, 16384, data.len(), |buf| {
                    buf.copy_from_slice(&data);
                    Ok(())
                })
                .expect("room");
            assert_eq!(filled, Ok(()));
            expected.extend(Message::Piece { piece: round, begin: 16384, data }.encode());
        }
        out.flush().expect("flush");
        assert_eq!(out.buffered(), 0);
        assert_eq!(out.sink().0, expected);
    }

    #[test]
    fn a_block_that_cannot_be_read_leaves_nothing_behind() {
        let mut out = Outbox::new(Vec::new());
        let failed = out.piece(1, 0, 100, |_| Err("gone".into())).expect("room");
        assert_eq!(failed, Err("gone".to_string()));
        assert_eq!(out.buffered(), 0);
        let big = vec![9u8; CAPACITY + 1];
        out.write_all(&big).expect("written through");
        out.flush().expect("flush");
        assert_eq!(out.sink().len(), big.len());
        assert!(out.piece(1, 0, CAPACITY, |_| Ok(())).is_err(), "larger than the buffer");
    }
}
