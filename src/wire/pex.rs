//! The BEP 11 `ut_pex` message: peers the sender connected to (`added`, `added6`, with one
//! flag byte each in `added.f` / `added6.f`) and peers it lost (`dropped`, `dropped6`), in the
//! compact forms of BEP 23 (6 bytes an IPv4 peer) and BEP 7 (18 bytes an IPv6 peer).
//!
//! [`PexMessage::encode`] and [`PexMessage::decode`] are a matched pair. Decoding is bounded:
//! at most [`MAX_PEX_PEERS`] entries of each list are kept and the rest ignored, entries with
//! port 0 are skipped, and a compact list whose length is not a multiple of its entry size is
//! a [`PexError`], which costs that peer only. A missing or short flag list gives the peers
//! without a flag byte no flags. Unknown keys are ignored.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::bencode::{self, Value};

/// The extension's name in the BEP 10 handshake's `m` dictionary.
pub const UT_PEX: &str = "ut_pex";

/// Most entries of one list (added, added6, dropped, dropped6) we read from one message.
pub const MAX_PEX_PEERS: usize = 200;

/// Flag: the peer prefers encrypted connections.
pub const FLAG_ENCRYPTION: u8 = 0x01;
/// Flag: the peer is a seed (upload only).
pub const FLAG_SEED: u8 = 0x02;
/// Flag: the peer supports uTP.
pub const FLAG_UTP: u8 = 0x04;
/// Flag: the peer supports the holepunch extension.
pub const FLAG_HOLEPUNCH: u8 = 0x08;
/// Flag: the sender reached the peer by an outgoing connection (it is reachable).
pub const FLAG_REACHABLE: u8 = 0x10;

/// One `ut_pex` message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PexMessage {
    /// Peers the sender connected to since its last message, with their flags.
    pub added: Vec<(SocketAddr, u8)>,
    /// Peers the sender disconnected from since its last message.
    pub dropped: Vec<SocketAddr>,
}

/// Why a `ut_pex` payload cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PexError {
    /// The payload is not a bencoded dictionary.
    NotDict,
    /// A compact list is not a byte string of whole entries.
    Compact {
        /// The key, e.g. "added6".
        key: &'static str,
        /// Its length in bytes.
        len: usize,
    },
}

impl fmt::Display for PexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PexError::NotDict => f.write_str("pex message is not a bencoded dictionary"),
            PexError::Compact { key, len } => {
                write!(f, "pex {key} is {len} bytes, not a list of whole compact peers")
            }
        }
    }
}

impl std::error::Error for PexError {}

impl PexMessage {
    /// The payload of the extended message (after the extended id byte). Empty lists are
    /// left out, except `added` and `dropped`, which are always present.
    pub fn encode(&self) -> Vec<u8> {
        let (mut added, mut added_f, mut added6, mut added6_f) = (vec![], vec![], vec![], vec![]);
        for (addr, flags) in &self.added {
            match addr.ip().to_canonical() {
                IpAddr::V4(ip) => {
                    push_compact(&mut added, &ip.octets(), addr.port());
                    added_f.push(*flags);
                }
                IpAddr::V6(ip) => {
                    push_compact(&mut added6, &ip.octets(), addr.port());
                    added6_f.push(*flags);
                }
            }
        }
        let (mut dropped, mut dropped6) = (vec![], vec![]);
        for addr in &self.dropped {
            match addr.ip().to_canonical() {
                IpAddr::V4(ip) => push_compact(&mut dropped, &ip.octets(), addr.port()),
                IpAddr::V6(ip) => push_compact(&mut dropped6, &ip.octets(), addr.port()),
            }
        }
        let mut entries = vec![("added", Value::Bytes(added)), ("dropped", Value::Bytes(dropped))];
        if !added_f.is_empty() {
            entries.push(("added.f", Value::Bytes(added_f)));
        }
        for (key, list) in [("added6", added6), ("added6.f", added6_f), ("dropped6", dropped6)] {
            if !list.is_empty() {
                entries.push((key, Value::Bytes(list)));
            }
        }
        bencode::dict(entries).encode()
    }

