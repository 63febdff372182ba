//! Node ids and the XOR metric (BEP 5): 160-bit ids, distances between them, and which
//! bucket of our routing table a distance falls in.
//!
//! Ids and info hashes share one space, so a lookup for a torrent is a lookup for the node id
//! equal to its info hash. Distances are compared as unsigned 160-bit big-endian numbers,
//! which for byte arrays is plain lexicographic order.

use std::fmt;

use crate::types::{InfoHash, hex};

/// Bits in a node id.
pub const ID_BITS: usize = 160;

/// A 160-bit node id (or an info hash taken as one).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 20]);

impl NodeId {
    /// A fresh random id.
    pub fn random() -> NodeId {
        let mut id = [0u8; 20];
        fastrand::fill(&mut id);
        NodeId(id)
    }

    /// The XOR distance to `other`.
    pub fn distance(&self, other: &NodeId) -> [u8; 20] {
        let mut out = [0u8; 20];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = self.0[i] ^ other.0[i];
        }
        out
    }

    /// Leading bits shared with `other` (160 for the same id).
    pub fn common_prefix(&self, other: &NodeId) -> usize {
        let distance = self.distance(other);
        for (i, byte) in distance.iter().enumerate() {
            if *byte != 0 {
                return i * 8 + byte.leading_zeros() as usize;
            }
        }
        ID_BITS
    }

    /// A random id that shares exactly `prefix` leading bits with this one (all 160 when
    /// `prefix` is 160 or more): a target that refreshes the bucket at that depth.
    pub fn random_with_prefix(&self, prefix: usize) -> NodeId {
        if prefix >= ID_BITS {
            return *self;
        }
        let mut id = NodeId::random();
        for bit in 0..=prefix {
            let (byte, mask) = (bit / 8, 0x80u8 >> (bit % 8));
            let ours = self.0[byte] & mask;
            // The first `prefix` bits match ours; bit `prefix` differs.
            let want = if bit == prefix { ours ^ mask } else { ours };
            id.0[byte] = (id.0[byte] & !mask) | want;
        }
        id
    }
}

impl From<InfoHash> for NodeId {
    fn from(hash: InfoHash) -> NodeId {
        NodeId(hash.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", hex(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_is_xor_and_orders_bytewise() {
        let a = NodeId([0u8; 20]);
        let mut b = NodeId([0u8; 20]);
        b.0[19] = 1;
        let mut c = NodeId([0u8; 20]);
        c.0[0] = 0x80;
        assert_eq!(a.distance(&a), [0u8; 20]);
        assert!(a.distance(&b) < a.distance(&c));
        assert_eq!(a.common_prefix(&c), 0);
        assert_eq!(a.common_prefix(&b), 159);
        assert_eq!(a.common_prefix(&a), 160);
    }

    #[test]
    fn a_random_id_with_a_prefix_shares_exactly_that_prefix() {
        let ours = NodeId::random();
        for prefix in [0, 1, 7, 8, 9, 63, 159] {
            for _ in 0..20 {
                assert_eq!(ours.common_prefix(&ours.random_with_prefix(prefix)), prefix);
            }
        }
        assert_eq!(ours.random_with_prefix(160), ours);
    }
}
