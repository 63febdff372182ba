//! Peer wire: `Handshake::decode`, `message::decode` and `MessageReader` never panic and
//! return quickly on arbitrary bytes, mutated valid frames (including huge length prefixes) and
//! large streams; `decode` never claims more bytes than it was given and re-encodes whatever it
//! accepts to the bytes it consumed; every handshake and every kind of message round-trips; a
//! cut-short frame asks for more bytes; and a reader fed any stream in any chunk sizes yields
//! the same messages as decoding the whole stream at once.

use std::io::{self, Read};

use mt::wire::message::decode;
use mt::wire::{HANDSHAKE_LEN, Handshake, Message, MessageReader, WireError};
use proptest::collection::vec;
use proptest::prelude::*;

use crate::samples::{handshake, message};
use crate::support::{
    LARGE_LIMIT, arbitrary_bytes, bounded, bounded_or_panic, config, large_inputs, mutated,
};

/// A stream that hands out its bytes in the given chunk sizes, cycling through them.
struct Chunked {
    data: Vec<u8>,
    at: usize,
    sizes: Vec<usize>,
    reads: usize,
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size = self.sizes[self.reads % self.sizes.len()];
        self.reads += 1;
        let n = size.min(buf.len()).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Every message `decode` finds by walking `stream` from the front, skipping unknown ids,
/// then the error that stopped it (`None` when the stream ends between messages).
fn decode_all(stream: &[u8]) -> Result<(Vec<Message>, Option<String>), TestCaseError> {
    let mut messages = Vec::new();
    let mut rest = stream;
    // Every step consumes at least four bytes (checked below), so the walk ends.
    loop {
        match decode(rest) {
            Ok(Some((message, consumed))) => {
                prop_assert!(consumed >= 4 && consumed <= rest.len(), "consumed {}", consumed);
                prop_assert_eq!(message.encode(), &rest[..consumed]);
                messages.push(message);
                rest = &rest[consumed..];
            }
            Ok(None) if rest.is_empty() => return Ok((messages, None)),
            Ok(None) => return Ok((messages, Some(WireError::Closed.to_string()))),
            Err(WireError::UnknownMessage { consumed, .. }) => {
                prop_assert!(consumed >= 5 && consumed <= rest.len(), "consumed {}", consumed);
                rest = &rest[consumed..];
            }
            Err(err) => return Ok((messages, Some(err.to_string()))),
        }
    }
}

/// The same walk through a `MessageReader` over a chunked stream.
fn read_all(stream: &[u8], sizes: Vec<usize>) -> (Vec<Message>, Option<String>) {
    let chunked = Chunked { data: stream.to_vec(), at: 0, sizes, reads: 0 };
    let mut reader = MessageReader::new(chunked);
    let mut messages = Vec::new();
    loop {
        match reader.read_message() {
            Ok(message) => messages.push(message),
            Err(WireError::UnknownMessage { .. }) => {}
            Err(WireError::Closed) if reader.buffered().is_empty() => return (messages, None),
            Err(err) => return (messages, Some(err.to_string())),
        }
    }
}

/// Decodes `input` as one message and, through a reader, as a whole stream; both must agree.
fn check_stream(input: &[u8], sizes: Vec<usize>) -> Result<(), TestCaseError> {
    let from_decode = bounded("message::decode", input, || decode_all(input))??;
    let from_reader = bounded("MessageReader::read_message", input, || read_all(input, sizes))?;
    prop_assert_eq!(from_reader, from_decode);
    Ok(())
}

fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    vec(prop_oneof![1..8usize, 8..4096usize, Just(usize::MAX)], 1..6)
}

fn frames() -> impl Strategy<Value = Vec<u8>> {
    vec(message(), 1..6).prop_map(|messages| messages.iter().flat_map(Message::encode).collect())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn handshake_decode_never_panics_on_arbitrary_bytes(input in arbitrary_bytes()) {
        let decoded = bounded("Handshake::decode", &input, || Handshake::decode(&input))?;
        if let Ok(handshake) = decoded {
            prop_assert_eq!(&handshake.encode()[..], &input[..]);
        }
    }

    #[test]
    fn handshake_decode_never_panics_on_mutated_handshakes(
        input in mutated(handshake().prop_map(|h| h.encode().to_vec()))
    ) {
        let decoded = bounded("Handshake::decode", &input, || Handshake::decode(&input))?;
        let mut reader = MessageReader::new(input.as_slice());
        let read = bounded("MessageReader::read_handshake", &input, || reader.read_handshake())?;
        prop_assert_eq!(decoded.is_ok(), input.len() == HANDSHAKE_LEN && read.is_ok());
    }

    #[test]
    fn handshakes_round_trip(h in handshake()) {
        prop_assert_eq!(Handshake::decode(&h.encode()).ok(), Some(h));
        let bytes = h.encode();
        let mut reader = MessageReader::new(&bytes[..]);
        prop_assert_eq!(reader.read_handshake().ok(), Some(h));
    }

    #[test]
    fn message_decode_never_panics_on_arbitrary_bytes(
        input in arbitrary_bytes(),
        sizes in chunk_sizes(),
    ) {
        check_stream(&input, sizes)?;
    }

    #[test]
    fn message_decode_never_panics_on_mutated_frames(
        input in mutated(frames()),
        sizes in chunk_sizes(),
    ) {
        check_stream(&input, sizes)?;
    }

    #[test]
    fn messages_of_every_kind_round_trip(m in message()) {
        let bytes = m.encode();
        let decoded = bounded("message::decode", &bytes, || decode(&bytes))?;
        prop_assert_eq!(decoded.ok(), Some(Some((m, bytes.len()))));
    }

    #[test]
    fn message_cut_short_asks_for_more_bytes(m in message(), cut in any::<prop::sample::Index>()) {
        let bytes = m.encode();
        let end = cut.index(bytes.len());
        prop_assert!(matches!(decode(&bytes[..end]), Ok(None)), "cut at {}", end);
    }

    #[test]
    fn message_reader_yields_every_message_of_a_chunked_stream(
        messages in vec(message(), 0..8),
        sizes in chunk_sizes(),
    ) {
        let stream: Vec<u8> = messages.iter().flat_map(Message::encode).collect();
        prop_assert_eq!(read_all(&stream, sizes), (messages, None));
    }
}

#[test]
fn wire_decoders_return_quickly_on_large_streams() {
    for (name, input) in large_inputs(4 << 20) {
        bounded_or_panic(name, &input, LARGE_LIMIT, || Handshake::decode(&input).is_ok());
        let (ok, err) =
            bounded_or_panic(name, &input, LARGE_LIMIT, || read_all(&input, vec![65536]));
        let expected = decode_all(&input).expect("decode makes progress");
        assert_eq!((ok, err), expected, "{name}");
    }
}
