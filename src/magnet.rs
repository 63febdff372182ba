//! Magnet links (BEP 9, 52): parse and print
//! `magnet:?xt=urn:btih:…&xt=urn:btmh:1220…&dn=…&tr=…&x.pe=…&ws=…`.
//!
//! This module owns the link's text and nothing else: it opens no sockets and resolves no
//! host names. What a link names is a [`MagnetLink`]: the v1 info hash (`btih`, 40 hex or 32
//! base32 characters) and/or the v2 one (`btmh`, a SHA-256 multihash: `1220` and 64 hex
//! digits), an optional display name, every tracker (`tr`), every peer address (`x.pe`,
//! `HOST:PORT` with the port checked) and every web seed (`ws`). Keys may carry a BEP 9 index
//! suffix (`tr.1`); unknown keys are ignored. Values are percent-decoded (a `+` in `dn` is a
//! space) and must then be UTF-8.
//!
//! Invariants: a parsed link has at most one info hash of each version, and at least one; every peer has a host and a port
//! from 1 to 65535; [`MagnetLink::to_uri`] and [`MagnetLink::parse`] are a matched pair.
//! Anything malformed is one [`MagnetError`] naming what is wrong; a link longer than
//! [`MAX_LINK_LEN`] is refused before it is read.

use std::fmt;

use crate::types::{InfoHash, InfoHashV2, url_encode};

/// Longest magnet link we read (64 KiB): room for hundreds of trackers and peers.
pub const MAX_LINK_LEN: usize = 64 * 1024;

/// What a magnet link says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MagnetLink {
    /// `xt=urn:btih:`: the torrent's v1 info hash; for a link with only a v2 hash, that
    /// hash truncated to 20 bytes (what stands for the torrent on the wire).
    pub info_hash: InfoHash,
    /// `xt=urn:btmh:1220…`: the torrent's v2 info hash.
    pub info_hash_v2: Option<InfoHashV2>,
    /// True when the link has a `btih` (v1) info hash.
    pub has_v1: bool,
    /// `dn`: the display name, a suggestion for the torrent's name.
    pub name: Option<String>,
    /// `tr`: tracker URLs, in the order given, without repeats.
    pub trackers: Vec<String>,
    /// `x.pe`: peer addresses, `HOST:PORT`, in the order given, without repeats.
    pub peers: Vec<String>,
    /// `ws`: web seed URLs (BEP 19), in the order given, without repeats.
    pub web_seeds: Vec<String>,
    /// `so`: the files to download (BEP 53), as written (`0,2,4-6`); read by
    /// [`crate::selection`] once the torrent's files are known.
    pub select_only: Option<String>,
}

/// Why a magnet link cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MagnetError {
    /// The text does not start with `magnet:?`.
    NotMagnet,
    /// The link is longer than [`MAX_LINK_LEN`].
    TooLong(usize),
    /// There is no `xt=urn:btih:` parameter.
    MissingInfoHash,
    /// An `xt=urn:btih:` value is neither 40 hex nor 32 base32 characters.
    BadInfoHash(String),
    /// Two `xt=urn:btih:` parameters name different torrents.
    TwoInfoHashes,
    /// A value has a broken percent escape or is not UTF-8 once decoded.
    BadEscape(String),
    /// An `x.pe` value is not `HOST:PORT` with a port from 1 to 65535.
    BadPeer(String),
}

impl fmt::Display for MagnetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MagnetError::NotMagnet => f.write_str("it does not start with \"magnet:?\""),
            MagnetError::TooLong(len) => {
                write!(f, "it is {len} bytes long, over the {MAX_LINK_LEN}-byte limit")
            }
            MagnetError::MissingInfoHash => {
                f.write_str("it has no xt=urn:btih: or xt=urn:btmh: info hash")
            }
            MagnetError::BadInfoHash(value) => write!(
                f,
                "info hash {value:?} is neither 40 hex nor 32 base32 characters, \
                 nor 1220 and 64 hex"
            ),
            MagnetError::TwoInfoHashes => f.write_str("it names two different info hashes"),
            MagnetError::BadEscape(key) => {
                write!(f, "the {key} value has a bad percent escape or is not UTF-8")
            }
            MagnetError::BadPeer(value) => {
                write!(f, "peer {value:?} is not HOST:PORT with a port from 1 to 65535")
            }
        }
    }
}

