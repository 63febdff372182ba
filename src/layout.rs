//! Pure piece ↔ file math: where each piece's bytes live in the torrent's files, and how a
//! piece splits into the blocks peers request.
//!
//! A torrent's files are concatenated, in metainfo order, into one byte stream cut into
//! pieces of `piece_length` bytes; only the last piece may be shorter. Each piece splits into
//! blocks of [`BLOCK_LEN`] bytes from its start; only a piece's last block may be shorter.
//! [`Geometry`] is the piece and block math of the stream (small and `Copy`, what the picker
//! keeps); [`Layout`] adds the file boundaries and maps ranges of the stream to
//! `(file, offset, length)` slices. This module does no I/O.
//!
//! Invariants: `piece_count == ceil(total_length / piece_length)`, at least 1 and at most
//! [`MAX_PIECES`]; file offsets are the running sums of the lengths before them; empty files
//! take no bytes and never appear in a slice; only [`Layout::piece`] (or [`Geometry::piece`])
//! turns a raw number into a [`PieceIndex`] of this torrent.
//!
//! ```text
//! files:   |--a (5)--|b(0)|------c (9)------|d(2)|
//! stream:  0         5    5                14   16
//! pieces:  |--p0 (6)--|--p1 (6)--|--p2 (4)-|      (piece_length 6)
//! blocks:  |-4-|-2-|  |-4-|-2-|  |-4-|            (blocks of 4)
//! p1 = c[1..7];  p2 = c[7..9] + d[0..2]
//! ```

use std::fmt;
use std::ops::Range;

use crate::types::PieceIndex;

/// Most pieces a torrent may have (2^21), which bounds every per-piece table.
pub const MAX_PIECES: u64 = 1 << 21;

/// The block length every client requests and serves, 2^14 bytes. BEP 3 notes that larger
/// requests may get the connection closed; BEP 52 hashes v2 data in leaves of this size.
pub const BLOCK_LEN: u32 = 16 * 1024;

/// One block of a piece: `length` bytes at offset `begin` of piece `piece`, as a peer names it
/// in `request`, `cancel` and `reject request`. Nothing about a value of this type says it is
/// valid for a torrent; [`Geometry::block_index`] and [`Layout::block_range`] check that.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Block {
    /// The piece index.
    pub piece: u32,
    /// Byte offset of the block within the piece.
    pub begin: u32,
    /// Block length in bytes.
    pub length: u32,
}

/// The piece and block sizes of a torrent's byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    piece_length: u32,
    total_length: u64,
    piece_count: u32,
    block_length: u32,
}

/// The geometry of a torrent's byte stream with its file boundaries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    geometry: Geometry,
    /// Start offset of each file in the stream, plus its length.
    files: Vec<Range<u64>>,
    /// The files that are never on disk (BEP 47 pad files, whose bytes are zeros, and
    /// symbolic links); empty when there are none.
    virtual_files: Vec<bool>,
    /// The stream is padded with zeros to a whole last piece on the wire (see
    /// [`Layout::with_padded_tail`]).
    padded_tail: bool,
}

/// Why a set of sizes does not make a valid layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// The piece length is zero.
    ZeroPieceLength,
    /// The block length is zero.
    ZeroBlockLength,
    /// All files together hold no bytes.
    Empty,
    /// The file lengths add up to more than 2^63 bytes.
    TooLarge,
    /// More pieces than [`MAX_PIECES`].
    TooManyPieces(u64),
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::ZeroPieceLength => f.write_str("piece length is zero"),
            LayoutError::ZeroBlockLength => f.write_str("block length is zero"),
            LayoutError::Empty => f.write_str("torrent holds no data (total size is zero)"),
            LayoutError::TooLarge => f.write_str("file sizes add up to more than 2^63 bytes"),
            LayoutError::TooManyPieces(n) => {
                write!(f, "{n} pieces is more than the limit of {MAX_PIECES}")
            }
        }
    }
}

impl std::error::Error for LayoutError {}

