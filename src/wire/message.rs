//! Peer messages (BEP 3, BEP 5 `port`, BEP 6 fast extension, BEP 10 `extended`, BEP 52 hash
//! messages) and their codec.
//!
//! Every message on the wire is a 4-byte big-endian length, then (unless the length is 0, a
//! keep-alive) one id byte and the payload. [`Message::encode_into`] and [`decode`] are a
//! matched pair. [`decode`] works on whatever bytes have arrived so far and keeps three
//! outcomes apart: `Ok(None)` means the bytes are a valid start that needs more data,
//! `Ok(Some((message, consumed)))` is one whole message, and `Err` means the bytes can never
//! become a valid message.
//!
//! Limits are checked as early as the bytes allow, so a hostile peer cannot make the reader
//! buffer anything large: a length prefix above [`MAX_MESSAGE_LEN`] is an error from its four
//! bytes alone, and a fixed-size message with the wrong length is an error as soon as its id
//! byte is in. A `request`, `cancel` or `reject request` must name a block of 1 to
//! [`MAX_BLOCK_LEN`] bytes. A `piece` message's data length is not checked against a block
//! size here; matching it to an outstanding request is the peer layer's job.
//!
//! An unknown message id is [`WireError::UnknownMessage`], reported only once the whole
//! message has arrived; it carries the bytes the message took so a caller may skip it and go
//! on. Piece indexes are plain `u32` here: only the torrent's layout can say whether one names
//! a real piece.

use super::WireError;

/// The largest length prefix accepted (257 KiB): room for a 128 KiB block or the bitfield of
/// a torrent at the 2^21-piece limit, and small enough that a peer cannot make us buffer much.
pub const MAX_MESSAGE_LEN: u32 = (1 << 18) + 1024;

/// The largest block a `request`, `cancel` or `reject request` may name (128 KiB).
pub const MAX_BLOCK_LEN: u32 = 128 * 1024;

/// Bytes before a piece message's data: length prefix, id, piece index, begin offset.
pub const PIECE_HEADER_LEN: usize = 13;

const CHOKE: u8 = 0;
const UNCHOKE: u8 = 1;
const INTERESTED: u8 = 2;
const NOT_INTERESTED: u8 = 3;
const HAVE: u8 = 4;
const BITFIELD: u8 = 5;
const REQUEST: u8 = 6;
const PIECE: u8 = 7;
const CANCEL: u8 = 8;
const PORT: u8 = 9;
const SUGGEST: u8 = 0x0d;
const HAVE_ALL: u8 = 0x0e;
const HAVE_NONE: u8 = 0x0f;
const REJECT: u8 = 0x10;
const ALLOWED_FAST: u8 = 0x11;
const EXTENDED: u8 = 20;
const HASH_REQUEST: u8 = 21;
const HASHES: u8 = 22;
const HASH_REJECT: u8 = 23;

/// One block of a piece, as named by `request`, `cancel` and `reject request`: the layout's
/// [`crate::layout::Block`]. On the wire its length is 1 to [`MAX_BLOCK_LEN`].
pub use crate::layout::Block as BlockInfo;

use super::hashes::{HASH_HEADER_LEN, HashRequest, HashesHeader};
use crate::merkle::Node;

