//! The local service discovery announce (BEP 14): an HTTP-like request sent by UDP multicast,
//!
//! ```text
//! BT-SEARCH * HTTP/1.1\r\n
//! Host: 239.192.152.143:6771\r\n
//! Port: 6881\r\n
//! Infohash: 0123456789abcdef0123456789abcdef01234567\r\n
//! cookie: 8c1f0e2a\r\n
//! \r\n
//! \r\n
//! ```
//!
//! [`Announce::encode`] and [`Announce::decode`] are a matched pair. The decoder takes any
//! bytes from the network: header names are case-insensitive, unknown headers are skipped,
//! and anything malformed (no request line, a bad port, a bad or missing info hash, a datagram
//! or header list past its bound) is an [`AnnounceError`], never a panic. At most
//! [`MAX_INFOHASHES`] info hashes are taken from one announce.

use std::fmt;

use crate::types::InfoHash;

/// The request line of every announce.
pub const REQUEST_LINE: &str = "BT-SEARCH * HTTP/1.1";
/// Most info hashes taken from one announce.
pub const MAX_INFOHASHES: usize = 64;
/// Longest datagram decoded.
pub const MAX_DATAGRAM: usize = 8192;
/// Longest announce we send (BEP 14: keep under the path MTU).
pub const MAX_SEND: usize = 1400;
/// Longest cookie kept.
const MAX_COOKIE: usize = 64;

/// One announce: a peer listening on `port` of the sender's address takes part in these
/// torrents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announce {
    /// The peer's listen port.
    pub port: u16,
    /// The torrents, at least one.
    pub info_hashes: Vec<InfoHash>,
    /// The sender's opaque value, by which it knows its own announces.
    pub cookie: Option<String>,
}

/// Why a datagram is not an announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnnounceError {
    /// Longer than [`MAX_DATAGRAM`].
    TooLong(usize),
    /// Not text, or not a `BT-SEARCH` request.
    NotAnnounce,
    /// No `Port` header.
    NoPort,
    /// A `Port` header that is not a port number.
    BadPort(String),
    /// No `Infohash` header.
    NoInfohash,
    /// An `Infohash` header that is not 40 hex digits.
    BadInfohash(String),
}

impl fmt::Display for AnnounceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnnounceError::TooLong(n) => write!(f, "announce of {n} bytes is too long"),
            AnnounceError::NotAnnounce => f.write_str("not a bt-search announce"),
            AnnounceError::NoPort => f.write_str("announce names no port"),
            AnnounceError::BadPort(text) => write!(f, "announce port {text:?} is not a port"),
            AnnounceError::NoInfohash => f.write_str("announce names no info hash"),
            AnnounceError::BadInfohash(text) => {
                write!(f, "announce info hash {text:?} is not 40 hex digits")
            }
        }
    }
}

impl std::error::Error for AnnounceError {}

impl Announce {
    /// The datagrams announcing this to `host` (the multicast group as `ADDR:PORT`, IPv6 in
    /// brackets): one per [`MAX_SEND`] bytes' worth of info hashes.
    pub fn encode(&self, host: &str) -> Vec<Vec<u8>> {
        let head = format!("{REQUEST_LINE}\r\nHost: {host}\r\nPort: {}\r\n", self.port);
        let tail = match &self.cookie {
            Some(cookie) => format!("cookie: {cookie}\r\n\r\n\r\n"),
            None => "\r\n\r\n".to_string(),
        };
        let line = "Infohash: \r\n".len() + 40;
        let per_datagram = (MAX_SEND.saturating_sub(head.len() + tail.len()) / line).max(1);
        self.info_hashes
            .chunks(per_datagram)
            .map(|hashes| {
                let mut text = head.clone();
                for hash in hashes {
                    text.push_str("Infohash: ");
                    text.push_str(&hash.to_hex());
                    text.push_str("\r\n");
                }
                text.push_str(&tail);
                text.into_bytes()
            })
            .collect()
    }

    /// Reads an announce from a datagram.
    pub fn decode(datagram: &[u8]) -> Result<Announce, AnnounceError> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(AnnounceError::TooLong(datagram.len()));
        }
        let text = std::str::from_utf8(datagram).map_err(|_| AnnounceError::NotAnnounce)?;
        let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        if lines.next().map(str::trim) != Some(REQUEST_LINE) {
            return Err(AnnounceError::NotAnnounce);
        }
        let mut port = None;
        let mut info_hashes = Vec::new();
        let mut cookie = None;
        for line in lines {
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            if name.trim().eq_ignore_ascii_case("port") {
                port = match value.parse::<u16>() {
                    Ok(p) if p != 0 => Some(p),
                    _ => return Err(AnnounceError::BadPort(clip(value))),
                };
            } else if name.trim().eq_ignore_ascii_case("infohash") {
                let hash = (value.len() == 40)
                    .then(|| InfoHash::from_hex(value))
                    .flatten()
                    .ok_or_else(|| AnnounceError::BadInfohash(clip(value)))?;
                if info_hashes.len() < MAX_INFOHASHES && !info_hashes.contains(&hash) {
                    info_hashes.push(hash);
                }
            } else if name.trim().eq_ignore_ascii_case("cookie") && value.len() <= MAX_COOKIE {
                cookie = Some(value.to_string());
            }
        }
        let port = port.ok_or(AnnounceError::NoPort)?;
        if info_hashes.is_empty() {
            return Err(AnnounceError::NoInfohash);
        }
        Ok(Announce { port, info_hashes, cookie })
    }
}