/// One contiguous run of bytes inside one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSlice {
    /// Index of the file in metainfo order.
    pub file: usize,
    /// Byte offset inside that file.
    pub offset: u64,
    /// Number of bytes.
    pub length: u64,
}

impl Geometry {
    /// The geometry of `total_length` bytes in pieces of `piece_length`, in blocks of
    /// [`BLOCK_LEN`].
    pub fn new(piece_length: u32, total_length: u64) -> Result<Geometry, LayoutError> {
        if piece_length == 0 {
            return Err(LayoutError::ZeroPieceLength);
        }
        if total_length > i64::MAX.unsigned_abs() {
            return Err(LayoutError::TooLarge);
        }
        if total_length == 0 {
            return Err(LayoutError::Empty);
        }
        let count = total_length.div_ceil(u64::from(piece_length));
        if count > MAX_PIECES {
            return Err(LayoutError::TooManyPieces(count));
        }
        let piece_count = u32::try_from(count).map_err(|_| LayoutError::TooManyPieces(count))?;
        Ok(Geometry { piece_length, total_length, piece_count, block_length: BLOCK_LEN })
    }

    /// The same pieces split into blocks of `block_length` bytes instead (small blocks make
    /// small examples).
    pub fn with_block_length(self, block_length: u32) -> Result<Geometry, LayoutError> {
        if block_length == 0 {
            return Err(LayoutError::ZeroBlockLength);
        }
        Ok(Geometry { block_length, ..self })
    }

    /// The nominal piece length.
    pub fn piece_length(&self) -> u32 {
        self.piece_length
    }

    /// Total bytes in the stream.
    pub fn total_length(&self) -> u64 {
        self.total_length
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.piece_count
    }

    /// The nominal block length.
    pub fn block_length(&self) -> u32 {
        self.block_length
    }

    /// The piece with this number, if the torrent has it.
    pub fn piece(&self, index: u32) -> Option<PieceIndex> {
        (index < self.piece_count).then_some(PieceIndex(index))
    }

    /// Every piece, in order.
    pub fn pieces(&self) -> impl Iterator<Item = PieceIndex> + use<> {
        (0..self.piece_count).map(PieceIndex)
    }

    /// Offset of the piece's first byte in the stream.
    pub fn piece_offset(&self, piece: PieceIndex) -> u64 {
        u64::from(piece.0) * u64::from(self.piece_length)
    }

    /// Length of this piece: `piece_length`, or less for the last one; 0 past the last.
    pub fn piece_len(&self, piece: PieceIndex) -> u32 {
        let rest = self.total_length.saturating_sub(self.piece_offset(piece));
        // The rest is below piece_length for the last piece, so it fits in a u32.
        u32::try_from(rest.min(u64::from(self.piece_length))).unwrap_or(self.piece_length)
    }

    /// The stream range a whole piece covers.
    pub fn piece_range(&self, piece: PieceIndex) -> Range<u64> {
        let start = self.piece_offset(piece);
        start..start + u64::from(self.piece_len(piece))
    }

    /// The stream range of bytes `begin..begin+length` inside `piece`, if it lies within it.
    pub fn block_range(&self, piece: PieceIndex, begin: u32, length: u32) -> Option<Range<u64>> {
        let end = begin.checked_add(length)?;
        if piece.0 >= self.piece_count || end > self.piece_len(piece) {
            return None;
        }
        let start = self.piece_offset(piece) + u64::from(begin);
        Some(start..start + u64::from(length))
    }

    /// How many blocks `piece` splits into (0 past the last piece).
    pub fn block_count(&self, piece: PieceIndex) -> u32 {
        self.piece_len(piece).div_ceil(self.block_length)
    }

    /// Block `index` of `piece`, the piece's last block cut short; past the piece's end, an
    /// empty block at its end.
    pub fn block(&self, piece: PieceIndex, index: u32) -> Block {
        let size = self.piece_len(piece);
        let begin = index.saturating_mul(self.block_length).min(size);
        Block { piece: piece.0, begin, length: (size - begin).min(self.block_length) }
    }

