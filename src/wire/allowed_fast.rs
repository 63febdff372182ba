//! The allowed-fast set of BEP 6: the pieces a peer may request while it is choked, derived
//! from its IPv4 address (the /24 network, so peers behind one NAT share a set) and the info
//! hash, so both ends and any third party compute the same set and a peer gains nothing by
//! reconnecting from another port.
//!
//! Pure: no I/O. The algorithm is the one BEP 6 gives, checked against its own examples.

use std::net::{IpAddr, Ipv4Addr};

use sha1::{Digest, Sha1};

use crate::types::InfoHash;

/// How many pieces we let each choked peer request (BEP 6 leaves it to us; libtorrent's
/// default is 5, the spec's example uses 7 and 9).
pub const ALLOWED_FAST_COUNT: usize = 10;

/// The first `k` pieces of the allowed-fast set for a peer at `ip` in a torrent of
/// `piece_count` pieces (fewer if the torrent has fewer pieces), in the spec's order.
pub fn allowed_fast_set(
    ip: Ipv4Addr,
    info_hash: &InfoHash,
    piece_count: u32,
    k: usize,
) -> Vec<u32> {
    let k = k.min(usize::try_from(piece_count).unwrap_or(usize::MAX));
    let mut set = Vec::with_capacity(k);
    let network = u32::from(ip) & 0xffff_ff00;
    let mut x: Vec<u8> = network.to_be_bytes().to_vec();
    x.extend_from_slice(&info_hash.0);
    while set.len() < k {
        let digest: [u8; 20] = Sha1::digest(&x).into();
        x = digest.to_vec();
        for word in digest.chunks_exact(4) {
            if set.len() >= k {
                break;
            }
            let y = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
            let index = y % piece_count;
            if !set.contains(&index) {
                set.push(index);
            }
        }
    }
    set
}

/// The IPv4 address the set is computed from: the address itself, or the IPv4 address inside
/// an IPv4-mapped IPv6 one. BEP 6 defines no set for other IPv6 peers.
pub fn ipv4_of(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_matches_the_examples_in_bep_6() {
        let ip = Ipv4Addr::new(80, 4, 4, 200);
        let info_hash = InfoHash([0xaa; 20]);
        let seven = allowed_fast_set(ip, &info_hash, 1313, 7);
        assert_eq!(seven, [1059, 431, 808, 1217, 287, 376, 1188]);
        let nine = allowed_fast_set(ip, &info_hash, 1313, 9);
        assert_eq!(nine, [1059, 431, 808, 1217, 287, 376, 1188, 353, 508]);
    }

    #[test]
    fn peers_of_one_slash_24_share_a_set_and_small_torrents_get_every_piece() {
        let info_hash = InfoHash([7; 20]);
        let a = allowed_fast_set(Ipv4Addr::new(10, 1, 2, 3), &info_hash, 500, 10);
        let b = allowed_fast_set(Ipv4Addr::new(10, 1, 2, 250), &info_hash, 500, 10);
        assert_eq!(a, b);
        assert_eq!(a.len(), 10);
        let mut all = allowed_fast_set(Ipv4Addr::LOCALHOST, &info_hash, 3, 10);
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2]);
        assert!(allowed_fast_set(Ipv4Addr::LOCALHOST, &info_hash, 0, 10).is_empty());
    }
}
