//! The BEP 9 `ut_metadata` messages: asking a peer for a torrent's `info` dictionary in
//! 16 KiB pieces, and its answers.
//!
//! Each message is the payload of a BEP 10 extended message: a bencoded dictionary with
//! `msg_type` (0 request, 1 data, 2 reject) and `piece`; a data message also carries
//! `total_size` and, after the dictionary, the piece's bytes. [`MetadataMessage::encode`] and
//! [`MetadataMessage::decode`] are a matched pair.
//!
//! Decoding checks everything the message alone can prove: `total_size` is 1 to
//! [`MAX_METADATA_SIZE`], the piece index is below the piece count that size implies, and a
//! data piece is exactly [`METADATA_PIECE_LEN`] bytes long (the last one, the remainder). Matching
//! `total_size` to what the peer announced in its handshake is the caller's job. Errors are
//! [`MetadataError`]s: they cost one peer.

use std::fmt;

use crate::bencode::{self, Value};

/// Bytes per metadata piece (the last piece may be shorter).
pub const METADATA_PIECE_LEN: u32 = 16 * 1024;

/// The largest metadata we accept: the size limit of a `.torrent` file we read.
pub const MAX_METADATA_SIZE: u64 = crate::metainfo::MAX_TORRENT_SIZE;

/// The extension's name in the BEP 10 handshake's `m` dictionary.
pub const UT_METADATA: &str = "ut_metadata";

const REQUEST: i64 = 0;
const DATA: i64 = 1;
const REJECT: i64 = 2;

/// One `ut_metadata` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataMessage {
    /// Please send this piece.
    Request {
        /// The piece index.
        piece: u32,
    },
    /// A piece of the metadata.
    Data {
        /// The piece index.
        piece: u32,
        /// The size of the whole metadata.
        total_size: u32,
        /// The piece's bytes.
        data: Vec<u8>,
    },
    /// The sender will not send this piece.
    Reject {
        /// The piece index.
        piece: u32,
    },
}

/// Why a `ut_metadata` payload cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataError {
    /// The payload does not start with a bencoded dictionary.
    NotDict,
    /// `msg_type` is missing or not 0, 1 or 2.
    MessageType,
    /// `piece` is missing or not a valid index.
    Piece,
    /// `total_size` is missing, zero or over [`MAX_METADATA_SIZE`].
    TotalSize(Option<i64>),
    /// A data message names a piece past the end of the metadata.
    PieceOutOfRange {
        /// The piece index.
        piece: u32,
        /// Pieces the metadata has.
        count: u32,
    },
    /// A data piece has the wrong length.
    PieceLength {
        /// The piece index.
        piece: u32,
        /// Bytes received.
        got: usize,
        /// Bytes that piece must have.
        expected: u32,
    },
    /// A request or reject carries bytes after its dictionary.
    TrailingBytes,
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetadataError::NotDict => f.write_str("metadata message is not a bencoded dictionary"),
            MetadataError::MessageType => f.write_str("metadata message has no valid msg_type"),
            MetadataError::Piece => f.write_str("metadata message has no valid piece index"),
            MetadataError::TotalSize(Some(size)) => {
                write!(f, "metadata size {size} is outside 1..={MAX_METADATA_SIZE}")
            }
            MetadataError::TotalSize(None) => f.write_str("metadata data has no total_size"),
            MetadataError::PieceOutOfRange { piece, count } => {
                write!(f, "metadata piece {piece} is past the last of {count} pieces")
            }
            MetadataError::PieceLength { piece, got, expected } => {
                write!(f, "metadata piece {piece} is {got} bytes, expected {expected}")
            }
            MetadataError::TrailingBytes => f.write_str("metadata message has trailing bytes"),
        }
    }
}

impl std::error::Error for MetadataError {}

/// How many pieces metadata of `total_size` bytes has.
pub fn piece_count(total_size: u32) -> u32 {
    total_size.div_ceil(METADATA_PIECE_LEN)
}

/// The length of piece `piece` of metadata of `total_size` bytes; `None` past the end.
pub fn piece_len(total_size: u32, piece: u32) -> Option<u32> {
    let start = piece.checked_mul(METADATA_PIECE_LEN).filter(|&s| s < total_size)?;
    Some((total_size - start).min(METADATA_PIECE_LEN))
}

/// Checks a size a peer announced (handshake `metadata_size` or a data `total_size`).
pub fn check_size(size: i64) -> Result<u32, MetadataError> {
    u64::try_from(size)
        .ok()
        .filter(|&s| (1..=MAX_METADATA_SIZE).contains(&s))
        .and_then(|s| u32::try_from(s).ok())
        .ok_or(MetadataError::TotalSize(Some(size)))
}

impl MetadataMessage {
    /// The payload of the extended message (after the extended id byte).
    pub fn encode(&self) -> Vec<u8> {
        let (kind, piece) = match self {
            MetadataMessage::Request { piece } => (REQUEST, piece),
            MetadataMessage::Data { piece, .. } => (DATA, piece),
            MetadataMessage::Reject { piece } => (REJECT, piece),
        };
        let mut entries =
            vec![("msg_type", Value::Int(kind)), ("piece", Value::Int(i64::from(*piece)))];
        if let MetadataMessage::Data { total_size, .. } = self {
            entries.push(("total_size", Value::Int(i64::from(*total_size))));
        }
        let mut out = bencode::dict(entries).encode();
        if let MetadataMessage::Data { data, .. } = self {
            out.extend_from_slice(data);
        }
        out
    }

