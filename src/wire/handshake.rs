//! The BEP 3 handshake: the first 68 bytes each side sends.
//!
//! Layout: `pstrlen` (19), `pstr` ("BitTorrent protocol"), 8 reserved bytes, the 20-byte info
//! hash, the 20-byte peer id. This file owns that layout and the meaning of the reserved bits
//! we use: BEP 10 extension protocol (`reserved[5] & 0x10`) and BEP 6 fast extension
//! (`reserved[7] & 0x04`), the BEP 5 DHT bit (`reserved[7] & 0x01`), set only when a DHT
//! node runs on our listen port ([`Handshake::with_dht`]), and the BEP 52 v2 bit
//! (`reserved[7] & 0x10`), set when the torrent has v2 metadata ([`Handshake::with_v2`]):
//! libtorrent drops a peer on a v2-only torrent whose handshake lacks it. Deciding whether a peer's info hash is one we
//! serve is the caller's business.

use crate::types::{InfoHash, PeerId};

use super::WireError;

/// Bytes in a handshake.
pub const HANDSHAKE_LEN: usize = 68;

/// The protocol string that follows the length byte.
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";

/// `reserved[5]` bit for the BEP 10 extension protocol.
const EXTENSION_BIT: u8 = 0x10;
/// `reserved[7]` bit for the BEP 6 fast extension.
const FAST_BIT: u8 = 0x04;
/// `reserved[7]` bit for the BEP 5 DHT (the peer answers `port` messages).
const DHT_BIT: u8 = 0x01;
/// `reserved[7]` bit for BitTorrent v2 (BEP 52): the sender understands v2 torrents and the
/// hash messages.
const V2_BIT: u8 = 0x10;

/// A decoded or to-be-sent handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// Extension bits; see [`Handshake::supports_extensions`] and [`Handshake::supports_fast`].
    pub reserved: [u8; 8],
    /// The torrent this connection is about.
    pub info_hash: InfoHash,
    /// The sender's peer id.
    pub peer_id: PeerId,
}

impl Handshake {
    /// Our handshake: announces the extension protocol and the fast extension, not DHT.
    pub fn new(info_hash: InfoHash, peer_id: PeerId) -> Handshake {
        let mut reserved = [0u8; 8];
        reserved[5] |= EXTENSION_BIT;
        reserved[7] |= FAST_BIT;
        Handshake { reserved, info_hash, peer_id }
    }

    /// Whether the sender speaks the BEP 10 extension protocol (message id 20).
    pub fn supports_extensions(&self) -> bool {
        self.reserved[5] & EXTENSION_BIT != 0
    }

    /// The same handshake, saying whether a DHT node runs on our port.
    pub fn with_dht(mut self, dht: bool) -> Handshake {
        if dht {
            self.reserved[7] |= DHT_BIT;
        } else {
            self.reserved[7] &= !DHT_BIT;
        }
        self
    }

    /// The same handshake, saying whether we speak BitTorrent v2 for this torrent.
    pub fn with_v2(mut self, v2: bool) -> Handshake {
        if v2 {
            self.reserved[7] |= V2_BIT;
        } else {
            self.reserved[7] &= !V2_BIT;
        }
        self
    }

    /// Whether the sender speaks BitTorrent v2 (BEP 52).
    pub fn supports_v2(&self) -> bool {
        self.reserved[7] & V2_BIT != 0
    }

    /// Whether the sender runs a DHT node (BEP 5) and so sends and takes `port` messages.
    pub fn supports_dht(&self) -> bool {
        self.reserved[7] & DHT_BIT != 0
    }

    /// Whether the sender speaks the BEP 6 fast extension. It is on only if both sides say so.
    pub fn supports_fast(&self) -> bool {
        self.reserved[7] & FAST_BIT != 0
    }

    /// The 68 bytes to send.
    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        out[0] = 19;
        out[1..20].copy_from_slice(PROTOCOL);
        out[20..28].copy_from_slice(&self.reserved);
        out[28..48].copy_from_slice(&self.info_hash.0);
        out[48..68].copy_from_slice(&self.peer_id.0);
        out
    }

    /// Reads a handshake from exactly [`HANDSHAKE_LEN`] bytes.
    pub fn decode(bytes: &[u8]) -> Result<Handshake, WireError> {
        let bytes: &[u8; HANDSHAKE_LEN] =
            bytes.try_into().map_err(|_| WireError::HandshakeLength { got: bytes.len() })?;
        check_prefix(bytes)?;
        let mut reserved = [0u8; 8];
        reserved.copy_from_slice(&bytes[20..28]);
        let mut info_hash = [0u8; 20];
        info_hash.copy_from_slice(&bytes[28..48]);
        let mut peer_id = [0u8; 20];
        peer_id.copy_from_slice(&bytes[48..68]);
        Ok(Handshake { reserved, info_hash: InfoHash(info_hash), peer_id: PeerId(peer_id) })
    }
}

