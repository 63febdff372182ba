//! How many peers have each piece, and the queue of pieces not yet started, grouped by that
//! count so the rarest can be found without scanning every piece.
//!
//! Peers that have everything (BEP 6 `have all`, or a full bitfield) are one shared `seeds`
//! count rather than a bump of every piece, so a seed joining or leaving is O(1). A piece's
//! availability is its own count plus `seeds`; seeds shift every piece alike, so the order of
//! the queue depends on the own counts only.
//!
//! Invariants:
//! - a piece is queued iff we want it and it is not in progress: `slot[p]` is then its
//!   position in `levels[count[p]]`, otherwise [`NOT_QUEUED`];
//! - `queued_bits` has exactly the queued pieces set, and `queued` is their number.
//!
//! Finding the rarest piece a given peer has costs O(1) for a peer with most of what we lack.
//! For a peer that lacks the pieces of a large rare level, that level is sampled
//! ([`PROBES`] members) and the rest is found by walking the queued pieces the peer has, 64 at
//! a time, and taking the rarest of the first [`SAMPLE`]: bounded work, at the price of
//! exactness in that case.

use crate::bitfield::Bitfield;

/// `slot` value of a piece that is not queued.
const NOT_QUEUED: u32 = u32::MAX;

/// Members of a level looked at before falling back to walking the peer's pieces.
const PROBES: usize = 64;

/// Candidates the fallback walk compares before settling on the rarest of them.
const SAMPLE: usize = 32;

/// Per-piece peer counts and the queue of unstarted pieces by count.
#[derive(Debug)]
pub(super) struct Availability {
    count: Vec<u32>,
    seeds: u32,
    levels: Vec<Vec<u32>>,
    slot: Vec<u32>,
    queued_bits: Bitfield,
    queued: usize,
}

/// A piece number as a vector index (u32 always fits in usize on supported targets).
pub(super) fn ix(piece: u32) -> usize {
    usize::try_from(piece).unwrap_or(usize::MAX)
}

impl Availability {
    /// No peers yet; every piece in `wanted` is queued.
    pub(super) fn new(piece_count: u32, wanted: impl Iterator<Item = u32>) -> Availability {
        let mut availability = Availability {
            count: vec![0; ix(piece_count)],
            seeds: 0,
            levels: vec![Vec::new()],
            slot: vec![NOT_QUEUED; ix(piece_count)],
            queued_bits: Bitfield::new(piece_count),
            queued: 0,
        };
        for piece in wanted {
            availability.queue(piece);
        }
        availability
    }

    /// How many known peers have `piece`.
    pub(super) fn of(&self, piece: u32) -> u32 {
        self.count.get(ix(piece)).map_or(0, |&count| count.saturating_add(self.seeds))
    }

    pub(super) fn add_seed(&mut self) {
        self.seeds = self.seeds.saturating_add(1);
    }

    pub(super) fn remove_seed(&mut self) {
        self.seeds = self.seeds.saturating_sub(1);
    }

    /// One more peer has `piece`.
    pub(super) fn add(&mut self, piece: u32) {
        self.change(piece, |count| count.saturating_add(1));
    }

    /// One peer fewer has `piece`.
    pub(super) fn remove(&mut self, piece: u32) {
        self.change(piece, |count| count.saturating_sub(1));
    }

    fn change(&mut self, piece: u32, step: impl FnOnce(u32) -> u32) {
        let queued = self.is_queued(piece);
        if queued {
            self.dequeue(piece);
        }
        if let Some(count) = self.count.get_mut(ix(piece)) {
            *count = step(*count);
        }
        if queued {
            self.queue(piece);
        }
    }

    pub(super) fn is_queued(&self, piece: u32) -> bool {
        self.slot.get(ix(piece)).is_some_and(|&slot| slot != NOT_QUEUED)
    }

