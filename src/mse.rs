//! Message stream encryption (MSE, also called protocol encryption): the answering side.
//!
//! libtorrent (qBittorrent, Deluge), Transmission and others open connections with a
//! Diffie-Hellman key exchange that hides the BitTorrent handshake from traffic shapers. At
//! their defaults they retry with a plain handshake only after the encrypted one fails, which
//! costs about a second for every new peer, and a client set to require encryption never
//! retries. [`answer`] completes the exchange and always selects a plaintext stream after it,
//! so the connection then carries plain BitTorrent messages; a peer that offers only an RC4
//! stream is refused ([`MseError::Rc4Only`]).
//!
//! The exchange, with A the side that connected and B us (HASH is SHA-1 of the concatenation,
//! S = Ya^Xb mod P the shared secret, SKEY the info hash):
//! 1. A→B: Ya (96 bytes), PadA (0–512 bytes)
//! 2. B→A: Yb, PadB
//! 3. A→B: HASH("req1", S), HASH("req2", SKEY) xor HASH("req3", S), then under RC4 keyed by
//!    HASH("keyA", S, SKEY): VC (8 zero bytes), crypto_provide (4), len(PadC) (2), PadC,
//!    len(IA) (2), IA (the initial payload, usually the BitTorrent handshake)
//! 4. B→A: under RC4 keyed by HASH("keyB", S, SKEY): VC, crypto_select (4), len(PadD) (2), PadD
//!
//! Both RC4 streams drop their first 1024 bytes. With plaintext selected, everything after
//! steps 3 and 4 is sent in the clear. The decrypted IA is put back in front of the reader's
//! buffer, so the caller reads the BitTorrent handshake as if it had arrived plain.

mod rc4;

use std::fmt;
use std::io::{Read, Write};

use num_bigint::BigUint;
use sha1::{Digest, Sha1};

use crate::types::InfoHash;
use crate::wire::{MessageReader, WireError};

pub use rc4::Rc4;

/// Bytes of a public key (Ya, Yb) and of the shared secret S.
pub const KEY_LEN: usize = 96;

/// Most padding either side may send in one place.
pub const MAX_PAD: usize = 512;

/// The 768-bit prime P of the key exchange; the generator G is 2.
const PRIME: [u8; KEY_LEN] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC9, 0x0F, 0xDA, 0xA2, 0x21, 0x68, 0xC2, 0x34,
    0xC4, 0xC6, 0x62, 0x8B, 0x80, 0xDC, 0x1C, 0xD1, 0x29, 0x02, 0x4E, 0x08, 0x8A, 0x67, 0xCC, 0x74,
    0x02, 0x0B, 0xBE, 0xA6, 0x3B, 0x13, 0x9B, 0x22, 0x51, 0x4A, 0x08, 0x79, 0x8E, 0x34, 0x04, 0xDD,
    0xEF, 0x95, 0x19, 0xB3, 0xCD, 0x3A, 0x43, 0x1B, 0x30, 0x2B, 0x0A, 0x6D, 0xF2, 0x5F, 0x14, 0x37,
    0x4F, 0xE1, 0x35, 0x6D, 0x6D, 0x51, 0xC2, 0x45, 0xE4, 0x85, 0xB5, 0x76, 0x62, 0x5E, 0x7E, 0xC6,
    0xF4, 0x4C, 0x42, 0xE9, 0xA6, 0x3A, 0x36, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x05, 0x63,
];

/// The verification constant: eight zero bytes.
const VC: [u8; 8] = [0; 8];

/// crypto_provide / crypto_select bit for a plaintext stream after the handshake.
const CRYPTO_PLAINTEXT: u32 = 0x01;

/// Key stream bytes each RC4 stream drops before use.
const RC4_DROP: usize = 1024;

/// Why an encrypted handshake failed.
#[derive(Debug)]
pub enum MseError {
    /// Reading or writing the stream failed, or it closed.
    Wire(WireError),
    /// Ya is 0, 1 or P-1 or above, which would make the shared secret guessable.
    WeakKey,
    /// HASH("req1", S) did not follow within the padding's limit.
    NoSync,
    /// The peer asks for a torrent we do not serve.
    OtherTorrent,
    /// The decrypted verification constant is not zero: the keys disagree.
    BadVerification,
    /// A padding length above [`MAX_PAD`].
    PaddingTooLong(u16),
    /// The peer offers only an RC4 stream after the handshake.
    Rc4Only,
}

impl fmt::Display for MseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MseError::Wire(err) => write!(f, "{err}"),
            MseError::WeakKey => f.write_str("the peer's public key is out of range"),
            MseError::NoSync => f.write_str("no synchronisation hash within 512 bytes of padding"),
            MseError::OtherTorrent => f.write_str("the peer asks for a torrent we do not serve"),
            MseError::BadVerification => f.write_str("the verification constant does not decrypt"),
            MseError::PaddingTooLong(len) => write!(f, "padding of {len} bytes (at most 512)"),
            MseError::Rc4Only => {
                f.write_str("the peer requires an RC4-encrypted stream, which mt does not offer")
            }
        }
    }
}

impl std::error::Error for MseError {}

impl From<WireError> for MseError {
    fn from(err: WireError) -> MseError {
        MseError::Wire(err)
    }
}

/// True when `first` (at least 20 bytes) opens a plain BitTorrent handshake rather than an
/// encrypted one.
pub fn is_plain_handshake(first: &[u8]) -> bool {
    first.get(..20) == Some(b"\x13BitTorrent protocol".as_slice())
}

