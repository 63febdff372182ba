//! uTP (BEP 29) packet headers, and the responder that turns uTP connections away.
//!
//! `mt` speaks BitTorrent over TCP only. Clients such as libtorrent dial uTP first and fall
//! back to TCP only when that attempt fails; if nothing answers, the attempt fails by timing
//! out, seconds later, once for every new peer. So the listen port's UDP socket answers each
//! `ST_SYN` at once with an `ST_RESET` (the peer then dials TCP straight away).
//!
//! The reset names the connection as the dialler knows it: the SYN's `connection_id` (the id
//! the dialler receives on), with `ack_nr` set to the SYN's `seq_nr`. No other packet is
//! answered: we never accept a uTP connection, so any other packet is stray, and answering a
//! reset with a reset could loop between two peers.
//!
//! This module is pure: it decodes and encodes the 20-byte header and decides on a reply. The
//! socket belongs to [`crate::udp`].

use std::fmt;

/// The uTP version this header layout belongs to.
pub const VERSION: u8 = 1;

/// Length of the fixed header; extensions and payload follow it.
pub const HEADER_LEN: usize = 20;

/// What a packet is (the high nibble of its first byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketType {
    /// `ST_DATA`: carries payload.
    Data,
    /// `ST_FIN`: the sender's last packet.
    Fin,
    /// `ST_STATE`: an acknowledgement without payload.
    State,
    /// `ST_RESET`: ends a connection at once.
    Reset,
    /// `ST_SYN`: opens a connection.
    Syn,
}

impl PacketType {
    fn from_nibble(value: u8) -> Option<PacketType> {
        Some(match value {
            0 => PacketType::Data,
            1 => PacketType::Fin,
            2 => PacketType::State,
            3 => PacketType::Reset,
            4 => PacketType::Syn,
            _ => return None,
        })
    }

    fn nibble(self) -> u8 {
        match self {
            PacketType::Data => 0,
            PacketType::Fin => 1,
            PacketType::State => 2,
            PacketType::Reset => 3,
            PacketType::Syn => 4,
        }
    }
}

/// The fixed part of a uTP packet; all fields are big-endian on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The packet's type.
    pub packet_type: PacketType,
    /// The type of the first extension header, 0 for none.
    pub extension: u8,
    /// The connection this packet belongs to, as the receiver knows it.
    pub connection_id: u16,
    /// The sender's clock when it sent the packet, microseconds (wrapping).
    pub timestamp_us: u32,
    /// The sender's last measured one-way delay, microseconds.
    pub timestamp_difference_us: u32,
    /// The sender's receive window, bytes.
    pub wnd_size: u32,
    /// This packet's sequence number.
    pub seq_nr: u16,
    /// The last sequence number the sender received from us.
    pub ack_nr: u16,
}

/// Why bytes are not a uTP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer than [`HEADER_LEN`] bytes.
    Short(usize),
    /// A version other than [`VERSION`].
    Version(u8),
    /// A packet type outside 0–4.
    Type(u8),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Short(len) => {
                write!(f, "utp packet of {len} bytes is shorter than its {HEADER_LEN}-byte header")
            }
            HeaderError::Version(version) => write!(f, "utp packet has unknown version {version}"),
            HeaderError::Type(kind) => write!(f, "utp packet has unknown type {kind}"),
        }
    }
}

impl std::error::Error for HeaderError {}

impl Header {
    /// Reads the header at the start of `packet`; what follows it is not looked at.
    pub fn decode(packet: &[u8]) -> Result<Header, HeaderError> {
        let Some(bytes) = packet.first_chunk::<HEADER_LEN>() else {
            return Err(HeaderError::Short(packet.len()));
        };
        let version = bytes[0] & 0x0f;
        if version != VERSION {
            return Err(HeaderError::Version(version));
        }
        let kind = bytes[0] >> 4;
        let packet_type = PacketType::from_nibble(kind).ok_or(HeaderError::Type(kind))?;
        let u16_at = |at: usize| u16::from_be_bytes([bytes[at], bytes[at + 1]]);
        let u32_at = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        Ok(Header {
            packet_type,
            extension: bytes[1],
            connection_id: u16_at(2),
            timestamp_us: u32_at(4),
            timestamp_difference_us: u32_at(8),
            wnd_size: u32_at(12),
            seq_nr: u16_at(16),
            ack_nr: u16_at(18),
        })
    }

    /// The header's 20 bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = (self.packet_type.nibble() << 4) | VERSION;
        out[1] = self.extension;
        out[2..4].copy_from_slice(&self.connection_id.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp_us.to_be_bytes());
        out[8..12].copy_from_slice(&self.timestamp_difference_us.to_be_bytes());
        out[12..16].copy_from_slice(&self.wnd_size.to_be_bytes());
        out[16..18].copy_from_slice(&self.seq_nr.to_be_bytes());
        out[18..20].copy_from_slice(&self.ack_nr.to_be_bytes());
        out
    }
}

