//! Blocking framing: whole messages and handshakes from a byte stream, and writes back.
//!
//! [`MessageReader`] owns one read buffer per connection. It starts at 64 KiB and grows only
//! when a single message needs more, never past [`MAX_MESSAGE_LEN`] + 4 bytes, because
//! [`decode`] rejects larger length prefixes from their first four bytes. Bytes that arrive
//! after a message or handshake stay buffered for the next call, and nothing buffered is lost
//! when a read fails: after a timeout (`WouldBlock`/`TimedOut` as [`WireError::Io`]) the next
//! call picks up where the stream left off. End of stream is [`WireError::Closed`].
//!
//! The writers send one message each with no buffering of their own; [`write_piece`] sends
//! the 13-byte header and the caller's block with vectored writes, so the block is not copied
//! on its way to the socket. (A seed's uploads go through the peer writer's own send buffer
//! instead, which gathers many blocks per system call.)

use std::io::{self, IoSlice, Read, Write};

use super::WireError;
use super::handshake::{self, HANDSHAKE_LEN, Handshake};
use super::message::{MAX_MESSAGE_LEN, Message, PIECE_HEADER_LEN, decode, encode_piece_header};

/// The read buffer's starting size.
const INITIAL_BUFFER: usize = 64 * 1024;

/// The largest buffer a reader ever needs: one message at [`MAX_MESSAGE_LEN`] and its prefix.
const MAX_BUFFER: usize = 4 + MAX_MESSAGE_LEN as usize;

/// Reads handshakes and messages from a blocking stream through one buffer.
pub struct MessageReader<R: Read> {
    inner: R,
    /// `buf[start..end]` holds bytes received but not yet returned.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<R: Read> MessageReader<R> {
    /// A reader over `inner` with an empty buffer.
    pub fn new(inner: R) -> MessageReader<R> {
        MessageReader { inner, buf: vec![0; INITIAL_BUFFER], start: 0, end: 0 }
    }

    /// Reads the peer's 68-byte handshake. Anything after it stays buffered for
    /// [`MessageReader::read_message`]. A stream that does not open with the BitTorrent
    /// protocol string is rejected as soon as the first differing byte arrives.
    pub fn read_handshake(&mut self) -> Result<Handshake, WireError> {
        loop {
            let buffered = self.buffered();
            handshake::check_prefix(buffered)?;
            if let Some(bytes) = buffered.get(..HANDSHAKE_LEN) {
                let handshake = Handshake::decode(bytes)?;
                self.consume(HANDSHAKE_LEN);
                return Ok(handshake);
            }
            self.fill()?;
        }
    }

    /// Reads the next whole message, reading from the stream as often as it takes.
    ///
    /// An unknown message id gives [`WireError::UnknownMessage`] with that message already
    /// consumed, so a caller that wants to ignore such messages may simply call again. Any
    /// other decode error leaves the stream out of step and should end the connection.
    pub fn read_message(&mut self) -> Result<Message, WireError> {
        loop {
            match decode(self.buffered()) {
                Ok(Some((message, consumed))) => {
                    self.consume(consumed);
                    return Ok(message);
                }
                Ok(None) => self.fill()?,
                Err(err) => {
                    if let WireError::UnknownMessage { consumed, .. } = err {
                        self.consume(consumed);
                    }
                    return Err(err);
                }
            }
        }
    }

    /// At least `n` buffered bytes (reading as often as it takes), consumed by nothing; `n`
    /// must not exceed the largest message.
    pub fn peek(&mut self, n: usize) -> Result<&[u8], WireError> {
        while self.end - self.start < n {
            self.fill()?;
        }
        Ok(self.buffered())
    }

    /// Drops the first `n` buffered bytes.
    pub fn skip(&mut self, n: usize) {
        self.consume(n);
    }

    /// Puts `bytes` back in front of the buffer, to be read before anything buffered.
    pub fn unread(&mut self, bytes: &[u8]) {
        if bytes.len() <= self.start {
            self.start -= bytes.len();
            self.buf[self.start..self.start + bytes.len()].copy_from_slice(bytes);
            return;
        }
        let mut joined =
            Vec::with_capacity((bytes.len() + self.end - self.start).max(INITIAL_BUFFER));
        joined.extend_from_slice(bytes);
        joined.extend_from_slice(self.buffered());
        self.end = joined.len();
        self.start = 0;
        joined.resize(joined.capacity().max(self.end), 0);
        self.buf = joined;
    }