/// A peer wire message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Length 0: keeps an idle connection open.
    KeepAlive,
    /// We will not serve your requests.
    Choke,
    /// We will serve your requests.
    Unchoke,
    /// We want something you have.
    Interested,
    /// We want nothing you have.
    NotInterested,
    /// We now have this piece.
    Have {
        /// The piece index.
        piece: u32,
    },
    /// Which pieces we have, high bit of the first byte is piece 0; sent only first.
    Bitfield(Vec<u8>),
    /// Please send this block.
    Request(BlockInfo),
    /// A block of data.
    Piece {
        /// The piece index.
        piece: u32,
        /// Byte offset within the piece.
        begin: u32,
        /// The block's bytes.
        data: Vec<u8>,
    },
    /// Never mind that request.
    Cancel(BlockInfo),
    /// BEP 5: the sender's DHT port.
    Port(u16),
    /// BEP 6: this piece would be a good one to request.
    Suggest {
        /// The piece index.
        piece: u32,
    },
    /// BEP 6: we have every piece (instead of a bitfield).
    HaveAll,
    /// BEP 6: we have no piece (instead of a bitfield).
    HaveNone,
    /// BEP 6 "reject request": this request will not be served.
    Reject(BlockInfo),
    /// BEP 6: you may request this piece even while choked.
    AllowedFast {
        /// The piece index.
        piece: u32,
    },
    /// BEP 10: an extension message; `id` 0 is the extended handshake.
    Extended {
        /// The extended message id (the first payload byte).
        id: u8,
        /// The rest of the payload.
        payload: Vec<u8>,
    },
    /// BEP 52: please send these hashes of a file's merkle tree.
    HashRequest(HashRequest),
    /// BEP 52: the hashes a `hash request` asked for, then their proof.
    Hashes {
        /// The request answered.
        request: HashRequest,
        /// The base layer's hashes, then the uncle hashes, nearest the base first.
        hashes: Vec<Node>,
    },
    /// BEP 52: this hash request will not be served.
    HashReject(HashRequest),
}

impl Message {
    /// The message's name as the specs write it, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Message::KeepAlive => "keep-alive",
            Message::Choke => "choke",
            Message::Unchoke => "unchoke",
            Message::Interested => "interested",
            Message::NotInterested => "not interested",
            Message::Have { .. } => "have",
            Message::Bitfield(_) => "bitfield",
            Message::Request(_) => "request",
            Message::Piece { .. } => "piece",
            Message::Cancel(_) => "cancel",
            Message::Port(_) => "port",
            Message::Suggest { .. } => "suggest piece",
            Message::HaveAll => "have all",
            Message::HaveNone => "have none",
            Message::Reject(_) => "reject request",
            Message::AllowedFast { .. } => "allowed fast",
            Message::Extended { .. } => "extended",
            Message::HashRequest(_) => "hash request",
            Message::Hashes { .. } => "hashes",
            Message::HashReject(_) => "hash reject",
        }
    }

    /// Appends the message, length prefix included, to `out`.
    ///
    /// # Panics
    ///
    /// If the message would be longer than [`MAX_MESSAGE_LEN`] (a bitfield or extension
    /// payload near 1 MiB), which no peer would accept; the engine never builds one.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        match self {
            Message::KeepAlive => {}
            Message::Choke => out.push(CHOKE),
            Message::Unchoke => out.push(UNCHOKE),
            Message::Interested => out.push(INTERESTED),
            Message::NotInterested => out.push(NOT_INTERESTED),
            Message::Have { piece } => push_id_u32(out, HAVE, *piece),
            Message::Bitfield(bits) => {
                out.push(BITFIELD);
                out.extend_from_slice(bits);
            }
            Message::Request(block) => push_block(out, REQUEST, block),
            Message::Piece { piece, begin, data } => {
                push_id_u32(out, PIECE, *piece);
                out.extend_from_slice(&begin.to_be_bytes());
                out.extend_from_slice(data);
            }
            Message::Cancel(block) => push_block(out, CANCEL, block),
            Message::Port(port) => {
                out.push(PORT);
                out.extend_from_slice(&port.to_be_bytes());
            }
            Message::Suggest { piece } => push_id_u32(out, SUGGEST, *piece),
            Message::HaveAll => out.push(HAVE_ALL),
            Message::HaveNone => out.push(HAVE_NONE),
            Message::Reject(block) => push_block(out, REJECT, block),
            Message::AllowedFast { piece } => push_id_u32(out, ALLOWED_FAST, *piece),
            Message::Extended { id, payload } => {
                out.push(EXTENDED);
                out.push(*id);
                out.extend_from_slice(payload);
            }
            Message::HashRequest(request) => {
                out.push(HASH_REQUEST);
                request.encode_into(out);
            }
            Message::Hashes { request, hashes } => {
                out.push(HASHES);
                request.encode_into(out);
                hashes.iter().for_each(|hash| out.extend_from_slice(hash));
            }
            Message::HashReject(request) => {
                out.push(HASH_REJECT);
                request.encode_into(out);
            }
        }
        let len = frame_len(out.len() - start - 4);
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// The message, length prefix included, in a new vector.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }
}