/// Checks as much of the length byte and protocol string as `bytes` holds, so a reader can
/// turn away something that is not BitTorrent before all 68 bytes arrive.
pub(super) fn check_prefix(bytes: &[u8]) -> Result<(), WireError> {
    if let Some(&pstrlen) = bytes.first()
        && pstrlen != 19
    {
        return Err(WireError::HandshakeProtocolLength { pstrlen });
    }
    let got = bytes.get(1..).unwrap_or_default();
    let n = got.len().min(PROTOCOL.len());
    if got[..n] != PROTOCOL[..n] {
        return Err(WireError::HandshakeProtocol);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Handshake {
        Handshake::new(InfoHash([0xaa; 20]), PeerId(*b"-MT0100-abcdefghijkl"))
    }

    /// The exact bytes of [`sample`], built by hand from BEP 3, BEP 6 and BEP 10.
    fn sample_bytes() -> Vec<u8> {
        let mut bytes = vec![19];
        bytes.extend_from_slice(b"BitTorrent protocol");
        bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0x04]);
        bytes.extend_from_slice(&[0xaa; 20]);
        bytes.extend_from_slice(b"-MT0100-abcdefghijkl");
        bytes
    }

    #[test]
    fn encodes_captured_bytes() {
        assert_eq!(sample().encode().to_vec(), sample_bytes());
    }

    #[test]
    fn decodes_captured_bytes() {
        assert_eq!(Handshake::decode(&sample_bytes()).ok(), Some(sample()));
    }

    #[test]
    fn new_sets_extension_and_fast_bits_but_not_dht() {
        let handshake = sample();
        assert!(handshake.supports_extensions());
        assert!(handshake.supports_fast());
        assert_eq!(handshake.reserved[7] & 0x01, 0);
        assert!(!handshake.supports_dht());
    }

    #[test]
    fn the_dht_bit_is_set_only_when_asked() {
        let with = sample().with_dht(true);
        assert_eq!(with.reserved[7], 0x05, "fast and dht");
        assert!(with.supports_dht() && with.supports_fast());
        assert_eq!(with.with_dht(false), sample());
    }

    #[test]
    fn the_v2_bit_is_bit_4_of_the_last_byte() {
        let with = sample().with_v2(true);
        assert_eq!(with.encode()[27], 0x14, "fast and v2");
        assert!(with.supports_v2() && !sample().supports_v2());
        assert_eq!(with.with_v2(false), sample());
    }

    #[test]
    fn plain_peer_supports_nothing() {
        let mut bytes = sample_bytes();
        bytes[20..28].fill(0);
        let handshake = Handshake::decode(&bytes).expect("valid handshake");
        assert!(!handshake.supports_extensions());
        assert!(!handshake.supports_fast());
    }

    #[test]
    fn rejects_wrong_length() {
        let bytes = sample_bytes();
        for len in [0, 67, 69] {
            let mut input = bytes.clone();
            input.resize(len, 0);
            assert!(matches!(
                Handshake::decode(&input),
                Err(WireError::HandshakeLength { got }) if got == len
            ));
        }
    }

    #[test]
    fn rejects_wrong_protocol_length_byte() {
        let mut bytes = sample_bytes();
        bytes[0] = 20;
        assert!(matches!(
            Handshake::decode(&bytes),
            Err(WireError::HandshakeProtocolLength { pstrlen: 20 })
        ));
    }

    #[test]
    fn rejects_wrong_protocol_string() {
        let mut bytes = sample_bytes();
        bytes[1] = b'b';
        let err = Handshake::decode(&bytes).expect_err("wrong protocol");
        assert_eq!(err.to_string(), "handshake protocol string is not 'BitTorrent protocol'");
    }

    #[test]
    fn prefix_check_accepts_every_valid_prefix_and_spots_http() {
        let bytes = sample_bytes();
        for end in 0..=bytes.len() {
            assert!(check_prefix(&bytes[..end]).is_ok());
        }
        assert!(check_prefix(b"GET / HTTP/1.1").is_err());
        assert!(check_prefix(b"\x13BitTorrent pro").is_ok());
        assert!(check_prefix(b"\x13BitTorrent Pro").is_err());
    }
}
