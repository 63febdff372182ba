//! The BEP 52 hash messages: `hash request` (id 21), `hashes` (id 22) and `hash reject`
//! (id 23), which carry parts of a file's merkle tree between peers.
//!
//! All three open with the same 48 bytes: the file's `pieces root` (32), then the base layer
//! (layers above the 16 KiB leaves), the index of the first hash in that layer, the number of
//! hashes asked for, and the number of proof layers, each a 4-byte big-endian integer.
//! `hashes` follows them with 32-byte hashes: the base layer's, then the uncle hashes that
//! prove them, nearest the base first. This file owns that layout and nothing else: whether a
//! request names a tree we have, or is worth answering, is for the session to decide.
//!
//! Invariants: a `hash request` or `hash reject` is exactly 48 payload bytes; a `hashes`
//! payload is 48 bytes plus a whole number of hashes (checked by [`super::message`] before
//! the payload is buffered, and again by [`HashesHeader::decode`]).

use crate::merkle::Node;

/// Bytes of the fields every hash message opens with.
pub const HASH_HEADER_LEN: usize = 48;

/// Bytes of one hash.
pub const HASH_LEN: usize = 32;

/// What a `hash request` asks for, and what `hashes` and `hash reject` answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HashRequest {
    /// The root of the file's merkle tree, which names the file.
    pub pieces_root: Node,
    /// Layers above the leaves (16 KiB blocks) where the requested hashes sit; 0 is the
    /// leaf layer.
    pub base_layer: u32,
    /// Index in that layer of the first hash requested.
    pub index: u32,
    /// How many hashes of that layer.
    pub length: u32,
    /// How many layers above the base the proof reaches (BEP 52 "proof layers").
    pub proof_layers: u32,
}

impl HashRequest {
    /// The 48 bytes of the fields, as every hash message carries them.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.pieces_root);
        for value in [self.base_layer, self.index, self.length, self.proof_layers] {
            out.extend_from_slice(&value.to_be_bytes());
        }
    }

    /// Reads the fields from exactly [`HASH_HEADER_LEN`] bytes.
    pub fn decode(bytes: &[u8]) -> Option<HashRequest> {
        let bytes: &[u8; HASH_HEADER_LEN] = bytes.try_into().ok()?;
        let (root, rest) = bytes.split_first_chunk::<HASH_LEN>()?;
        let word = |i: usize| {
            rest.get(i * 4..i * 4 + 4)
                .and_then(|w| <[u8; 4]>::try_from(w).ok())
                .map(u32::from_be_bytes)
        };
        Some(HashRequest {
            pieces_root: *root,
            base_layer: word(0)?,
            index: word(1)?,
            length: word(2)?,
            proof_layers: word(3)?,
        })
    }
}

/// The parts of a `hashes` payload.
pub struct HashesHeader;

impl HashesHeader {
    /// Splits a `hashes` payload into the request it answers and its hashes; `None` when it
    /// is shorter than the header or its hashes are not whole.
    pub fn decode(payload: &[u8]) -> Option<(HashRequest, Vec<Node>)> {
        let (header, rest) = payload.split_at_checked(HASH_HEADER_LEN)?;
        let request = HashRequest::decode(header)?;
        let (hashes, remainder) = rest.as_chunks::<HASH_LEN>();
        remainder.is_empty().then(|| (request, hashes.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> HashRequest {
        HashRequest {
            pieces_root: [0xab; 32],
            base_layer: 1,
            index: 512,
            length: 512,
            proof_layers: 9,
        }
    }

    #[test]
    fn the_fields_are_the_root_then_four_big_endian_words() {
        let mut out = Vec::new();
        sample().encode_into(&mut out);
        let mut want = vec![0xab; 32];
        want.extend_from_slice(&[0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0, 9]);
        assert_eq!(out, want);
        assert_eq!(HashRequest::decode(&out), Some(sample()));
        assert_eq!(HashRequest::decode(&out[..47]), None);
    }

    #[test]
    fn hashes_must_be_whole() {
        let mut payload = Vec::new();
        sample().encode_into(&mut payload);
        payload.extend_from_slice(&[7; 64]);
        let (request, hashes) = HashesHeader::decode(&payload).expect("two hashes");
        assert_eq!((request, hashes), (sample(), vec![[7; 32], [7; 32]]));
        payload.push(0);
        assert!(HashesHeader::decode(&payload).is_none());
        assert!(HashesHeader::decode(&payload[..40]).is_none());
    }
}