    /// The index in its piece of a block a peer names, if it is exactly one of our blocks.
    pub fn block_index(&self, block: &Block) -> Option<u32> {
        let piece = self.piece(block.piece)?;
        if !block.begin.is_multiple_of(self.block_length) {
            return None;
        }
        let index = block.begin / self.block_length;
        (index < self.block_count(piece) && self.block(piece, index) == *block).then_some(index)
    }
}

impl Layout {
    /// Builds the layout for files of these lengths, in metainfo order.
    pub fn new(piece_length: u32, file_lengths: &[u64]) -> Result<Layout, LayoutError> {
        if piece_length == 0 {
            return Err(LayoutError::ZeroPieceLength);
        }
        let mut files = Vec::with_capacity(file_lengths.len());
        let mut total: u64 = 0;
        for &length in file_lengths {
            let end = total.checked_add(length).ok_or(LayoutError::TooLarge)?;
            files.push(total..end);
            total = end;
        }
        let geometry = Geometry::new(piece_length, total)?;
        Ok(Layout { geometry, files, virtual_files: Vec::new(), padded_tail: false })
    }

    /// The same layout where peers may also request the zeros that pad the last piece to a
    /// whole piece. libtorrent sees a v2-only torrent so (it pads the last file to a piece
    /// as it pads every other, BEP 52 aligning each file), and asks for whole blocks there;
    /// our own pieces, hashes and files still end with the last file.
    pub fn with_padded_tail(mut self, padded: bool) -> Layout {
        self.padded_tail = padded;
        self
    }

    /// The stream range a peer's `request` names, if we serve it: inside a piece, or with a
    /// padded tail, inside the last piece padded to a whole one. The range may end past
    /// [`Layout::total_length`]; those bytes are zeros.
    pub fn request_range(&self, piece: PieceIndex, begin: u32, length: u32) -> Option<Range<u64>> {
        let exact = self.geometry.block_range(piece, begin, length);
        if exact.is_some() || !self.padded_tail || piece.0 >= self.geometry.piece_count {
            return exact;
        }
        let end = begin.checked_add(length)?;
        if end > self.geometry.piece_length {
            return None;
        }
        let start = self.piece_offset(piece) + u64::from(begin);
        Some(start..start + u64::from(length))
    }

    /// The same layout where the files marked `true` are never on disk: their bytes read as
    /// zeros and writes to them are dropped (BEP 47 pad files, symbolic links).
    pub fn with_virtual_files(mut self, marks: Vec<bool>) -> Layout {
        self.virtual_files = if marks.contains(&true) { marks } else { Vec::new() };
        self
    }

    /// True when file `file` is never on disk (see [`Layout::with_virtual_files`]).
    pub fn is_virtual(&self, file: usize) -> bool {
        self.virtual_files.get(file).copied().unwrap_or(false)
    }

    /// The piece and block math of this torrent, without its files.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// The nominal piece length.
    pub fn piece_length(&self) -> u32 {
        self.geometry.piece_length
    }

    /// Total bytes in all files.
    pub fn total_length(&self) -> u64 {
        self.geometry.total_length
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.geometry.piece_count
    }

    /// Number of files, empty ones included.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// Length of file `file`.
    pub fn file_length(&self, file: usize) -> u64 {
        self.files.get(file).map_or(0, |r| r.end - r.start)
    }

    /// The piece with this number, if the torrent has it.
    pub fn piece(&self, index: u32) -> Option<PieceIndex> {
        self.geometry.piece(index)
    }

    /// Every piece, in order.
    pub fn pieces(&self) -> impl Iterator<Item = PieceIndex> + use<> {
        self.geometry.pieces()
    }

    /// Offset of the piece's first byte in the stream.
    pub fn piece_offset(&self, piece: PieceIndex) -> u64 {
        self.geometry.piece_offset(piece)
    }

    /// Length of this piece: `piece_length`, or less for the last one.
    pub fn piece_len(&self, piece: PieceIndex) -> u32 {
        self.geometry.piece_len(piece)
    }

    /// The stream range of bytes `begin..begin+length` inside `piece`, if it lies within it.
    pub fn block_range(&self, piece: PieceIndex, begin: u32, length: u32) -> Option<Range<u64>> {
        self.geometry.block_range(piece, begin, length)
    }

