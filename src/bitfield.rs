//! Which pieces someone has: one bit per piece, in the wire order of BEP 3.
//!
//! Byte 0's high bit is piece 0, its low bit piece 7, byte 1's high bit piece 8 and so on. A
//! [`Bitfield`] knows its piece count, and two invariants always hold:
//!
//! - it holds exactly `ceil(len / 8)` bytes;
//! - the spare bits of the last byte (past the last piece) are clear.
//!
//! [`Bitfield::from_bytes`] enforces both on bytes from a peer, so counting and comparing can
//! work a byte at a time. This module owns no I/O; it is used for our own pieces, for what each
//! peer has, and for the `bitfield` message.

use std::fmt;

/// One bit per piece; see the module docs for the layout and invariants.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Bitfield {
    len: u32,
    bytes: Vec<u8>,
}

/// Why bytes from a peer are not a valid bitfield for this torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BitfieldError {
    /// The message has the wrong number of bytes for the piece count.
    WrongLength {
        /// Bytes received.
        got: usize,
        /// Bytes a bitfield of `pieces` pieces takes.
        expected: usize,
        /// The torrent's piece count.
        pieces: u32,
    },
    /// A bit past the last piece is set; BEP 3 says peers must drop such a connection.
    SpareBitsSet {
        /// The last real piece index.
        last_piece: u32,
    },
}

impl fmt::Display for BitfieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BitfieldError::WrongLength { got, expected, pieces } => {
                write!(f, "bitfield has {got} bytes, expected {expected} for {pieces} pieces")
            }
            BitfieldError::SpareBitsSet { last_piece } => {
                write!(f, "bitfield sets spare bits past piece {last_piece}")
            }
        }
    }
}

impl std::error::Error for BitfieldError {}

/// Bytes needed for `len` pieces.
fn byte_count(len: u32) -> usize {
    usize::try_from(len.div_ceil(8)).unwrap_or(usize::MAX)
}

/// The byte holding piece `index`, and the mask of its bit.
fn locate(index: u32) -> (usize, u8) {
    let byte = usize::try_from(index / 8).unwrap_or(usize::MAX);
    (byte, 0x80 >> (index % 8))
}

/// The bits of the last byte that name real pieces (all of them when `len` is a multiple of 8).
fn last_byte_mask(len: u32) -> u8 {
    match len % 8 {
        0 => 0xff,
        used => !(0xff >> used),
    }
}

impl Bitfield {
    /// A bitfield of `len` pieces, none set.
    pub fn new(len: u32) -> Bitfield {
        Bitfield { len, bytes: vec![0; byte_count(len)] }
    }

    /// A bitfield of `len` pieces, all set (a seed's).
    pub fn full(len: u32) -> Bitfield {
        let mut bytes = vec![0xff; byte_count(len)];
        if let Some(last) = bytes.last_mut() {
            *last = last_byte_mask(len);
        }
        Bitfield { len, bytes }
    }

    /// Checks a peer's `bitfield` payload against the torrent's piece count.
    pub fn from_bytes(bytes: &[u8], len: u32) -> Result<Bitfield, BitfieldError> {
        let expected = byte_count(len);
        if bytes.len() != expected {
            return Err(BitfieldError::WrongLength { got: bytes.len(), expected, pieces: len });
        }
        if let Some(&last) = bytes.last()
            && last & !last_byte_mask(len) != 0
        {
            return Err(BitfieldError::SpareBitsSet { last_piece: len.saturating_sub(1) });
        }
        Ok(Bitfield { len, bytes: bytes.to_vec() })
    }

    /// The number of pieces (bits), not bytes.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether piece `index` is set; `false` past the end.
    pub fn get(&self, index: u32) -> bool {
        if index >= self.len {
            return false;
        }
        let (byte, mask) = locate(index);
        self.bytes.get(byte).is_some_and(|b| b & mask != 0)
    }

    /// Sets piece `index`; an index past the end is ignored.
    pub fn set(&mut self, index: u32) {
        if index < self.len {
            let (byte, mask) = locate(index);
            if let Some(b) = self.bytes.get_mut(byte) {
                *b |= mask;
            }
        }
    }

    /// Clears piece `index`; an index past the end is ignored.
    pub fn clear(&mut self, index: u32) {
        if index < self.len {
            let (byte, mask) = locate(index);
            if let Some(b) = self.bytes.get_mut(byte) {
                *b &= !mask;
            }
        }
    }

    /// How many pieces are set.
    pub fn count(&self) -> u32 {
        // Eight bytes at a time; spare bits are clear, so every set bit is a piece.
        let mut chunks = self.bytes.chunks_exact(8);
        let mut total: u32 = 0;
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            total += u64::from_ne_bytes(word).count_ones();
        }
        total + chunks.remainder().iter().map(|b| b.count_ones()).sum::<u32>()
    }

    /// Whether every piece is set (true for zero pieces).
    pub fn is_complete(&self) -> bool {
        match self.bytes.split_last() {
            None => true,
            Some((&last, rest)) => {
                rest.iter().all(|&b| b == 0xff) && last == last_byte_mask(self.len)
            }
        }
    }

    /// Whether no piece is set.
    pub fn is_empty(&self) -> bool {
        self.bytes.iter().all(|&b| b == 0)
    }

    /// The wire form: `ceil(len / 8)` bytes, spare bits clear.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The indexes of set pieces, in increasing order.
    pub fn iter_set(&self) -> impl Iterator<Item = u32> + '_ {
        self.iter_matching(false)
    }

    /// The indexes of clear pieces, in increasing order.
    pub fn iter_clear(&self) -> impl Iterator<Item = u32> + '_ {
        self.iter_matching(true)
    }

    /// Set bits of each byte (inverted first when `invert`), skipping bytes with none.
    fn iter_matching(&self, invert: bool) -> impl Iterator<Item = u32> + '_ {
        let len = self.len;
        (0u32..).zip(&self.bytes).flat_map(move |(byte_index, &byte)| {
            let mut bits = if invert { !byte } else { byte };
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let offset = bits.leading_zeros();
                bits &= !(0x80 >> offset);
                Some(byte_index * 8 + offset)
            })
            .take_while(move |&index| index < len)
        })
    }

    /// Whether this bitfield has a piece that `other` lacks: "is this peer interesting to us"
    /// when `self` is the peer's and `other` ours. Pieces past `other`'s end count as lacking.
    pub fn has_any_not_in(&self, other: &Bitfield) -> bool {
        let theirs = other.bytes.iter().copied().chain(std::iter::repeat(0));
        self.bytes.iter().zip(theirs).any(|(&mine, theirs)| mine & !theirs != 0)
    }
}

