//! Small value types that carry meaning: the info hash, the peer id and piece indexes.
//!
//! These are plain newtypes. They own no I/O. A [`PieceIndex`] is only a number here; the
//! `Layout` is what says whether it names a real piece of a torrent.

use std::fmt;

/// The SHA-1 of a torrent's raw bencoded `info` dictionary (BEP 3), 20 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

impl InfoHash {
    /// The 40-character lowercase hex form used in magnet links and on screen.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Parses 40 hex digits (either case).
    pub fn from_hex(text: &str) -> Option<InfoHash> {
        let bytes = unhex(text)?;
        Some(InfoHash(bytes.try_into().ok()?))
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({})", self.to_hex())
    }
}

/// The SHA-256 of a v2 or hybrid torrent's raw bencoded `info` dictionary (BEP 52), 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHashV2(pub [u8; 32]);

impl InfoHashV2 {
    /// The 64-character lowercase hex form.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(text: &str) -> Option<InfoHashV2> {
        let bytes = unhex(text)?;
        Some(InfoHashV2(bytes.try_into().ok()?))
    }

    /// The first 20 bytes: what stands for a v2-only torrent where 20 bytes fit (peer
    /// handshakes, tracker announces, the DHT).
    pub fn truncated(&self) -> InfoHash {
        let mut out = [0u8; 20];
        out.copy_from_slice(&self.0[..20]);
        InfoHash(out)
    }
}

impl fmt::Display for InfoHashV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHashV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHashV2({})", self.to_hex())
    }
}

/// A peer's 20-byte id. Ours follow BEP 20's Azureus style: `-MT0100-` and 12 random bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerId(pub [u8; 20]);

/// The client prefix of our peer ids: `MT`, version 0.1.0.0.
pub const PEER_ID_PREFIX: &[u8; 8] = b"-MT0100-";

impl PeerId {
    /// A fresh random id with our client prefix.
    pub fn generate() -> PeerId {
        let mut id = [0u8; 20];
        id[..8].copy_from_slice(PEER_ID_PREFIX);
        for byte in &mut id[8..] {
            // Printable characters keep the id readable in tracker logs.
            *byte = fastrand::alphanumeric() as u8;
        }
        PeerId(id)
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({})", String::from_utf8_lossy(&self.0))
    }
}

/// The zero-based index of a piece.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct PieceIndex(pub u32);

impl PieceIndex {
    /// The index as a `usize`, for indexing vectors.
    pub fn get(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for PieceIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Lowercase hex of any bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Bytes from hex digits; `None` for odd length or a non-hex character.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok());
    text.chunks(2).map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?)).collect()
}

/// Percent-encodes bytes for a URL query (RFC 3986 unreserved characters stay as they are).
pub fn url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push_str(&hex(&[byte]).to_uppercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let hash = InfoHash([0xab; 20]);
        assert_eq!(InfoHash::from_hex(&hash.to_hex()), Some(hash));
        assert_eq!(InfoHash::from_hex("zz"), None);
    }

    #[test]
    fn peer_id_has_client_prefix() {
        let id = PeerId::generate();
        assert_eq!(&id.0[..8], PEER_ID_PREFIX);
        assert_ne!(id.0, PeerId::generate().0);
    }

    #[test]
    fn url_encoding_keeps_unreserved() {
        assert_eq!(url_encode(b"a-Z_.~ \x00\xff"), "a-Z_.~%20%00%FF");
    }
}