    /// The stream range a whole piece covers.
    pub fn piece_range(&self, piece: PieceIndex) -> Range<u64> {
        self.geometry.piece_range(piece)
    }

    /// The file slices that make up the stream range `range`, in order. Empty files and
    /// the parts of `range` past the end of the stream yield nothing.
    pub fn slices(&self, range: Range<u64>) -> impl Iterator<Item = FileSlice> + '_ {
        // Files are sorted by start offset: find the first one that ends after range.start.
        let first = self.files.partition_point(|f| f.end <= range.start);
        self.files[first..]
            .iter()
            .enumerate()
            .map_while(move |(i, file)| {
                if file.start >= range.end {
                    return None;
                }
                let start = range.start.max(file.start);
                let end = range.end.min(file.end);
                Some(FileSlice { file: first + i, offset: start - file.start, length: end - start })
            })
            .filter(|slice| slice.length > 0)
    }

    /// The pieces holding any byte of file `file` (empty for an empty file).
    pub fn file_pieces(&self, file: usize) -> Range<u32> {
        let Some(span) = self.files.get(file) else { return 0..0 };
        if span.start == span.end {
            return 0..0;
        }
        let piece_length = u64::from(self.geometry.piece_length);
        let first = span.start / piece_length;
        let last = (span.end - 1) / piece_length;
        // Both are below piece_count, which is a u32.
        let to_u32 = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        to_u32(first)..to_u32(last + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(file: usize, offset: u64, length: u64) -> FileSlice {
        FileSlice { file, offset, length }
    }

    /// The drawing in the module docs.
    fn drawn() -> Layout {
        Layout::new(6, &[5, 0, 9, 2]).expect("valid")
    }

    #[test]
    fn a_padded_tail_lets_peers_ask_for_the_zeros_after_the_last_file() {
        let plain = drawn();
        assert_eq!(plain.request_range(PieceIndex(2), 0, 6), None, "p2 holds 4 bytes");
        let padded = drawn().with_padded_tail(true);
        assert_eq!(padded.request_range(PieceIndex(2), 0, 6), Some(12..18));
        assert_eq!(padded.request_range(PieceIndex(2), 4, 2), Some(16..18));
        assert_eq!(padded.request_range(PieceIndex(2), 4, 3), None, "past a whole piece");
        assert_eq!(padded.request_range(PieceIndex(3), 0, 1), None, "no such piece");
        assert_eq!(padded.request_range(PieceIndex(1), 0, 6), Some(6..12));
        assert_eq!(padded.piece_len(PieceIndex(2)), 4, "our own piece stays short");
    }

    #[test]
    fn counts_pieces_with_a_short_last_one() {
        let layout = drawn();
        assert_eq!(layout.total_length(), 16);
        assert_eq!(layout.piece_count(), 3);
        assert_eq!(layout.piece_len(PieceIndex(0)), 6);
        assert_eq!(layout.piece_len(PieceIndex(2)), 4);
        assert_eq!(layout.piece(3), None);
    }

    #[test]
    fn first_piece_crosses_an_empty_file() {
        let layout = drawn();
        let spans: Vec<_> = layout.slices(layout.piece_range(PieceIndex(0))).collect();
        assert_eq!(spans, [slice(0, 0, 5), slice(2, 0, 1)]);
    }

    #[test]
    fn last_piece_ends_in_the_last_file() {
        let layout = drawn();
        let spans: Vec<_> = layout.slices(layout.piece_range(PieceIndex(2))).collect();
        assert_eq!(spans, [slice(2, 7, 2), slice(3, 0, 2)]);
    }

    ///  files: |a(2)|b(3)|c(2)|d(9)|      piece 0 = a + b + c[0..1] covers three files
    #[test]
    fn a_piece_spanning_three_files() {
        let layout = Layout::new(6, &[2, 3, 2, 9]).expect("valid");
        let spans: Vec<_> = layout.slices(layout.piece_range(PieceIndex(0))).collect();
        assert_eq!(spans, [slice(0, 0, 2), slice(1, 0, 3), slice(2, 0, 1)]);
        assert_eq!(layout.file_pieces(2), 0..2);
        assert_eq!(layout.file_pieces(3), 1..3);
    }

    #[test]
    fn empty_files_touch_no_pieces() {
        let layout = Layout::new(4, &[0, 4, 0, 0, 4, 0]).expect("valid");
        assert_eq!(layout.file_pieces(0), 0..0);
        assert_eq!(layout.file_pieces(5), 0..0);
        let spans: Vec<_> = layout.slices(0..8).collect();
        assert_eq!(spans, [slice(1, 0, 4), slice(4, 0, 4)]);
    }

    #[test]
    fn blocks_must_lie_inside_their_piece() {
        let layout = drawn();
        assert_eq!(layout.block_range(PieceIndex(1), 2, 4), Some(8..12));
        assert_eq!(layout.block_range(PieceIndex(2), 2, 3), None);
        assert_eq!(layout.block_range(PieceIndex(1), u32::MAX, 2), None);
        assert_eq!(layout.block_range(PieceIndex(9), 0, 1), None);
    }

    #[test]
    fn rejects_impossible_geometry() {
        assert_eq!(Layout::new(0, &[1]), Err(LayoutError::ZeroPieceLength));
        assert_eq!(Layout::new(16, &[0, 0]), Err(LayoutError::Empty));
        assert_eq!(Layout::new(16, &[u64::MAX, 1]), Err(LayoutError::TooLarge));
        assert_eq!(Layout::new(1, &[1 << 22]), Err(LayoutError::TooManyPieces(1 << 22)));
    }

    #[test]
    fn pieces_split_into_blocks_with_a_short_last_block() {
        // The drawing in the module docs: blocks of 4 in pieces of 6, 6 and 4.
        let geometry = drawn().geometry().with_block_length(4).expect("valid");
        let p = |n| PieceIndex(n);
        assert_eq!([0, 1, 2].map(|n| geometry.block_count(p(n))), [2, 2, 1]);
        assert_eq!(geometry.block(p(1), 1), Block { piece: 1, begin: 4, length: 2 });
        assert_eq!(geometry.block(p(2), 0), Block { piece: 2, begin: 0, length: 4 });
        assert_eq!(geometry.block_count(p(3)), 0);
    }

    #[test]
    fn only_our_own_blocks_have_an_index() {
        let geometry = drawn().geometry().with_block_length(4).expect("valid");
        let block = |piece, begin, length| Block { piece, begin, length };
        assert_eq!(geometry.block_index(&block(1, 4, 2)), Some(1));
        assert_eq!(geometry.block_index(&block(1, 4, 4)), None, "runs past the piece");
        assert_eq!(geometry.block_index(&block(1, 2, 2)), None, "not on a block boundary");
        assert_eq!(geometry.block_index(&block(0, 0, 2)), None, "shorter than the block");
        assert_eq!(geometry.block_index(&block(3, 0, 4)), None, "past the last piece");
        assert_eq!(drawn().geometry().with_block_length(0), Err(LayoutError::ZeroBlockLength));
    }

    #[test]
    fn real_torrents_use_16_kib_blocks() {
        let layout = Layout::new(40_000, &[100_000]).expect("valid");
        let geometry = layout.geometry();
        assert_eq!(geometry.block_length(), BLOCK_LEN);
        assert_eq!(geometry.block_count(PieceIndex(0)), 3);
        assert_eq!(geometry.block(PieceIndex(0), 2).length, 40_000 - 2 * BLOCK_LEN);
        assert_eq!(geometry.block_count(PieceIndex(2)), 2, "the last piece holds 20,000 bytes");
    }

    #[test]
    fn single_file_exact_multiple() {
        let layout = Layout::new(4, &[8]).expect("valid");
        assert_eq!(layout.piece_count(), 2);
        assert_eq!(layout.piece_len(PieceIndex(1)), 4);
        assert_eq!(layout.file_pieces(0), 0..2);
    }
}