impl fmt::Debug for Bitfield {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bitfield({}/{} ", self.count(), self.len)?;
        for index in 0..self.len.min(64) {
            f.write_str(if self.get(index) { "1" } else { "0" })?;
        }
        if self.len > 64 {
            f.write_str("…")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_zero_is_the_high_bit_of_byte_zero() {
        let mut bits = Bitfield::new(16);
        bits.set(0);
        bits.set(9);
        assert_eq!(bits.as_bytes(), &[0b1000_0000, 0b0100_0000]);
    }

    #[test]
    fn zero_pieces_is_empty_and_complete() {
        let bits = Bitfield::new(0);
        assert_eq!(bits.as_bytes(), &[] as &[u8]);
        assert!(bits.is_empty());
        assert!(bits.is_complete());
        assert_eq!(bits.count(), 0);
        assert_eq!(Bitfield::full(0), bits);
        assert_eq!(Bitfield::from_bytes(&[], 0), Ok(bits));
    }

    #[test]
    fn eight_pieces_fill_one_byte() {
        let bits = Bitfield::full(8);
        assert_eq!(bits.as_bytes(), &[0xff]);
        assert!(bits.is_complete());
        assert_eq!(bits.count(), 8);
        assert_eq!(Bitfield::from_bytes(&[0xff], 8), Ok(bits));
    }

    #[test]
    fn nine_pieces_take_two_bytes_with_seven_spare_bits() {
        let bits = Bitfield::full(9);
        assert_eq!(bits.as_bytes(), &[0xff, 0x80]);
        assert_eq!(bits.count(), 9);
        assert!(bits.is_complete());
        assert!(Bitfield::from_bytes(&[0xff, 0x80], 9).is_ok());
        assert!(Bitfield::from_bytes(&[0xff, 0xc0], 9).is_err());
    }

    #[test]
    fn from_bytes_rejects_wrong_byte_count() {
        let err = Bitfield::from_bytes(&[0, 0, 0], 30).expect_err("invalid");
        assert_eq!(err.to_string(), "bitfield has 3 bytes, expected 4 for 30 pieces");
    }

    #[test]
    fn from_bytes_rejects_spare_bits() {
        let err = Bitfield::from_bytes(&[0, 0, 0, 0b0000_0001], 30).expect_err("invalid");
        assert_eq!(err.to_string(), "bitfield sets spare bits past piece 29");
        assert!(Bitfield::from_bytes(&[0, 0, 0, 0b0000_0100], 30).is_ok());
    }

    #[test]
    fn get_past_the_end_is_false_and_set_past_the_end_is_ignored() {
        let mut bits = Bitfield::full(9);
        assert!(!bits.get(9));
        bits.set(100);
        bits.clear(100);
        assert_eq!(bits.as_bytes(), &[0xff, 0x80]);
    }

    #[test]
    fn set_and_clear_change_one_piece() {
        let mut bits = Bitfield::new(9);
        bits.set(8);
        assert!(bits.get(8));
        assert_eq!(bits.count(), 1);
        assert!(!bits.is_empty());
        assert!(!bits.is_complete());
        bits.clear(8);
        assert!(!bits.get(8));
        assert!(bits.is_empty());
    }

    #[test]
    fn count_spans_many_words() {
        let mut bits = Bitfield::new(1000);
        for index in (0..1000).step_by(3) {
            bits.set(index);
        }
        assert_eq!(bits.count(), 334);
    }

    #[test]
    fn iterators_list_set_and_clear_pieces_in_order() {
        let mut bits = Bitfield::new(11);
        for index in [0, 3, 8, 10] {
            bits.set(index);
        }
        assert_eq!(bits.iter_set().collect::<Vec<_>>(), [0, 3, 8, 10]);
        assert_eq!(bits.iter_clear().collect::<Vec<_>>(), [1, 2, 4, 5, 6, 7, 9]);
        assert_eq!(Bitfield::new(9).iter_set().count(), 0);
        assert_eq!(Bitfield::new(9).iter_clear().count(), 9);
    }

    #[test]
    fn a_peer_is_interesting_only_with_a_piece_we_lack() {
        let mut ours = Bitfield::new(9);
        let mut theirs = Bitfield::new(9);
        assert!(!theirs.has_any_not_in(&ours));
        theirs.set(8);
        assert!(theirs.has_any_not_in(&ours));
        ours.set(8);
        assert!(!theirs.has_any_not_in(&ours));
        ours.set(0);
        assert!(!theirs.has_any_not_in(&ours));
        assert!(ours.has_any_not_in(&theirs));
    }
}