    /// Reads a payload; see the module docs for the bounds.
    pub fn decode(payload: &[u8]) -> Result<PexMessage, PexError> {
        let value = bencode::decode(payload).map_err(|_| PexError::NotDict)?;
        if value.as_dict().is_none() {
            return Err(PexError::NotDict);
        }
        let bytes = |key: &'static str| -> Result<&[u8], PexError> {
            match value.get(key) {
                None => Ok(&[]),
                Some(Value::Bytes(b)) => Ok(b.as_slice()),
                Some(_) => Err(PexError::Compact { key, len: 0 }),
            }
        };
        let flags = |key: &'static str| value.get(key).and_then(Value::as_bytes).unwrap_or(&[]);
        let mut message = PexMessage::default();
        for (key, flag_key, v6) in [("added", "added.f", false), ("added6", "added6.f", true)] {
            let peers = compact(key, bytes(key)?, v6)?;
            let flags = flags(flag_key);
            message.added.extend(
                peers.into_iter().map(|(i, addr)| (addr, flags.get(i).copied().unwrap_or(0))),
            );
        }
        for (key, v6) in [("dropped", false), ("dropped6", true)] {
            message.dropped.extend(compact(key, bytes(key)?, v6)?.into_iter().map(|(_, a)| a));
        }
        Ok(message)
    }
}

fn push_compact(out: &mut Vec<u8>, ip: &[u8], port: u16) {
    out.extend_from_slice(ip);
    out.extend_from_slice(&port.to_be_bytes());
}

/// The first [`MAX_PEX_PEERS`] entries of a compact list with their positions, port 0 skipped.
fn compact(
    key: &'static str,
    bytes: &[u8],
    v6: bool,
) -> Result<Vec<(usize, SocketAddr)>, PexError> {
    let size = if v6 { 18 } else { 6 };
    if !bytes.len().is_multiple_of(size) {
        return Err(PexError::Compact { key, len: bytes.len() });
    }
    Ok(bytes
        .chunks_exact(size)
        .take(MAX_PEX_PEERS)
        .enumerate()
        .filter_map(|(i, entry)| {
            let (ip, port) = entry.split_at(size - 2);
            let port = u16::from_be_bytes([port[0], port[1]]);
            let ip = match <[u8; 4]>::try_from(ip) {
                Ok(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
                Err(_) => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(ip).ok()?)),
            };
            (port != 0).then_some((i, SocketAddr::new(ip, port)))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: u8, port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, a], port))
    }

    #[test]
    fn encodes_captured_bytes() {
        let message = PexMessage {
            added: vec![(v4(1, 0x1ae1), FLAG_SEED | FLAG_REACHABLE)],
            dropped: vec![v4(2, 1)],
        };
        let expected: &[u8] =
            b"d5:added6:\x0a\x00\x00\x01\x1a\xe17:added.f1:\x127:dropped6:\x0a\x00\x00\x02\x00\x01e";
        assert_eq!(message.encode(), expected);
    }

    #[test]
    fn round_trips_ipv4_and_ipv6() {
        let message = PexMessage {
            added: vec![
                (v4(1, 6881), FLAG_SEED),
                (SocketAddr::from((Ipv6Addr::LOCALHOST, 7000)), FLAG_REACHABLE),
            ],
            dropped: vec![v4(3, 9), SocketAddr::from((Ipv6Addr::LOCALHOST, 1))],
        };
        assert_eq!(PexMessage::decode(&message.encode()), Ok(message));
        assert_eq!(PexMessage::decode(&PexMessage::default().encode()), Ok(PexMessage::default()));
    }

    #[test]
    fn caps_the_lists_and_skips_port_zero() {
        let mut added = Vec::new();
        for i in 0..5000u32 {
            added.extend_from_slice(&i.to_be_bytes());
            added.extend_from_slice(&[0, 1]);
        }
        added[4..6].copy_from_slice(&[0, 0]);
        let payload = bencode::dict([("added", Value::Bytes(added))]).encode();
        let message = PexMessage::decode(&payload).expect("valid");
        assert_eq!(message.added.len(), MAX_PEX_PEERS - 1);
        assert!(message.added.iter().all(|(addr, flags)| addr.port() == 1 && *flags == 0));
    }

    #[test]
    fn refuses_broken_compact_lists() {
        assert_eq!(
            PexMessage::decode(b"d5:added5:abcdee"),
            Err(PexError::Compact { key: "added", len: 5 })
        );
        assert_eq!(
            PexMessage::decode(b"d8:dropped6i1ee"),
            Err(PexError::Compact { key: "dropped6", len: 0 })
        );
        assert_eq!(PexMessage::decode(b"le"), Err(PexError::NotDict));
        assert_eq!(PexMessage::decode(b"d5:added"), Err(PexError::NotDict));
    }
}