/// Writes the 13 bytes that precede a piece message's data (length prefix, id 7, piece,
/// begin), so a seeder can send them and a borrowed data slice in one vectored write.
///
/// # Panics
///
/// If `data_len + 9` exceeds [`MAX_MESSAGE_LEN`].
pub fn encode_piece_header(
    piece: u32,
    begin: u32,
    data_len: u32,
    out: &mut [u8; PIECE_HEADER_LEN],
) {
    let len = usize::try_from(data_len).map_or(usize::MAX, |n| n.saturating_add(9));
    out[..4].copy_from_slice(&frame_len(len).to_be_bytes());
    out[4] = PIECE;
    out[5..9].copy_from_slice(&piece.to_be_bytes());
    out[9..13].copy_from_slice(&begin.to_be_bytes());
}

/// The length prefix for a message body of `len` bytes.
fn frame_len(len: usize) -> u32 {
    match u32::try_from(len) {
        Ok(len) if len <= MAX_MESSAGE_LEN => len,
        _ => panic!("bug: encoding a {len}-byte message, over the {MAX_MESSAGE_LEN}-byte limit"),
    }
}

fn push_id_u32(out: &mut Vec<u8>, id: u8, value: u32) {
    out.push(id);
    out.extend_from_slice(&value.to_be_bytes());
}

fn push_block(out: &mut Vec<u8>, id: u8, block: &BlockInfo) {
    push_id_u32(out, id, block.piece);
    out.extend_from_slice(&block.begin.to_be_bytes());
    out.extend_from_slice(&block.length.to_be_bytes());
}

/// Decodes one message from the start of `buf`.
///
/// Returns `Ok(None)` when `buf` is a valid but incomplete start, `Ok(Some((message,
/// consumed)))` for a whole message of `consumed` bytes, and `Err` when the bytes can never
/// be valid. An unknown id gives [`WireError::UnknownMessage`] once the whole message is in,
/// with `consumed` set so the caller may skip it.
pub fn decode(buf: &[u8]) -> Result<Option<(Message, usize)>, WireError> {
    let Some(prefix) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(*prefix);
    if len > MAX_MESSAGE_LEN {
        return Err(WireError::MessageTooLong { len });
    }
    if len == 0 {
        return Ok(Some((Message::KeepAlive, 4)));
    }
    let Some(&id) = buf.get(4) else {
        return Ok(None);
    };
    let payload_len = len - 1;
    check_shape(id, payload_len)?;
    let consumed = usize::try_from(len)
        .ok()
        .and_then(|len| len.checked_add(4))
        .ok_or(WireError::MessageTooLong { len })?;
    let Some(payload) = buf.get(5..consumed) else {
        return Ok(None);
    };
    let message = parse(id, payload).ok_or(WireError::UnknownMessage { id, consumed })??;
    Ok(Some((message, consumed)))
}

/// Payload bytes of a `hash request` or `hash reject` ([`HASH_HEADER_LEN`]).
const HEADER: u32 = 48;
const _: () = assert!(HASH_HEADER_LEN == 48);

/// How many payload bytes a message id allows.
enum Shape {
    Exact(u32),
    AtLeast(u32),
}