/// True when `datagram` looks like uTP: long enough, version 1, a known type. Used to route
/// datagrams on a shared socket; a bencoded KRPC message (`d…`) never passes.
pub fn looks_like_utp(datagram: &[u8]) -> bool {
    Header::decode(datagram).is_ok()
}

/// The reply to a uTP packet that arrived at `now_us` (our clock, microseconds): an
/// `ST_RESET` for an `ST_SYN`, nothing for anything else.
///
/// `seq_nr` is the reset's own sequence number; it starts nothing, so any value does.
pub fn reply(packet: &[u8], now_us: u32, seq_nr: u16) -> Option<[u8; HEADER_LEN]> {
    let syn = Header::decode(packet).ok()?;
    if syn.packet_type != PacketType::Syn {
        return None;
    }
    let reset = Header {
        packet_type: PacketType::Reset,
        extension: 0,
        connection_id: syn.connection_id,
        timestamp_us: now_us,
        timestamp_difference_us: now_us.wrapping_sub(syn.timestamp_us),
        wnd_size: 0,
        seq_nr,
        ack_nr: syn.seq_nr,
    };
    Some(reset.encode())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `ST_SYN` as libtorrent 2.0.8 sent it on loopback: connection id 0xa09d, seq_nr
    /// 0x0c94, no extension, window 0.
    const LIBTORRENT_SYN: [u8; HEADER_LEN] = [
        0x41, 0x00, 0xa0, 0x9d, 0xfc, 0xde, 0xe6, 0x9b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x0c, 0x94, 0x00, 0x00,
    ];

    #[test]
    fn decodes_a_captured_syn() {
        let header = Header::decode(&LIBTORRENT_SYN).expect("a valid header");
        assert_eq!(header.packet_type, PacketType::Syn);
        assert_eq!(header.extension, 0);
        assert_eq!(header.connection_id, 0xa09d);
        assert_eq!(header.timestamp_us, 0xfcde_e69b);
        assert_eq!(header.timestamp_difference_us, 0);
        assert_eq!(header.wnd_size, 0);
        assert_eq!(header.seq_nr, 0x0c94);
        assert_eq!(header.ack_nr, 0);
    }

    #[test]
    fn encode_then_decode_gives_the_header_back() {
        let header = Header::decode(&LIBTORRENT_SYN).expect("a valid header");
        assert_eq!(header.encode(), LIBTORRENT_SYN);
        for packet_type in [
            PacketType::Data,
            PacketType::Fin,
            PacketType::State,
            PacketType::Reset,
            PacketType::Syn,
        ] {
            let header = Header { packet_type, ..header };
            assert_eq!(Header::decode(&header.encode()), Ok(header));
        }
    }

    #[test]
    fn a_syn_is_answered_with_a_reset_for_its_connection() {
        // Our clock reads 0x100 µs past the SYN's timestamp.
        let reset = reply(&LIBTORRENT_SYN, 0xfcde_e79b, 77).expect("a reply to a syn");
        let want: [u8; HEADER_LEN] = [
            0x31, 0x00, 0xa0, 0x9d, 0xfc, 0xde, 0xe7, 0x9b, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x4d, 0x0c, 0x94,
        ];
        assert_eq!(reset, want);
        let header = Header::decode(&reset).expect("the reset decodes");
        assert_eq!(header.packet_type, PacketType::Reset);
        assert_eq!(header.connection_id, 0xa09d);
        assert_eq!(header.ack_nr, 0x0c94);
    }

    #[test]
    fn nothing_but_a_syn_is_answered() {
        for kind in [PacketType::Data, PacketType::Fin, PacketType::State, PacketType::Reset] {
            let mut packet = LIBTORRENT_SYN;
            packet[0] = (kind.nibble() << 4) | VERSION;
            assert_eq!(reply(&packet, 1, 1), None, "{kind:?}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_utp_header() {
        assert_eq!(Header::decode(&LIBTORRENT_SYN[..19]), Err(HeaderError::Short(19)));
        let mut version_2 = LIBTORRENT_SYN;
        version_2[0] = 0x42;
        assert_eq!(Header::decode(&version_2), Err(HeaderError::Version(2)));
        let mut type_5 = LIBTORRENT_SYN;
        type_5[0] = 0x51;
        assert_eq!(Header::decode(&type_5), Err(HeaderError::Type(5)));
        // A KRPC query is bencode: 'd' is 0x64, version nibble 4.
        let krpc = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
        assert!(!looks_like_utp(krpc));
        assert_eq!(reply(krpc, 1, 1), None);
    }
}
