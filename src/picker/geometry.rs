//! Piece and block sizes: which blocks a piece splits into, and whether a block from a peer is
//! one of them.
//!
//! Every piece is `piece_length` bytes except the last, which holds what is left of
//! `total_length`. A piece splits into `block_length` blocks from offset 0; its last block holds
//! what is left of the piece. A block is named by its piece and its index in that piece.

use std::fmt;

use super::Block;

/// The sizes a [`super::Picker`] works with, checked to agree with each other.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geometry {
    piece_count: u32,
    piece_length: u32,
    total_length: u64,
    block_length: u32,
}

/// Sizes that do not describe one torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GeometryError {
    /// The piece length is zero.
    ZeroPieceLength,
    /// The block length is zero.
    ZeroBlockLength,
    /// The piece count does not cover the total length in pieces of the piece length.
    PieceCount {
        /// The piece count given.
        piece_count: u32,
        /// The count `total_length` and `piece_length` imply.
        expected: u64,
        /// The torrent's length in bytes.
        total_length: u64,
        /// The torrent's piece length.
        piece_length: u32,
    },
    /// Our own bitfield is for a different number of pieces.
    HaveLength {
        /// Pieces in the bitfield.
        have: u32,
        /// The torrent's piece count.
        piece_count: u32,
    },
}

impl fmt::Display for GeometryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GeometryError::ZeroPieceLength => f.write_str("piece length is zero"),
            GeometryError::ZeroBlockLength => f.write_str("block length is zero"),
            GeometryError::PieceCount { piece_count, expected, total_length, piece_length } => {
                write!(
                    f,
                    "{total_length} bytes in {piece_length}-byte pieces make {expected} pieces, \
                     not {piece_count}"
                )
            }
            GeometryError::HaveLength { have, piece_count } => {
                write!(f, "have bitfield covers {have} pieces, the torrent has {piece_count}")
            }
        }
    }
}

impl std::error::Error for GeometryError {}

impl Geometry {
    pub(super) fn new(
        piece_count: u32,
        piece_length: u32,
        total_length: u64,
        block_length: u32,
    ) -> Result<Geometry, GeometryError> {
        if piece_length == 0 {
            return Err(GeometryError::ZeroPieceLength);
        }
        if block_length == 0 {
            return Err(GeometryError::ZeroBlockLength);
        }
        let expected = total_length.div_ceil(u64::from(piece_length));
        if expected != u64::from(piece_count) {
            return Err(GeometryError::PieceCount {
                piece_count,
                expected,
                total_length,
                piece_length,
            });
        }
        Ok(Geometry { piece_count, piece_length, total_length, block_length })
    }

    pub(super) fn piece_count(&self) -> u32 {
        self.piece_count
    }

    /// The length of `piece` in bytes; 0 past the last piece.
    pub(super) fn piece_size(&self, piece: u32) -> u32 {
        if piece >= self.piece_count {
            return 0;
        }
        let start = u64::from(piece) * u64::from(self.piece_length);
        let rest = self.total_length.saturating_sub(start);
        // `rest` is below `piece_length` only for the last piece, so it fits in a u32.
        u32::try_from(rest).map_or(self.piece_length, |rest| rest.min(self.piece_length))
    }

    /// How many blocks `piece` splits into.
    pub(super) fn block_count(&self, piece: u32) -> u32 {
        self.piece_size(piece).div_ceil(self.block_length)
    }

    /// Block `index` of `piece`, with the last block of a piece cut short.
    pub(super) fn block(&self, piece: u32, index: u32) -> Block {
        let size = self.piece_size(piece);
        let begin = index.saturating_mul(self.block_length).min(size);
        Block { piece, begin, length: (size - begin).min(self.block_length) }
    }

    /// The index in its piece of a block a peer names, if it is exactly one of our blocks.
    pub(super) fn block_index(&self, block: &Block) -> Option<u32> {
        if block.piece >= self.piece_count || !block.begin.is_multiple_of(self.block_length) {
            return None;
        }
        let index = block.begin / self.block_length;
        (index < self.block_count(block.piece) && self.block(block.piece, index) == *block)
            .then_some(index)
    }
}