    /// Puts an unstarted piece in the queue (no-op if it already is or is out of range).
    pub(super) fn queue(&mut self, piece: u32) {
        let (Some(&count), Some(&slot)) = (self.count.get(ix(piece)), self.slot.get(ix(piece)))
        else {
            return;
        };
        if slot != NOT_QUEUED {
            return;
        }
        let level = ix(count);
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, Vec::new);
        }
        let Some(members) = self.levels.get_mut(level) else { return };
        let position = u32::try_from(members.len()).unwrap_or(NOT_QUEUED);
        members.push(piece);
        if let Some(slot) = self.slot.get_mut(ix(piece)) {
            *slot = position;
        }
        self.queued_bits.set(piece);
        self.queued += 1;
    }

    /// Takes a piece out of the queue: it was started or we have it (no-op if not queued).
    pub(super) fn dequeue(&mut self, piece: u32) {
        let (Some(&count), Some(&slot)) = (self.count.get(ix(piece)), self.slot.get(ix(piece)))
        else {
            return;
        };
        let Some(members) = self.levels.get_mut(ix(count)) else { return };
        if slot == NOT_QUEUED || members.get(ix(slot)) != Some(&piece) {
            return;
        }
        members.swap_remove(ix(slot));
        if let Some(&moved) = members.get(ix(slot))
            && let Some(moved_slot) = self.slot.get_mut(ix(moved))
        {
            *moved_slot = slot;
        }
        if let Some(slot) = self.slot.get_mut(ix(piece)) {
            *slot = NOT_QUEUED;
        }
        self.queued_bits.clear(piece);
        self.queued -= 1;
    }

    /// Queued pieces at least one known peer has: zero means no new piece can be started.
    pub(super) fn queued_available(&self) -> usize {
        let unavailable = match self.seeds {
            0 => self.levels.first().map_or(0, Vec::len),
            _ => 0,
        };
        self.queued.saturating_sub(unavailable)
    }

    /// A queued piece `peer_has` has, of the lowest availability; ties are broken at random.
    /// See the module docs for the one case where it is approximate.
    pub(super) fn rarest(&self, peer_has: &Bitfield) -> Option<u32> {
        if self.queued_available() == 0 {
            return None;
        }
        for (count, members) in (0u32..).zip(&self.levels) {
            if members.is_empty() {
                continue;
            }
            let start = fastrand::usize(..members.len());
            let (before, after) = members.split_at(start);
            let mut probes = after.iter().chain(before).take(PROBES);
            if let Some(&piece) = probes.find(|&&piece| peer_has.get(piece)) {
                return Some(piece);
            }
            if members.len() > PROBES {
                return self.rarest_sampled(peer_has, count);
            }
        }
        None
    }

    /// The rarest of the first [`SAMPLE`] queued pieces `peer_has` has from a random place; no
    /// candidate is rarer than `floor`, so one that rare ends the walk.
    fn rarest_sampled(&self, peer_has: &Bitfield, floor: u32) -> Option<u32> {
        let from = fastrand::u32(..self.queued_bits.len());
        let mut best: Option<(u32, u32)> = None;
        for piece in self.candidates(peer_has, from).take(SAMPLE) {
            let count = self.count.get(ix(piece)).copied().unwrap_or(u32::MAX);
            if best.is_none_or(|(best_count, _)| count < best_count) {
                best = Some((count, piece));
            }
            if count <= floor {
                break;
            }
        }
        best.map(|(_, piece)| piece)
    }

    /// The queued pieces `peer_has` has, in index order from `from`, wrapping around once.
    /// Walks 64 pieces per step, so pieces the peer lacks cost little.
    pub(super) fn candidates<'a>(
        &'a self,
        peer_has: &'a Bitfield,
        from: u32,
    ) -> impl Iterator<Item = u32> + 'a {
        let words = ix(self.queued_bits.len()).div_ceil(64);
        let steps = if words == 0 { 0 } else { words + 1 };
        let first = ix(from) / 64 % words.max(1);
        let from_mask = u64::MAX >> (from % 64);
        (0..steps).flat_map(move |step| {
            let index = (first + step) % words;
            let mut bits =
                word(self.queued_bits.as_bytes(), index) & word(peer_has.as_bytes(), index);
            if step == 0 {
                bits &= from_mask;
            } else if step == words {
                bits &= !from_mask;
            }
            let base = u32::try_from(index * 64).unwrap_or(u32::MAX);
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let offset = bits.leading_zeros();
                bits &= !(1u64 << 63 >> offset);
                Some(base.saturating_add(offset))
            })
        })
    }
}

/// Pieces `64 * index ..` of a bitfield as one word, piece `64 * index` the high bit.
fn word(bytes: &[u8], index: usize) -> u64 {
    let mut buffer = [0u8; 8];
    if let Some(rest) = bytes.get(index * 8..) {
        let len = rest.len().min(8);
        buffer[..len].copy_from_slice(&rest[..len]);
    }
    u64::from_be_bytes(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rarest_takes_the_lowest_count() {
        let mut availability = Availability::new(3, 0..3);
        for piece in [0, 0, 1, 2, 2, 2] {
            availability.add(piece);
        }
        assert_eq!(availability.rarest(&Bitfield::full(3)), Some(1));
        let mut not_one = Bitfield::full(3);
        not_one.clear(1);
        assert_eq!(availability.rarest(&not_one), Some(0));
    }

    #[test]
    fn seeds_add_to_every_piece() {
        let mut availability = Availability::new(2, 0..2);
        availability.add(1);
        availability.add_seed();
        assert_eq!((availability.of(0), availability.of(1)), (1, 2));
        assert_eq!(availability.queued_available(), 2);
        availability.remove_seed();
        assert_eq!(availability.queued_available(), 1);
    }

    #[test]
    fn dequeued_pieces_are_never_chosen() {
        let mut availability = Availability::new(4, 0..4);
        availability.add_seed();
        availability.dequeue(2);
        availability.dequeue(0);
        availability.dequeue(0);
        for _ in 0..50 {
            assert!(matches!(availability.rarest(&Bitfield::full(4)), Some(1 | 3)));
        }
        availability.queue(2);
        availability.add(2);
        availability.remove(2);
        assert!(availability.is_queued(2));
        assert!(!availability.is_queued(0));
    }

    #[test]
    fn candidates_wrap_around_from_any_start() {
        let mut availability = Availability::new(200, [3, 70, 130, 199].into_iter());
        availability.dequeue(130);
        let mut peer_has = Bitfield::full(200);
        peer_has.clear(3);
        let from_100: Vec<u32> = availability.candidates(&peer_has, 100).collect();
        assert_eq!(from_100, [199, 70]);
        let from_70: Vec<u32> = availability.candidates(&peer_has, 70).collect();
        assert_eq!(from_70, [70, 199]);
    }

    #[test]
    fn a_sparse_peer_still_gets_the_rarest_of_its_pieces() {
        // Pieces 0..500 are rare but the peer has none of them; of its own, 777 is the rarest.
        let mut availability = Availability::new(1000, 0..1000);
        for piece in 500..1000 {
            availability.add(piece);
            if piece != 777 {
                availability.add(piece);
            }
        }
        let mut peer_has = Bitfield::new(1000);
        for piece in 760..800 {
            peer_has.set(piece);
        }
        assert_eq!(availability.rarest(&peer_has), Some(777));
    }
}