fn shape(id: u8) -> Option<(&'static str, Shape)> {
    Some(match id {
        CHOKE => ("choke", Shape::Exact(0)),
        UNCHOKE => ("unchoke", Shape::Exact(0)),
        INTERESTED => ("interested", Shape::Exact(0)),
        NOT_INTERESTED => ("not interested", Shape::Exact(0)),
        HAVE => ("have", Shape::Exact(4)),
        BITFIELD => ("bitfield", Shape::AtLeast(0)),
        REQUEST => ("request", Shape::Exact(12)),
        PIECE => ("piece", Shape::AtLeast(8)),
        CANCEL => ("cancel", Shape::Exact(12)),
        PORT => ("port", Shape::Exact(2)),
        SUGGEST => ("suggest piece", Shape::Exact(4)),
        HAVE_ALL => ("have all", Shape::Exact(0)),
        HAVE_NONE => ("have none", Shape::Exact(0)),
        REJECT => ("reject request", Shape::Exact(12)),
        ALLOWED_FAST => ("allowed fast", Shape::Exact(4)),
        EXTENDED => ("extended", Shape::AtLeast(1)),
        HASH_REQUEST => ("hash request", Shape::Exact(HEADER)),
        HASHES => ("hashes", Shape::AtLeast(HEADER)),
        HASH_REJECT => ("hash reject", Shape::Exact(HEADER)),
        _ => return None,
    })
}

/// Checks a payload length against the message id, before the payload has arrived.
fn check_shape(id: u8, got: u32) -> Result<(), WireError> {
    match shape(id) {
        Some((message, Shape::Exact(expected))) if got != expected => {
            Err(WireError::PayloadLength { message, got, expected })
        }
        Some((message, Shape::AtLeast(min))) if got < min => {
            Err(WireError::PayloadTooShort { message, got, min })
        }
        _ => Ok(()),
    }
}

/// Parses a whole payload; `None` for an unknown id.
fn parse(id: u8, payload: &[u8]) -> Option<Result<Message, WireError>> {
    let (message, _) = shape(id)?;
    let got = || u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let exact = |expected| WireError::PayloadLength { message, got: got(), expected };
    let too_short = |min| WireError::PayloadTooShort { message, got: got(), min };
    let parsed = match id {
        CHOKE | UNCHOKE | INTERESTED | NOT_INTERESTED | HAVE_ALL | HAVE_NONE
            if !payload.is_empty() =>
        {
            Err(exact(0))
        }
        CHOKE => Ok(Message::Choke),
        UNCHOKE => Ok(Message::Unchoke),
        INTERESTED => Ok(Message::Interested),
        NOT_INTERESTED => Ok(Message::NotInterested),
        HAVE_ALL => Ok(Message::HaveAll),
        HAVE_NONE => Ok(Message::HaveNone),
        HAVE => piece_index(payload).map(|piece| Message::Have { piece }).ok_or(exact(4)),
        SUGGEST => piece_index(payload).map(|piece| Message::Suggest { piece }).ok_or(exact(4)),
        ALLOWED_FAST => {
            piece_index(payload).map(|piece| Message::AllowedFast { piece }).ok_or(exact(4))
        }
        REQUEST | CANCEL | REJECT => match block_info(payload) {
            None => Err(exact(12)),
            Some(block) if block.length == 0 || block.length > MAX_BLOCK_LEN => {
                Err(WireError::BlockLength { message, length: block.length })
            }
            Some(block) if id == REQUEST => Ok(Message::Request(block)),
            Some(block) if id == CANCEL => Ok(Message::Cancel(block)),
            Some(block) => Ok(Message::Reject(block)),
        },
        BITFIELD => Ok(Message::Bitfield(payload.to_vec())),
        PIECE => match payload.split_first_chunk::<8>() {
            Some((&[p0, p1, p2, p3, b0, b1, b2, b3], data)) => Ok(Message::Piece {
                piece: u32::from_be_bytes([p0, p1, p2, p3]),
                begin: u32::from_be_bytes([b0, b1, b2, b3]),
                data: super::blocks::block_from(data),
            }),
            None => Err(too_short(8)),
        },
        PORT => match payload.try_into() {
            Ok(port) => Ok(Message::Port(u16::from_be_bytes(port))),
            Err(_) => Err(exact(2)),
        },
        EXTENDED => match payload.split_first() {
            Some((&id, rest)) => Ok(Message::Extended { id, payload: rest.to_vec() }),
            None => Err(too_short(1)),
        },
        HASH_REQUEST => HashRequest::decode(payload).map(Message::HashRequest).ok_or(exact(HEADER)),
        HASH_REJECT => HashRequest::decode(payload).map(Message::HashReject).ok_or(exact(HEADER)),
        HASHES => HashesHeader::decode(payload)
            .map(|(request, hashes)| Message::Hashes { request, hashes })
            .ok_or(WireError::HashesNotWhole { got: got() }),
        _ => return None,
    };
    Some(parsed)
}

