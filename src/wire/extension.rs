//! The BEP 10 extended handshake: the bencoded dictionary sent as extended message id 0.
//!
//! This file owns the keys we read and write: `m` (extension name → the id the sender wants
//! to receive that extension's messages on; 0 means disabled), `v` (client name and version),
//! `reqq` (how many outstanding requests the sender will queue), `p` (the sender's listen
//! port), `metadata_size` (BEP 9: the size of the sender's `info` dictionary) and `yourip`
//! (the address the sender sees us at, 4 or 16 bytes). Decoding is lenient
//! the way peers need it to be: unknown keys, and known keys with the wrong type or an
//! out-of-range value, are ignored. Only a payload that is not a bencoded dictionary is an
//! error. Which extensions we offer, and what their messages mean, belongs to the peer layer.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::bencode::{self, Value};

use super::{Message, WireError};

/// The extended message id of the extended handshake.
pub const EXTENDED_HANDSHAKE_ID: u8 = 0;

/// The contents of an extended handshake. Every field is optional on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtendedHandshake {
    /// `m`: extension name → extended message id the sender receives it on (0 = disabled).
    pub extensions: BTreeMap<String, u8>,
    /// `v`: client name and version, e.g. "mt 0.1.0".
    pub client: Option<String>,
    /// `reqq`: how many outstanding requests the sender queues before dropping.
    pub reqq: Option<u32>,
    /// `p`: the sender's TCP listen port.
    pub listen_port: Option<u16>,
    /// `yourip`: the receiver's address as the sender sees it.
    pub your_ip: Option<IpAddr>,
    /// `metadata_size` (BEP 9): bytes of the sender's `info` dictionary, when it has it.
    pub metadata_size: Option<u64>,
}

impl ExtendedHandshake {
    /// The bencoded payload (after the extended id byte). Absent fields are left out; `m` is
    /// always present, as BEP 10 expects.
    pub fn encode(&self) -> Vec<u8> {
        let m = Value::Dict(
            self.extensions
                .iter()
                .map(|(name, &id)| (name.as_bytes().to_vec(), Value::Int(i64::from(id))))
                .collect(),
        );
        let mut entries = vec![("m", m)];
        if let Some(client) = &self.client {
            entries.push(("v", Value::bytes(client)));
        }
        if let Some(reqq) = self.reqq {
            entries.push(("reqq", Value::Int(i64::from(reqq))));
        }
        if let Some(port) = self.listen_port {
            entries.push(("p", Value::Int(i64::from(port))));
        }
        if let Some(size) = self.metadata_size.and_then(|n| i64::try_from(n).ok()) {
            entries.push(("metadata_size", Value::Int(size)));
        }
        match self.your_ip {
            Some(IpAddr::V4(ip)) => entries.push(("yourip", Value::bytes(ip.octets()))),
            Some(IpAddr::V6(ip)) => entries.push(("yourip", Value::bytes(ip.octets()))),
            None => {}
        }
        bencode::dict(entries).encode()
    }

    /// This handshake as a ready-to-send [`Message::Extended`] with id 0.
    pub fn to_message(&self) -> Message {
        Message::Extended { id: EXTENDED_HANDSHAKE_ID, payload: self.encode() }
    }