    /// Reads a payload; see the module docs for what is checked.
    pub fn decode(payload: &[u8]) -> Result<MetadataMessage, MetadataError> {
        let end = dict_end(payload).ok_or(MetadataError::NotDict)?;
        let dict = bencode::decode(&payload[..end]).map_err(|_| MetadataError::NotDict)?;
        let rest = &payload[end..];
        let piece = dict.get("piece").and_then(Value::as_int);
        let piece = piece.and_then(|p| u32::try_from(p).ok()).ok_or(MetadataError::Piece)?;
        match dict.get("msg_type").and_then(Value::as_int) {
            Some(REQUEST | REJECT) if !rest.is_empty() => Err(MetadataError::TrailingBytes),
            Some(REQUEST) => Ok(MetadataMessage::Request { piece }),
            Some(REJECT) => Ok(MetadataMessage::Reject { piece }),
            Some(DATA) => {
                let size = dict.get("total_size").and_then(Value::as_int);
                let total_size = check_size(size.ok_or(MetadataError::TotalSize(None))?)?;
                let count = piece_count(total_size);
                let expected = piece_len(total_size, piece)
                    .ok_or(MetadataError::PieceOutOfRange { piece, count })?;
                if usize::try_from(expected).ok() != Some(rest.len()) {
                    return Err(MetadataError::PieceLength { piece, got: rest.len(), expected });
                }
                Ok(MetadataMessage::Data { piece, total_size, data: rest.to_vec() })
            }
            _ => Err(MetadataError::MessageType),
        }
    }
}

/// Where the bencoded value at the start of `bytes` ends, if it is a dictionary. Walks the
/// tokens without building anything; nesting is capped at [`bencode::MAX_DEPTH`].
fn dict_end(bytes: &[u8]) -> Option<usize> {
    if bytes.first() != Some(&b'd') {
        return None;
    }
    let mut depth = 0usize;
    let mut at = 0;
    loop {
        match *bytes.get(at)? {
            b'd' | b'l' => {
                depth += 1;
                if depth > bencode::MAX_DEPTH {
                    return None;
                }
                at += 1;
            }
            b'e' => {
                depth = depth.checked_sub(1)?;
                at += 1;
                if depth == 0 {
                    return Some(at);
                }
            }
            b'i' => at += bytes.get(at..)?.iter().position(|&b| b == b'e')? + 1,
            b'0'..=b'9' => {
                let colon = at + bytes.get(at..)?.iter().position(|&b| b == b':')?;
                let len: usize = std::str::from_utf8(&bytes[at..colon]).ok()?.parse().ok()?;
                at = colon.checked_add(1)?.checked_add(len)?;
                if at > bytes.len() {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_bep_9_examples() {
        assert_eq!(MetadataMessage::Request { piece: 0 }.encode(), b"d8:msg_typei0e5:piecei0ee");
        assert_eq!(MetadataMessage::Reject { piece: 0 }.encode(), b"d8:msg_typei2e5:piecei0ee");
        let data = MetadataMessage::Data { piece: 0, total_size: 3, data: b"abc".to_vec() };
        assert_eq!(data.encode(), b"d8:msg_typei1e5:piecei0e10:total_sizei3eeabc");
    }

    #[test]
    fn round_trips() {
        let last = 40_000 - 2 * METADATA_PIECE_LEN;
        for message in [
            MetadataMessage::Request { piece: 7 },
            MetadataMessage::Reject { piece: u32::MAX },
            MetadataMessage::Data { piece: 2, total_size: 40_000, data: vec![1; last as usize] },
        ] {
            assert_eq!(MetadataMessage::decode(&message.encode()), Ok(message));
        }
    }

    #[test]
    fn refuses_wrong_sizes_and_pieces() {
        let data = |piece: u32, total: i64, len: usize| {
            let mut out =
                format!("d8:msg_typei1e5:piecei{piece}e10:total_sizei{total}ee").into_bytes();
            out.resize(out.len() + len, 0);
            MetadataMessage::decode(&out)
        };
        assert_eq!(data(0, 0, 0), Err(MetadataError::TotalSize(Some(0))));
        let over = i64::try_from(MAX_METADATA_SIZE).expect("small") + 1;
        assert_eq!(data(0, over, 16384), Err(MetadataError::TotalSize(Some(over))));
        assert_eq!(
            data(2, 20_000, 100),
            Err(MetadataError::PieceOutOfRange { piece: 2, count: 2 })
        );
        assert_eq!(
            data(0, 20_000, 100),
            Err(MetadataError::PieceLength { piece: 0, got: 100, expected: 16384 })
        );
        assert_eq!(
            data(1, 20_000, 3617),
            Err(MetadataError::PieceLength { piece: 1, got: 3617, expected: 3616 })
        );
        assert!(data(1, 20_000, 3616).is_ok());
        assert_eq!(
            MetadataMessage::decode(b"d8:msg_typei3e5:piecei0ee"),
            Err(MetadataError::MessageType)
        );
        assert_eq!(
            MetadataMessage::decode(b"d8:msg_typei0e5:piecei-1ee"),
            Err(MetadataError::Piece)
        );
        assert_eq!(
            MetadataMessage::decode(b"d8:msg_typei0e5:piecei0eex"),
            Err(MetadataError::TrailingBytes)
        );
        assert_eq!(MetadataMessage::decode(b"li1ee"), Err(MetadataError::NotDict));
        assert_eq!(MetadataMessage::decode(b"d8:msg_type"), Err(MetadataError::NotDict));
    }

    #[test]
    fn piece_geometry() {
        assert_eq!(piece_count(1), 1);
        assert_eq!(piece_count(16384), 1);
        assert_eq!(piece_count(16385), 2);
        assert_eq!(piece_len(16385, 1), Some(1));
        assert_eq!(piece_len(16384, 1), None);
        assert_eq!(piece_len(100, u32::MAX), None);
    }
}