/// A 4-byte payload as a piece index.
fn piece_index(payload: &[u8]) -> Option<u32> {
    payload.try_into().ok().map(u32::from_be_bytes)
}

/// A 12-byte payload as piece, begin, length.
fn block_info(payload: &[u8]) -> Option<BlockInfo> {
    let [p0, p1, p2, p3, b0, b1, b2, b3, l0, l1, l2, l3]: [u8; 12] = payload.try_into().ok()?;
    Some(BlockInfo {
        piece: u32::from_be_bytes([p0, p1, p2, p3]),
        begin: u32::from_be_bytes([b0, b1, b2, b3]),
        length: u32::from_be_bytes([l0, l1, l2, l3]),
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn block(piece: u32, begin: u32, length: u32) -> BlockInfo {
        BlockInfo { piece, begin, length }
    }

    fn hash_request() -> HashRequest {
        HashRequest { pieces_root: [0xee; 32], base_layer: 2, index: 4, length: 2, proof_layers: 3 }
    }

    /// A hash message for [`hash_request`] as BEP 52 draws it: length, id, root, the four
    /// words, then `hashes`.
    fn hash_bytes(id: u8, len: u8, hashes: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0, 0, 0, len, id];
        bytes.extend_from_slice(&[0xee; 32]);
        bytes.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 3]);
        bytes.extend_from_slice(hashes);
        bytes
    }

    /// One of every message kind, each with the exact bytes BEP 3/5/6/10/52 give for it.
    pub(in crate::wire) fn fixtures() -> Vec<(Message, Vec<u8>)> {
        vec![
            (Message::KeepAlive, vec![0, 0, 0, 0]),
            (Message::Choke, vec![0, 0, 0, 1, 0]),
            (Message::Unchoke, vec![0, 0, 0, 1, 1]),
            (Message::Interested, vec![0, 0, 0, 1, 2]),
            (Message::NotInterested, vec![0, 0, 0, 1, 3]),
            (Message::Have { piece: 5 }, vec![0, 0, 0, 5, 4, 0, 0, 0, 5]),
            (Message::Bitfield(vec![0b1010_0000, 0x01]), vec![0, 0, 0, 3, 5, 0xa0, 0x01]),
            (
                Message::Request(block(1, 0x4000, 0x4000)),
                vec![0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0],
            ),
            (
                Message::Piece { piece: 2, begin: 0x8000, data: b"abc".to_vec() },
                vec![0, 0, 0, 12, 7, 0, 0, 0, 2, 0, 0, 0x80, 0, b'a', b'b', b'c'],
            ),
            (
                Message::Cancel(block(0x0102_0304, 0, 1)),
                vec![0, 0, 0, 13, 8, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 1],
            ),
            (Message::Port(6881), vec![0, 0, 0, 3, 9, 0x1a, 0xe1]),
            (Message::Suggest { piece: 7 }, vec![0, 0, 0, 5, 0x0d, 0, 0, 0, 7]),
            (Message::HaveAll, vec![0, 0, 0, 1, 0x0e]),
            (Message::HaveNone, vec![0, 0, 0, 1, 0x0f]),
            (
                Message::Reject(block(3, 0, MAX_BLOCK_LEN)),
                vec![0, 0, 0, 13, 0x10, 0, 0, 0, 3, 0, 0, 0, 0, 0, 2, 0, 0],
            ),
            (Message::AllowedFast { piece: 9 }, vec![0, 0, 0, 5, 0x11, 0, 0, 0, 9]),
            (
                Message::Extended { id: 0, payload: b"de".to_vec() },
                vec![0, 0, 0, 4, 20, 0, b'd', b'e'],
            ),
            (Message::HashRequest(hash_request()), hash_bytes(21, 49, &[])),
            (
                Message::Hashes { request: hash_request(), hashes: vec![[0x11; 32]] },
                hash_bytes(22, 81, &[0x11; 32]),
            ),
            (Message::HashReject(hash_request()), hash_bytes(23, 49, &[])),
        ]
    }

    #[test]
    fn every_kind_encodes_to_its_captured_bytes() {
        for (message, bytes) in fixtures() {
            assert_eq!(message.encode(), bytes, "{}", message.name());
        }
    }

    #[test]
    fn every_kind_decodes_from_its_captured_bytes() {
        for (message, bytes) in fixtures() {
            assert_eq!(decode(&bytes).ok(), Some(Some((message, bytes.len()))));
        }
    }

    #[test]
    fn every_kind_round_trips_with_larger_values() {
        let messages = [
            Message::Have { piece: u32::MAX },
            Message::Bitfield(vec![0xff; 1000]),
            Message::Bitfield(Vec::new()),
            Message::Request(block(u32::MAX, u32::MAX - 1, 1)),
            Message::Piece { piece: 0, begin: 0, data: vec![0x5a; 16384] },
            Message::Piece { piece: 1, begin: 2, data: Vec::new() },
            Message::Cancel(block(1, 2, crate::layout::BLOCK_LEN)),
            Message::Port(u16::MAX),
            Message::Suggest { piece: 0 },
            Message::Reject(block(4, 5, 6)),
            Message::AllowedFast { piece: 1 << 31 },
            Message::Extended { id: 255, payload: Vec::new() },
        ];
        let all = fixtures().into_iter().map(|(message, _)| message).chain(messages);
        for message in all {
            let bytes = message.encode();
            assert_eq!(decode(&bytes).ok(), Some(Some((message, bytes.len()))));
        }
    }

    #[test]
    fn every_truncation_needs_more_bytes() {
        for (message, bytes) in fixtures() {
            for end in 0..bytes.len() {
                assert!(
                    matches!(decode(&bytes[..end]), Ok(None)),
                    "{} cut at {end}",
                    message.name()
                );
            }
        }
    }

    #[test]
    fn decodes_only_the_first_of_two_messages() {
        let mut bytes = Message::Have { piece: 1 }.encode();
        Message::Unchoke.encode_into(&mut bytes);
        assert_eq!(decode(&bytes).ok(), Some(Some((Message::Have { piece: 1 }, 9))));
        assert_eq!(decode(&bytes[9..]).ok(), Some(Some((Message::Unchoke, 5))));
    }

    #[test]
    fn rejects_huge_length_from_the_prefix_alone() {
        let err = decode(&[0xff, 0xff, 0xff, 0xff]).expect_err("too long");
        assert_eq!(err.to_string(), "message length 4294967295 exceeds the 263168-byte limit");
        let just_over = (MAX_MESSAGE_LEN + 1).to_be_bytes();
        assert!(matches!(decode(&just_over), Err(WireError::MessageTooLong { len: 263169 })));
    }

    #[test]
    fn accepts_a_length_at_the_limit() {
        let mut bytes = MAX_MESSAGE_LEN.to_be_bytes().to_vec();
        bytes.push(BITFIELD);
        assert!(matches!(decode(&bytes), Ok(None)));
        bytes.resize(4 + 263_168, 0xff);
        let decoded = decode(&bytes).expect("valid").expect("whole");
        assert_eq!(decoded.1, bytes.len());
    }

    #[test]
    fn rejects_have_with_wrong_size_from_the_header() {
        for (len, got) in [(4u8, 3u32), (6, 5)] {
            let header = [0, 0, 0, len, HAVE];
            let err = decode(&header).expect_err("wrong size");
            assert!(
                matches!(err, WireError::PayloadLength { expected: 4, got: g, .. } if g == got)
            );
        }
        let err = decode(&[0, 0, 0, 6, 4, 0, 0, 0, 0, 0]).expect_err("wrong size");
        assert_eq!(err.to_string(), "have message has 5 payload bytes, expected 4");
    }

    #[test]
    fn rejects_every_fixed_size_message_with_one_byte_too_many() {
        for (message, bytes) in fixtures() {
            let id = bytes.get(4).copied();
            let Some((name, Shape::Exact(expected))) = id.and_then(shape) else { continue };
            let mut longer = bytes.clone();
            longer[3] += 1;
            longer.push(0);
            assert!(
                matches!(decode(&longer), Err(WireError::PayloadLength { message: m, got, .. })
                    if m == name && got == expected + 1),
                "{}",
                message.name()
            );
        }
    }

    #[test]
    fn rejects_block_lengths_outside_the_limit() {
        for length in [0, MAX_BLOCK_LEN + 1, u32::MAX] {
            for make in [Message::Request, Message::Cancel, Message::Reject] {
                let message = make(block(0, 0, length));
                let err = decode(&message.encode()).expect_err("bad block length");
                assert!(matches!(err, WireError::BlockLength { length: l, .. } if l == length));
            }
        }
        let err = decode(&Message::Request(block(0, 0, 0)).encode()).expect_err("zero");
        assert_eq!(
            err.to_string(),
            "request message names a 0-byte block, expected 1 to 131072 bytes"
        );
    }

    #[test]
    fn rejects_short_piece_and_empty_extended() {
        let piece = [0, 0, 0, 8, PIECE, 0, 0, 0, 1, 0, 0, 0];
        assert!(matches!(
            decode(&piece),
            Err(WireError::PayloadTooShort { message: "piece", got: 7, min: 8 })
        ));
        let extended = [0, 0, 0, 1, EXTENDED];
        assert!(matches!(
            decode(&extended),
            Err(WireError::PayloadTooShort { message: "extended", got: 0, min: 1 })
        ));
    }

    #[test]
    fn unknown_id_waits_for_the_whole_message_then_says_how_long_it_was() {
        let bytes = [0, 0, 0, 3, 42, 0xaa, 0xbb, 0, 0, 0, 1, 1];
        for end in 0..7 {
            assert!(matches!(decode(&bytes[..end]), Ok(None)));
        }
        let err = decode(&bytes).expect_err("unknown");
        assert!(matches!(err, WireError::UnknownMessage { id: 42, consumed: 7 }));
        assert_eq!(decode(&bytes[7..]).ok(), Some(Some((Message::Unchoke, 5))));
    }

    #[test]
    fn piece_header_matches_the_full_encoding() {
        let data = vec![1u8; 100];
        let full = Message::Piece { piece: 3, begin: 0x4000, data: data.clone() }.encode();
        let mut header = [0u8; PIECE_HEADER_LEN];
        encode_piece_header(3, 0x4000, 100, &mut header);
        assert_eq!(header[..], full[..PIECE_HEADER_LEN]);
        assert_eq!(full[PIECE_HEADER_LEN..], data[..]);
    }

    #[test]
    #[should_panic(expected = "over the 263168-byte limit")]
    fn encoding_an_oversized_message_is_a_bug() {
        Message::Bitfield(vec![0; 1 << 20]).encode();
    }

    proptest::proptest! {
        #[test]
        fn any_decoded_message_reencodes_to_the_bytes_it_came_from(
            len in 0u32..40,
            id in 0u8..=21,
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..48),
        ) {
            let mut bytes = len.to_be_bytes().to_vec();
            bytes.push(id);
            bytes.extend_from_slice(&tail);
            if let Ok(Some((message, consumed))) = decode(&bytes) {
                proptest::prop_assert_eq!(message.encode(), &bytes[..consumed]);
            }
        }
    }

    #[test]
    fn encode_into_appends() {
        let mut out = vec![0xee];
        Message::Choke.encode_into(&mut out);
        assert_eq!(out, [0xee, 0, 0, 0, 1, 0]);
    }
}