    /// Bytes received but not yet returned as a handshake or message.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The underlying stream, e.g. to change its read timeout.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The underlying stream, mutably. Reading from it directly skips the buffer.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The underlying stream; buffered bytes are dropped.
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Makes room if the buffer is full, then reads once (retrying on `Interrupted`).
    fn fill(&mut self) -> Result<(), WireError> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < MAX_BUFFER {
                let grown = self.buf.len().saturating_mul(2).min(MAX_BUFFER);
                self.buf.resize(grown, 0);
            } else {
                return Err(WireError::Bug("read buffer is full without a whole message"));
            }
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => return Err(WireError::Closed),
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(WireError::Io(err)),
            }
        }
    }
}

/// Writes one message. `piece` messages go through [`write_piece`] to avoid a copy.
pub fn write_message(w: &mut impl Write, msg: &Message) -> io::Result<()> {
    if let Message::Piece { piece, begin, data } = msg {
        return write_piece(w, *piece, *begin, data);
    }
    w.write_all(&msg.encode())
}

/// Writes a `piece` message: the 13-byte header and `data` in vectored writes, looping until
/// both are fully written. Data too long for one message is an `InvalidInput` error.
pub fn write_piece(w: &mut impl Write, piece: u32, begin: u32, data: &[u8]) -> io::Result<()> {
    let data_len = u32::try_from(data.len())
        .ok()
        .filter(|&len| len <= MAX_MESSAGE_LEN - 9)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("piece data of {} bytes does not fit in one message", data.len()),
            )
        })?;
    let mut header = [0u8; PIECE_HEADER_LEN];
    encode_piece_header(piece, begin, data_len, &mut header);
    let mut slices = [IoSlice::new(&header), IoSlice::new(data)];
    let mut remaining = &mut slices[..];
    while !remaining.is_empty() {
        match w.write_vectored(remaining) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut remaining, n),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::io::Cursor;

    use super::*;
    use crate::types::{InfoHash, PeerId};
    use crate::wire::message::BlockInfo;
    use crate::wire::message::tests::fixtures;

    /// A stream that hands out 1, 2 or 3 bytes per read, in turn, and can fail with a given
    /// error kind at chosen reads.
    struct Trickle {
        data: VecDeque<u8>,
        reads: usize,
        fail_at: Vec<(usize, io::ErrorKind)>,
    }

    impl Trickle {
        fn new(data: Vec<u8>) -> Trickle {
            Trickle { data: data.into(), reads: 0, fail_at: Vec::new() }
        }
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            if let Some(&(_, kind)) = self.fail_at.iter().find(|(at, _)| *at == self.reads) {
                return Err(kind.into());
            }
            let n = (self.reads % 3 + 1).min(buf.len()).min(self.data.len());
            for slot in &mut buf[..n] {
                *slot = self.data.pop_front().unwrap_or_default();
            }
            Ok(n)
        }
    }

    /// A sink that takes at most 7 bytes per write.
    struct Stingy(Vec<u8>);

    impl Write for Stingy {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(7);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn sample_messages() -> Vec<Message> {
        let mut messages: Vec<Message> = fixtures().into_iter().map(|(m, _)| m).collect();
        messages.push(Message::Piece { piece: 4, begin: 0, data: vec![0x42; 16384] });
        // Longer than the starting buffer, so the reader has to grow.
        messages.push(Message::Bitfield(vec![0xf0; 200 * 1024]));
        messages.push(Message::Have { piece: 77 });
        messages
    }

    fn written(messages: &[Message]) -> Vec<u8> {
        let mut out = Vec::new();
        for message in messages {
            write_message(&mut out, message).expect("writing to a vec");
        }
        out
    }

    #[test]
    fn max_buffer_fits_the_largest_message() {
        assert_eq!(u32::try_from(MAX_BUFFER - 4).ok(), Some(MAX_MESSAGE_LEN));
    }

    #[test]
    fn tiny_reads_yield_the_same_messages() {
        let messages = sample_messages();
        let mut reader = MessageReader::new(Trickle::new(written(&messages)));
        for message in &messages {
            assert_eq!(&reader.read_message().expect("whole message"), message);
        }
        assert!(matches!(reader.read_message(), Err(WireError::Closed)));
    }

    #[test]
    fn one_big_read_yields_the_same_messages() {
        let messages = sample_messages();
        let mut reader = MessageReader::new(Cursor::new(written(&messages)));
        for message in &messages {
            assert_eq!(&reader.read_message().expect("whole message"), message);
        }
        assert!(matches!(reader.read_message(), Err(WireError::Closed)));
    }

    #[test]
    fn handshake_and_message_in_one_read() {
        let handshake = Handshake::new(InfoHash([7; 20]), PeerId([8; 20]));
        let mut bytes = handshake.encode().to_vec();
        bytes.extend_from_slice(&Message::HaveAll.encode());
        let mut reader = MessageReader::new(Cursor::new(bytes));
        assert_eq!(reader.read_handshake().ok(), Some(handshake));
        assert_eq!(reader.buffered(), Message::HaveAll.encode());
        assert_eq!(reader.read_message().ok(), Some(Message::HaveAll));
        assert!(reader.buffered().is_empty());
    }

    #[test]
    fn handshake_in_tiny_reads() {
        let handshake = Handshake::new(InfoHash([1; 20]), PeerId([2; 20]));
        let mut bytes = handshake.encode().to_vec();
        bytes.extend_from_slice(&Message::Interested.encode());
        let mut reader = MessageReader::new(Trickle::new(bytes));
        assert_eq!(reader.read_handshake().ok(), Some(handshake));
        assert_eq!(reader.read_message().ok(), Some(Message::Interested));
    }

    #[test]
    fn not_bittorrent_is_rejected_before_68_bytes() {
        let mut reader = MessageReader::new(Cursor::new(b"GET / HTTP/1.1\r\n".to_vec()));
        assert!(matches!(
            reader.read_handshake(),
            Err(WireError::HandshakeProtocolLength { pstrlen: b'G' })
        ));
    }

    #[test]
    fn end_of_stream_mid_message_is_closed() {
        let bytes = Message::Have { piece: 1 }.encode();
        let mut reader = MessageReader::new(Cursor::new(bytes[..6].to_vec()));
        assert!(matches!(reader.read_message(), Err(WireError::Closed)));
        let mut reader = MessageReader::new(Cursor::new(Vec::new()));
        assert!(matches!(reader.read_handshake(), Err(WireError::Closed)));
    }

    #[test]
    fn huge_length_prefix_is_rejected_after_four_bytes() {
        let mut reader = MessageReader::new(Cursor::new(vec![0xff, 0xff, 0xff, 0xff]));
        assert!(matches!(reader.read_message(), Err(WireError::MessageTooLong { len: u32::MAX })));
    }

    #[test]
    fn timeout_keeps_partial_data_and_resumes() {
        let messages =
            [Message::Request(BlockInfo { piece: 1, begin: 0, length: 16384 }), Message::Unchoke];
        let mut stream = Trickle::new(written(&messages));
        stream.fail_at = vec![(2, io::ErrorKind::WouldBlock), (3, io::ErrorKind::Interrupted)];
        let mut reader = MessageReader::new(stream);
        let err = reader.read_message().expect_err("timed out");
        assert!(matches!(err, WireError::Io(ref e) if e.kind() == io::ErrorKind::WouldBlock));
        assert_eq!(reader.read_message().ok(), Some(messages[0].clone()));
        assert_eq!(reader.read_message().ok(), Some(messages[1].clone()));
    }

    #[test]
    fn unknown_message_can_be_skipped() {
        let mut bytes = vec![0, 0, 0, 3, 99, 1, 2];
        bytes.extend_from_slice(&Message::Choke.encode());
        let mut reader = MessageReader::new(Trickle::new(bytes));
        assert!(matches!(
            reader.read_message(),
            Err(WireError::UnknownMessage { id: 99, consumed: 7 })
        ));
        assert_eq!(reader.read_message().ok(), Some(Message::Choke));
    }

    #[test]
    fn write_piece_survives_short_writes() {
        let data: Vec<u8> = (0..=255).cycle().take(1000).collect();
        let mut sink = Stingy(Vec::new());
        write_piece(&mut sink, 9, 32, &data).expect("writes");
        let expected = Message::Piece { piece: 9, begin: 32, data }.encode();
        assert_eq!(sink.0, expected);
    }

    #[test]
    fn write_piece_with_empty_data_writes_the_header() {
        let mut out = Vec::new();
        write_piece(&mut out, 1, 2, &[]).expect("writes");
        assert_eq!(out, Message::Piece { piece: 1, begin: 2, data: Vec::new() }.encode());
    }

    #[test]
    fn write_piece_refuses_data_over_the_limit() {
        let data = vec![0; 1 << 20];
        let err = write_piece(&mut Vec::new(), 0, 0, &data).expect_err("too long");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn write_message_matches_encode() {
        let mut sink = Stingy(Vec::new());
        for (message, bytes) in fixtures() {
            sink.0.clear();
            write_message(&mut sink, &message).expect("writes");
            assert_eq!(sink.0, bytes, "{}", message.name());
        }
    }
}