impl std::error::Error for MagnetError {}

impl MagnetLink {
    /// A link naming only an info hash.
    pub fn new(info_hash: InfoHash) -> MagnetLink {
        MagnetLink {
            info_hash,
            info_hash_v2: None,
            has_v1: true,
            name: None,
            trackers: Vec::new(),
            peers: Vec::new(),
            web_seeds: Vec::new(),
            select_only: None,
        }
    }

    /// True when `text` looks like a magnet link (so a command should not read it as a path).
    pub fn looks_like(text: &str) -> bool {
        text.get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case("magnet:"))
    }

    /// Reads a link; see the module docs for the rules.
    pub fn parse(text: &str) -> Result<MagnetLink, MagnetError> {
        if text.len() > MAX_LINK_LEN {
            return Err(MagnetError::TooLong(text.len()));
        }
        let query = text
            .get(..8)
            .filter(|head| head.eq_ignore_ascii_case("magnet:?"))
            .and_then(|_| text.get(8..))
            .ok_or(MagnetError::NotMagnet)?;
        let mut info_hash = None;
        let mut link = MagnetLink::new(InfoHash([0; 20]));
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            let key = base_key(key);
            let value = |plus_is_space| {
                percent_decode(raw, plus_is_space).ok_or_else(|| MagnetError::BadEscape(key.into()))
            };
            match key {
                "xt" => {
                    let value = value(false)?;
                    if let Some(hash) = strip_prefix_ignore_case(&value, "urn:btmh:") {
                        let hash = parse_multihash(hash)?;
                        if link.info_hash_v2.is_some_and(|seen| seen != hash) {
                            return Err(MagnetError::TwoInfoHashes);
                        }
                        link.info_hash_v2 = Some(hash);
                        continue;
                    }
                    let Some(hash) = strip_prefix_ignore_case(&value, "urn:btih:") else {
                        continue; // another kind of exact topic (sha1, ed2k...): not ours
                    };
                    let hash = parse_info_hash(hash)?;
                    if info_hash.is_some_and(|seen| seen != hash) {
                        return Err(MagnetError::TwoInfoHashes);
                    }
                    info_hash = Some(hash);
                }
                "dn" => link.name = Some(value(true)?).filter(|name| !name.is_empty()),
                "tr" => push_new(&mut link.trackers, value(false)?),
                "ws" => push_new(&mut link.web_seeds, value(false)?),
                "so" => link.select_only = Some(value(false)?),
                "x.pe" => {
                    let peer = value(false)?;
                    if !valid_peer(&peer) {
                        return Err(MagnetError::BadPeer(peer));
                    }
                    push_new(&mut link.peers, peer);
                }
                _ => {}
            }
        }
        link.has_v1 = info_hash.is_some();
        link.info_hash = info_hash
            .or(link.info_hash_v2.map(|v2| v2.truncated()))
            .ok_or(MagnetError::MissingInfoHash)?;
        Ok(link)
    }

    /// The link as text: info hashes in hex, then name, trackers, peers and web seeds.
    pub fn to_uri(&self) -> String {
        let mut topics = Vec::new();
        if self.has_v1 || self.info_hash_v2.is_none() {
            topics.push(format!("xt=urn:btih:{}", self.info_hash.to_hex()));
        }
        if let Some(v2) = self.info_hash_v2 {
            topics.push(format!("xt=urn:btmh:1220{}", v2.to_hex()));
        }
        let mut out = format!("magnet:?{}", topics.join("&"));
        let mut add = |key: &str, value: &str| {
            out.push('&');
            out.push_str(key);
            out.push('=');
            out.push_str(&url_encode(value.as_bytes()));
        };
        if let Some(name) = &self.name {
            add("dn", name);
        }
        self.trackers.iter().for_each(|url| add("tr", url));
        self.peers.iter().for_each(|peer| add("x.pe", peer));
        self.web_seeds.iter().for_each(|url| add("ws", url));
        out
    }
}

