//! [`WireError`]: why one peer connection cannot go on.
//!
//! Each variant says what was wrong with the bytes or the stream, in lowercase, with the
//! numbers involved. A wire error ends that peer only; there is deliberately no `From` into the
//! fatal [`crate::Error`]. [`WireError::UnknownMessage`] is the one a caller may skip: it
//! carries how many bytes the unknown message took, and [`super::MessageReader`] has already
//! consumed them.

use std::fmt;
use std::io;

use crate::bencode::BencodeError;

/// Why bytes from a peer could not be read as the wire protocol.
#[derive(Debug)]
pub enum WireError {
    /// Reading or writing the stream failed, including read timeouts (`WouldBlock`/`TimedOut`).
    Io(io::Error),
    /// The peer closed the connection (end of stream), possibly in the middle of a message.
    Closed,
    /// A length prefix is larger than [`super::MAX_MESSAGE_LEN`].
    MessageTooLong {
        /// The length prefix as received.
        len: u32,
    },
    /// A fixed-size message has the wrong number of payload bytes.
    PayloadLength {
        /// The message name from the spec, e.g. "have".
        message: &'static str,
        /// Payload bytes received (after the id byte).
        got: u32,
        /// Payload bytes that message must have.
        expected: u32,
    },
    /// A variable-size message is shorter than its fixed fields.
    PayloadTooShort {
        /// The message name from the spec, e.g. "piece".
        message: &'static str,
        /// Payload bytes received (after the id byte).
        got: u32,
        /// The fewest payload bytes that message can have.
        min: u32,
    },
    /// A request, cancel or reject names a block length outside 1..=[`super::MAX_BLOCK_LEN`].
    BlockLength {
        /// The message name from the spec, e.g. "request".
        message: &'static str,
        /// The block length it names.
        length: u32,
    },
    /// A `hashes` message whose hashes are not a whole number of 32-byte hashes.
    HashesNotWhole {
        /// Payload bytes received (after the id byte).
        got: u32,
    },
    /// A message id this codec does not know. The message was well framed and can be skipped.
    UnknownMessage {
        /// The message id byte.
        id: u8,
        /// Bytes the whole message took, length prefix included.
        consumed: usize,
    },
    /// A handshake is not exactly [`super::HANDSHAKE_LEN`] bytes.
    HandshakeLength {
        /// Bytes given.
        got: usize,
    },
    /// The handshake's first byte is not 19, the length of "BitTorrent protocol".
    HandshakeProtocolLength {
        /// The length byte received.
        pstrlen: u8,
    },
    /// The handshake's protocol string is not "BitTorrent protocol".
    HandshakeProtocol,
    /// An extended handshake payload is not valid bencode.
    ExtendedHandshakeBencode(BencodeError),
    /// An extended handshake payload is bencode but not a dictionary.
    ExtendedHandshakeNotDict,
    /// An invariant of this module broke; the text says which.
    Bug(&'static str),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Io(err) => write!(f, "peer connection i/o failed: {err}"),
            WireError::Closed => f.write_str("peer closed the connection"),
            WireError::MessageTooLong { len } => {
                write!(f, "message length {len} exceeds the {}-byte limit", super::MAX_MESSAGE_LEN)
            }
            WireError::PayloadLength { message, got, expected } => {
                write!(f, "{message} message has {got} payload bytes, expected {expected}")
            }
            WireError::PayloadTooShort { message, got, min } => {
                write!(f, "{message} message has {got} payload bytes, expected at least {min}")
            }
            WireError::BlockLength { message, length } => write!(
                f,
                "{message} message names a {length}-byte block, expected 1 to {} bytes",
                super::MAX_BLOCK_LEN
            ),
            WireError::HashesNotWhole { got } => {
                write!(f, "hashes message has {got} payload bytes, not 48 and whole 32-byte hashes")
            }
            WireError::UnknownMessage { id, consumed } => {
                write!(f, "unknown message id {id} ({consumed} bytes)")
            }
            WireError::HandshakeLength { got } => {
                write!(f, "handshake has {got} bytes, expected {}", super::HANDSHAKE_LEN)
            }
            WireError::HandshakeProtocolLength { pstrlen } => {
                write!(f, "handshake protocol string length is {pstrlen}, expected 19")
            }
            WireError::HandshakeProtocol => {
                f.write_str("handshake protocol string is not 'BitTorrent protocol'")
            }
            WireError::ExtendedHandshakeBencode(err) => {
                write!(f, "extended handshake is not valid bencode: {err}")
            }
            WireError::ExtendedHandshakeNotDict => {
                f.write_str("extended handshake is not a bencoded dictionary")
            }
            WireError::Bug(what) => write!(f, "bug in the wire codec: {what}"),
        }
    }
}

impl std::error::Error for WireError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WireError::Io(err) => Some(err),
            WireError::ExtendedHandshakeBencode(err) => Some(err),
            _ => None,
        }
    }
}

impl From<io::Error> for WireError {
    fn from(err: io::Error) -> WireError {
        WireError::Io(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_is_wrong() {
        assert_eq!(
            WireError::MessageTooLong { len: u32::MAX }.to_string(),
            "message length 4294967295 exceeds the 263168-byte limit"
        );
        assert_eq!(
            WireError::PayloadLength { message: "have", got: 5, expected: 4 }.to_string(),
            "have message has 5 payload bytes, expected 4"
        );
        assert_eq!(
            WireError::HandshakeProtocol.to_string(),
            "handshake protocol string is not 'BitTorrent protocol'"
        );
    }
}