/// The start of a value from the network, short enough for an error line.
fn clip(value: &str) -> String {
    value.chars().take(48).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "239.192.152.143:6771";

    fn hash(byte: u8) -> InfoHash {
        InfoHash([byte; 20])
    }

    #[test]
    fn encodes_the_bep_14_layout() {
        let announce =
            Announce { port: 6881, info_hashes: vec![hash(0xab)], cookie: Some("c00k".into()) };
        let datagrams = announce.encode(HOST);
        assert_eq!(datagrams.len(), 1);
        let want = format!(
            "BT-SEARCH * HTTP/1.1\r\nHost: {HOST}\r\nPort: 6881\r\nInfohash: {}\r\n\
             cookie: c00k\r\n\r\n\r\n",
            "ab".repeat(20)
        );
        assert_eq!(String::from_utf8_lossy(&datagrams[0]), want);
    }

    #[test]
    fn round_trips_and_splits_many_hashes_under_the_mtu() {
        let hashes: Vec<InfoHash> = (0..60).map(hash).collect();
        let announce = Announce { port: 1, info_hashes: hashes.clone(), cookie: None };
        let datagrams = announce.encode("[ff15::efc0:988f]:6771");
        assert!(datagrams.len() > 1);
        let mut back = Vec::new();
        for datagram in &datagrams {
            assert!(datagram.len() <= MAX_SEND, "{} bytes", datagram.len());
            let decoded = Announce::decode(datagram).expect("our own announce decodes");
            assert_eq!(decoded.port, 1);
            assert_eq!(decoded.cookie, None);
            back.extend(decoded.info_hashes);
        }
        assert_eq!(back, hashes);
    }

    #[test]
    fn reads_other_clients_spelling() {
        // Bare newlines, other case, extra headers, surrounding spaces.
        let text = format!(
            "BT-SEARCH * HTTP/1.1\nhost: {HOST}\nPORT:  51413 \nX-Other: 1\n\
             INFOHASH: {}\ncookie: x\n\n\n",
            "0A".repeat(20)
        );
        let announce = Announce::decode(text.as_bytes()).expect("an announce");
        assert_eq!(announce.port, 51413);
        assert_eq!(announce.info_hashes, vec![hash(0x0a)]);
        assert_eq!(announce.cookie.as_deref(), Some("x"));
    }

    #[test]
    fn malformed_announces_are_errors() {
        let good_hash = "ab".repeat(20);
        let cases: Vec<(String, AnnounceError)> = vec![
            ("M-SEARCH * HTTP/1.1\r\n\r\n".into(), AnnounceError::NotAnnounce),
            (
                format!("BT-SEARCH * HTTP/1.1\r\nInfohash: {good_hash}\r\n\r\n"),
                AnnounceError::NoPort,
            ),
            (
                format!("BT-SEARCH * HTTP/1.1\r\nPort: 0\r\nInfohash: {good_hash}\r\n\r\n"),
                AnnounceError::BadPort("0".into()),
            ),
            (
                format!("BT-SEARCH * HTTP/1.1\r\nPort: 70000\r\nInfohash: {good_hash}\r\n\r\n"),
                AnnounceError::BadPort("70000".into()),
            ),
            ("BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n\r\n".into(), AnnounceError::NoInfohash),
            (
                "BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: xyz\r\n\r\n".into(),
                AnnounceError::BadInfohash("xyz".into()),
            ),
        ];
        for (text, error) in cases {
            assert_eq!(Announce::decode(text.as_bytes()), Err(error), "{text:?}");
        }
        assert_eq!(Announce::decode(&[0xff, 0xfe]), Err(AnnounceError::NotAnnounce));
        let long = vec![b'a'; MAX_DATAGRAM + 1];
        assert_eq!(Announce::decode(&long), Err(AnnounceError::TooLong(MAX_DATAGRAM + 1)));
    }

    #[test]
    fn info_hashes_are_bounded() {
        let mut text = "BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n".to_string();
        for n in 0..100u32 {
            text.push_str(&format!("Infohash: {n:040x}\r\n"));
        }
        let announce = Announce::decode(text.as_bytes()).expect("an announce");
        assert_eq!(announce.info_hashes.len(), MAX_INFOHASHES);
    }
}