/// Answers an encrypted handshake whose first bytes wait in `reader`, for the torrent
/// `info_hash` (or `also`, a hybrid torrent's truncated v2 hash), selecting a plaintext stream. On success the peer's initial payload (its
/// BitTorrent handshake, if it sent one there) is at the front of `reader`'s buffer.
pub fn answer<S: Read + Write>(
    reader: &mut MessageReader<S>,
    info_hash: InfoHash,
    also: Option<InfoHash>,
) -> Result<(), MseError> {
    // Steps 1 and 2: exchange public keys.
    let ya = BigUint::from_bytes_be(&reader.peek(KEY_LEN)?[..KEY_LEN]);
    reader.skip(KEY_LEN);
    let prime = BigUint::from_bytes_be(&PRIME);
    if ya <= BigUint::from(1u8) || ya >= &prime - 1u8 {
        return Err(MseError::WeakKey);
    }
    let secret_key = BigUint::from_bytes_be(&random_bytes(20));
    let yb = BigUint::from(2u8).modpow(&secret_key, &prime);
    let shared = to_key_bytes(&ya.modpow(&secret_key, &prime));
    let mut reply = to_key_bytes(&yb).to_vec();
    reply.extend(random_bytes(fastrand::usize(0..=MAX_PAD)));
    reader.get_mut().write_all(&reply).map_err(WireError::Io)?;

    // Step 3: find HASH("req1", S) after PadA, then check which torrent is asked for.
    let sync = hash(&[b"req1", &shared]);
    skip_past(reader, &sync)?;
    let asked = reader.peek(20)?[..20].to_vec();
    let names = |hash_: &InfoHash| {
        xor(&hash(&[b"req2", &hash_.0]), &hash(&[b"req3", &shared]))[..] == asked[..]
    };
    let info_hash = match also {
        Some(other) if !names(&info_hash) && names(&other) => other,
        _ if names(&info_hash) => info_hash,
        _ => return Err(MseError::OtherTorrent),
    };
    reader.skip(20);
    let mut incoming = rc4_stream(&[b"keyA", &shared, &info_hash.0]);
    let mut outgoing = rc4_stream(&[b"keyB", &shared, &info_hash.0]);
    let head = take_decrypted(reader, &mut incoming, VC.len() + 4 + 2)?;
    if head[..8] != VC {
        return Err(MseError::BadVerification);
    }
    let provide = u32::from_be_bytes([head[8], head[9], head[10], head[11]]);
    let pad_c = u16::from_be_bytes([head[12], head[13]]);
    if usize::from(pad_c) > MAX_PAD {
        return Err(MseError::PaddingTooLong(pad_c));
    }
    let pad_and_len = take_decrypted(reader, &mut incoming, usize::from(pad_c) + 2)?;
    let ia_len =
        u16::from_be_bytes([pad_and_len[usize::from(pad_c)], pad_and_len[usize::from(pad_c) + 1]]);
    let initial = take_decrypted(reader, &mut incoming, usize::from(ia_len))?;
    if provide & CRYPTO_PLAINTEXT == 0 {
        return Err(MseError::Rc4Only);
    }

    // Step 4: select plaintext, with no padding.
    let mut select = [VC.as_slice(), &CRYPTO_PLAINTEXT.to_be_bytes(), &[0, 0]].concat();
    outgoing.apply(&mut select);
    reader.get_mut().write_all(&select).map_err(WireError::Io)?;
    reader.unread(&initial);
    Ok(())
}

/// Reads past the first occurrence of `mark`, which must start within [`MAX_PAD`] bytes.
fn skip_past<S: Read>(reader: &mut MessageReader<S>, mark: &[u8; 20]) -> Result<(), MseError> {
    let mut want = mark.len();
    loop {
        let buffered = reader.peek(want)?;
        if let Some(at) = buffered.windows(mark.len()).position(|w| w == mark) {
            reader.skip(at + mark.len());
            return Ok(());
        }
        if buffered.len() >= MAX_PAD + mark.len() {
            return Err(MseError::NoSync);
        }
        want = buffered.len() + 1;
    }
}

/// Takes the next `len` bytes from `reader` and decrypts them.
fn take_decrypted<S: Read>(
    reader: &mut MessageReader<S>,
    stream: &mut Rc4,
    len: usize,
) -> Result<Vec<u8>, MseError> {
    let mut bytes = reader.peek(len)?[..len].to_vec();
    reader.skip(len);
    stream.apply(&mut bytes);
    Ok(bytes)
}

fn rc4_stream(parts: &[&[u8]]) -> Rc4 {
    let mut stream = Rc4::new(&hash(parts));
    stream.discard(RC4_DROP);
    stream
}

fn hash(parts: &[&[u8]]) -> [u8; 20] {
    let mut sha = Sha1::new();
    for part in parts {
        sha.update(part);
    }
    sha.finalize().into()
}

fn xor(a: &[u8; 20], b: &[u8; 20]) -> [u8; 20] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// `value` as exactly [`KEY_LEN`] big-endian bytes (it is below P, so it fits).
fn to_key_bytes(value: &BigUint) -> [u8; KEY_LEN] {
    let bytes = value.to_bytes_be();
    let mut out = [0u8; KEY_LEN];
    let start = KEY_LEN.saturating_sub(bytes.len());
    out[start..].copy_from_slice(&bytes[bytes.len().saturating_sub(KEY_LEN)..]);
    out
}

/// `len` bytes from the operating system's random source (fastrand's if that fails).
fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    if getrandom::fill(&mut bytes).is_err() {
        bytes.iter_mut().for_each(|b| *b = fastrand::u8(..));
    }
    bytes
}

#[cfg(test)]
mod tests;