impl fmt::Display for MagnetLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_uri())
    }
}

/// `tr.1` → `tr`: BEP 9 allows a numeric suffix to tell repeated keys apart.
fn base_key(key: &str) -> &str {
    match key.rsplit_once('.') {
        Some((base, index)) if !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()) => {
            base
        }
        _ => key,
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

fn push_new(list: &mut Vec<String>, value: String) {
    if !value.is_empty() && !list.contains(&value) {
        list.push(value);
    }
}

/// 40 hex digits or 32 base32 characters (RFC 4648 alphabet, either case).
fn parse_info_hash(text: &str) -> Result<InfoHash, MagnetError> {
    let bad = || MagnetError::BadInfoHash(text.chars().take(64).collect());
    match text.len() {
        40 => InfoHash::from_hex(text).ok_or_else(bad),
        32 => base32_decode(text).map(InfoHash).ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// A SHA-256 multihash: `1220` (the SHA-256 code and 32-byte length) and 64 hex digits.
fn parse_multihash(text: &str) -> Result<InfoHashV2, MagnetError> {
    let bad = || MagnetError::BadInfoHash(text.chars().take(72).collect());
    let digest = strip_prefix_ignore_case(text, "1220").ok_or_else(bad)?;
    InfoHashV2::from_hex(digest).ok_or_else(bad)
}

/// Decodes 32 base32 characters into 20 bytes.
fn base32_decode(text: &str) -> Option<[u8; 20]> {
    let mut out = [0u8; 20];
    let mut bits: u64 = 0;
    let mut count = 0u32;
    let mut at = 0;
    for c in text.bytes() {
        let value = match c.to_ascii_uppercase() {
            upper @ b'A'..=b'Z' => upper - b'A',
            digit @ b'2'..=b'7' => digit - b'2' + 26,
            _ => return None,
        };
        bits = (bits << 5) | u64::from(value);
        count += 5;
        if count >= 8 {
            count -= 8;
            *out.get_mut(at)? = u8::try_from((bits >> count) & 0xff).ok()?;
            at += 1;
        }
    }
    (at == 20).then_some(out)
}

/// Percent-decodes a query value; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(text: &str, plus_is_space: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok().filter(|_| !hex.starts_with('+'))?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `HOST:PORT`, `[IPv6]:PORT`: a non-empty host without spaces and a port from 1 to 65535.
fn valid_peer(text: &str) -> bool {
    let Some((host, port)) = text.rsplit_once(':') else { return false };
    let port_ok = !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p != 0);
    let host = match host.strip_prefix('[') {
        Some(inner) => match inner.strip_suffix(']') {
            Some(v6) => return port_ok && v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => return false,
        },
        None => host,
    };
    port_ok
        && !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

    #[test]
    fn reads_every_key() {
        let link = MagnetLink::parse(&format!(
            "magnet:?xt=urn:btih:{HEX}&dn=My+File%21&tr=http%3A%2F%2Fa%2Fannounce\
             &tr.1=udp://b:6969&x.pe=127.0.0.1:6881&x.pe=[::1]:7000&ws=http://w/f&so=0-3"
        ))
        .expect("valid");
        assert_eq!(link.info_hash.to_hex(), HEX);
        assert_eq!(link.name.as_deref(), Some("My File!"));
        assert_eq!(link.trackers, ["http://a/announce", "udp://b:6969"]);
        assert_eq!(link.peers, ["127.0.0.1:6881", "[::1]:7000"]);
        assert_eq!(link.web_seeds, ["http://w/f"]);
    }

    #[test]
    fn base32_and_hex_name_the_same_hash() {
        let hash = InfoHash([0xc1; 20]);
        // 20 bytes of 0xc1 in RFC 4648 base32.
        let base32 = "YHA4DQOBYHA4DQOBYHA4DQOBYHA4DQOB";
        let link = MagnetLink::parse(&format!("magnet:?xt=urn:btih:{base32}")).expect("valid");
        assert_eq!(link.info_hash, hash);
        let lower = base32.to_lowercase();
        let link = MagnetLink::parse(&format!("MAGNET:?xt=URN:BTIH:{lower}")).expect("valid");
        assert_eq!(link.info_hash, hash);
    }

    #[test]
    fn round_trips_through_its_text() {
        let mut link = MagnetLink::new(InfoHash([7; 20]));
        link.name = Some("a b&c=d%é".into());
        link.trackers = vec!["http://t/a?x=1&y=2".into()];
        link.peers = vec!["host.example:1".into()];
        link.web_seeds = vec!["http://w/".into()];
        assert_eq!(MagnetLink::parse(&link.to_uri()), Ok(link));
    }

    #[test]
    fn reads_v2_and_hybrid_links() {
        let v2 = "ab".repeat(32);
        let link = MagnetLink::parse(&format!("magnet:?xt=urn:btmh:1220{v2}")).expect("v2");
        assert_eq!(link.info_hash_v2.map(|h| h.to_hex()), Some(v2.clone()));
        assert!(!link.has_v1);
        assert_eq!(link.info_hash.to_hex(), v2[..40]);
        let both = format!("magnet:?xt=urn:btih:{HEX}&xt=urn:btmh:1220{v2}");
        let link = MagnetLink::parse(&both).expect("hybrid");
        assert_eq!((link.has_v1, link.info_hash.to_hex()), (true, HEX.to_string()));
        assert_eq!(link.to_uri(), both);
    }

    #[test]
    fn refuses_malformed_links_with_one_reason() {
        let cases: &[(&str, MagnetError)] = &[
            ("http://x", MagnetError::NotMagnet),
            ("magnet:?dn=x", MagnetError::MissingInfoHash),
            ("magnet:?xt=urn:btmh:1220aa", MagnetError::BadInfoHash("1220aa".into())),
            ("magnet:?xt=urn:sha1:aa", MagnetError::MissingInfoHash),
            ("magnet:?xt=urn:btih:abc", MagnetError::BadInfoHash("abc".into())),
            ("magnet:?xt=urn:btih:%zz", MagnetError::BadEscape("xt".into())),
            ("magnet:?dn=%ff&xt=urn:btih:", MagnetError::BadEscape("dn".into())),
        ];
        for (text, want) in cases {
            assert_eq!(MagnetLink::parse(text).as_ref(), Err(want), "{text}");
        }
        let two = format!("magnet:?xt=urn:btih:{HEX}&xt=urn:btih:{}", "0".repeat(40));
        assert_eq!(MagnetLink::parse(&two), Err(MagnetError::TwoInfoHashes));
        for peer in ["1.2.3.4", "1.2.3.4:0", "1.2.3.4:70000", ":80", "a b:1", "[::1:80", "h:+1"] {
            let text = format!("magnet:?xt=urn:btih:{HEX}&x.pe={peer}");
            assert_eq!(MagnetLink::parse(&text), Err(MagnetError::BadPeer(peer.into())), "{peer}");
        }
        let long = format!("magnet:?xt=urn:btih:{HEX}&dn={}", "a".repeat(MAX_LINK_LEN));
        assert!(matches!(MagnetLink::parse(&long), Err(MagnetError::TooLong(_))));
    }

    #[test]
    fn a_repeated_identical_hash_and_unknown_keys_are_fine() {
        let text =
            format!("magnet:?xt=urn:btih:{HEX}&xt=urn:btih:{}&kt=x&&x.foo", HEX.to_uppercase());
        assert_eq!(MagnetLink::parse(&text).map(|l| l.info_hash.to_hex()), Ok(HEX.into()));
    }

    #[test]
    fn percent_escapes_need_two_hex_digits() {
        assert_eq!(percent_decode("%41%2b+", false).as_deref(), Some("A++"));
        assert_eq!(percent_decode("+", true).as_deref(), Some(" "));
        assert_eq!(percent_decode("%4", false), None);
        assert_eq!(percent_decode("%+1", false), None);
    }
}