    /// Reads a payload; see the module docs for what is ignored.
    pub fn decode(payload: &[u8]) -> Result<ExtendedHandshake, WireError> {
        let value = bencode::decode(payload).map_err(WireError::ExtendedHandshakeBencode)?;
        if value.as_dict().is_none() {
            return Err(WireError::ExtendedHandshakeNotDict);
        }
        let extensions = value
            .get("m")
            .and_then(Value::as_dict)
            .map(|m| {
                m.iter()
                    .filter_map(|(name, id)| {
                        let name = String::from_utf8(name.clone()).ok()?;
                        let id = u8::try_from(id.as_int()?).ok()?;
                        Some((name, id))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let int = |key| value.get(key).and_then(Value::as_int);
        Ok(ExtendedHandshake {
            extensions,
            client: value
                .get("v")
                .and_then(Value::as_bytes)
                .map(|v| String::from_utf8_lossy(v).into_owned()),
            reqq: int("reqq").and_then(|n| u32::try_from(n).ok()),
            listen_port: int("p").and_then(|n| u16::try_from(n).ok()).filter(|&p| p != 0),
            your_ip: value.get("yourip").and_then(Value::as_bytes).and_then(ip_from_bytes),
            metadata_size: int("metadata_size").and_then(|n| u64::try_from(n).ok()),
        })
    }
}

/// A 4-byte IPv4 or 16-byte IPv6 address in network order.
fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        Some(IpAddr::V4(Ipv4Addr::from(v4)))
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        Some(IpAddr::V6(Ipv6Addr::from(v6)))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ExtendedHandshake {
        ExtendedHandshake {
            extensions: BTreeMap::from([("ut_metadata".to_string(), 3), ("ut_pex".to_string(), 1)]),
            client: Some("mt 0.1.0".to_string()),
            reqq: Some(250),
            listen_port: Some(6881),
            your_ip: Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))),
            metadata_size: None,
        }
    }

    #[test]
    fn encodes_captured_bytes() {
        let expected: &[u8] = b"d1:md11:ut_metadatai3e6:ut_pexi1ee1:pi6881e4:reqqi250e\
            1:v8:mt 0.1.06:yourip4:\x7f\x00\x00\x01e";
        assert_eq!(sample().encode(), expected);
    }

    #[test]
    fn round_trips() {
        let handshake = sample();
        assert_eq!(ExtendedHandshake::decode(&handshake.encode()).ok(), Some(handshake));
    }

    #[test]
    fn round_trips_ipv6_and_empty() {
        let handshake = ExtendedHandshake {
            your_ip: Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            ..ExtendedHandshake::default()
        };
        assert_eq!(ExtendedHandshake::decode(&handshake.encode()).ok(), Some(handshake));
        let empty = ExtendedHandshake::default();
        assert_eq!(empty.encode(), b"d1:mdee");
        assert_eq!(ExtendedHandshake::decode(b"de").ok(), Some(empty));
    }

    #[test]
    fn to_message_uses_extended_id_zero() {
        let message = ExtendedHandshake::default().to_message();
        assert_eq!(message, Message::Extended { id: 0, payload: b"d1:mdee".to_vec() });
    }

    #[test]
    fn ignores_unknown_keys_and_wrong_types() {
        let payload: &[u8] = b"d1:ei1e1:md6:ut_pexi300e11:lt_donthavei7e3:badl1:xe8:disabledi0ee\
            13:metadata_sizei-5e1:pi-1e4:reqq3:abc1:vi5e6:yourip3:abce";
        let handshake = ExtendedHandshake::decode(payload).expect("tolerated");
        assert_eq!(
            handshake.extensions,
            BTreeMap::from([("disabled".to_string(), 0), ("lt_donthave".to_string(), 7)])
        );
        assert_eq!(handshake.client, None);
        assert_eq!(handshake.reqq, None);
        assert_eq!(handshake.listen_port, None);
        assert_eq!(handshake.your_ip, None);
        assert_eq!(handshake.metadata_size, None);
    }

    #[test]
    fn ignores_m_that_is_not_a_dict_and_port_zero() {
        let handshake = ExtendedHandshake::decode(b"d1:mi5e1:pi0ee").expect("tolerated");
        assert_eq!(handshake, ExtendedHandshake::default());
    }

    #[test]
    fn keeps_a_client_name_that_is_not_utf8() {
        let handshake = ExtendedHandshake::decode(b"d1:v3:a\xffbe").expect("tolerated");
        assert_eq!(handshake.client.as_deref(), Some("a\u{fffd}b"));
    }

    #[test]
    fn rejects_a_payload_that_is_not_a_dict() {
        assert!(matches!(
            ExtendedHandshake::decode(b"li1ee"),
            Err(WireError::ExtendedHandshakeNotDict)
        ));
        assert!(matches!(
            ExtendedHandshake::decode(b"d1:m"),
            Err(WireError::ExtendedHandshakeBencode(_))
        ));
        assert!(ExtendedHandshake::decode(b"").is_err());
        assert!(ExtendedHandshake::decode(b"dee").is_err());
    }
}
