//! Peers that lie about a magnet link's metadata (BEP 9) cost `mt get` that peer only: each
//! liar below is named first in the link, an honest `mt seed` second, and the fetch must
//! complete from the seed with the right bytes. The lies: pieces of garbage whose hash does
//! not match, pieces of the wrong size, a piece past the end, a `metadata_size` over the
//! 10 MiB cap, and a reject for every request.

use std::time::{Duration, Instant};

use crate::common::TestEnv;
use crate::common::swarm::assert_same_file;
use crate::magnet_get::video;
use crate::support::raw_peer::{RawListener, RawPeer, peer_id};
use mt::metainfo::Metainfo;
use mt::wire::metadata::{METADATA_PIECE_LEN, MetadataMessage};
use mt::wire::{ExtendedHandshake, Message};

/// How long a liar keeps answering.
const LASTING: Duration = Duration::from_secs(8);
/// The extended id mt receives `ut_metadata` on.
const MT_UT_METADATA: u8 = 2;

/// What a liar does with the metadata of a torrent of `size` bytes of metadata.
#[derive(Clone, Copy, Debug)]
enum Lie {
    /// Answers every request with the right number of bytes of garbage.
    Garbage,
    /// Answers every request with one byte too many.
    WrongSize,
    /// Answers every request with a piece past the last one.
    PastTheEnd,
    /// Claims metadata larger than the 10 MiB cap.
    HugeSize,
    /// Rejects every request.
    RejectAll,
}

impl Lie {
    /// The `metadata_size` the liar claims.
    fn claimed_size(self, size: u32) -> u32 {
        match self {
            Lie::HugeSize => 11 << 20,
            _ => size,
        }
    }

    /// The answer to a request for `piece`.
    fn answer(self, piece: u32, size: u32) -> MetadataMessage {
        let total_size = self.claimed_size(size);
        let len = total_size.saturating_sub(piece * METADATA_PIECE_LEN).min(METADATA_PIECE_LEN);
        let data = |len: u32| vec![0x42; usize::try_from(len).expect("piece length")];
        match self {
            Lie::Garbage | Lie::HugeSize => {
                MetadataMessage::Data { piece, total_size, data: data(len) }
            }
            Lie::WrongSize => MetadataMessage::Data { piece, total_size, data: data(len + 1) },
            Lie::PastTheEnd => {
                let piece = size.div_ceil(METADATA_PIECE_LEN) + 3;
                MetadataMessage::Data { piece, total_size, data: data(METADATA_PIECE_LEN) }
            }
            Lie::RejectAll => MetadataMessage::Reject { piece },
        }
    }
}

/// Plays `lie` on one connection until it ends or `started + LASTING`.
fn lie_to(mut peer: RawPeer, lie: Lie, meta: &Metainfo, started: Instant) {
    let size = u32::try_from(meta.raw_info.len()).expect("small metadata");
    if peer.handshake(meta.info_hash, peer_id(66)).is_err() {
        return;
    }
    let ours = ExtendedHandshake {
        extensions: [("ut_metadata".to_string(), 1)].into(),
        metadata_size: Some(u64::from(lie.claimed_size(size))),
        ..ExtendedHandshake::default()
    };
    let _ = peer.send_message(&ours.to_message());
    while started.elapsed() < LASTING {
        let payload = match peer.next_message() {
            Ok(Some(Message::Extended { id: 1, payload })) => payload,
            Ok(_) => continue,
            Err(_) => return,
        };
        let Ok(MetadataMessage::Request { piece }) = MetadataMessage::decode(&payload) else {
            return;
        };
        let payload = lie.answer(piece, size).encode();
        if peer.send_message(&Message::Extended { id: MT_UT_METADATA, payload }).is_err() {
            return;
        }
    }
}

/// A peer that offers the metadata of `torrent` and tells `lie` for [`LASTING`]; returns its
/// address and how many connections it took.
fn metadata_liar(env: &TestEnv, torrent: &str, lie: Lie) -> (String, std::thread::JoinHandle<u32>) {
    let meta = Metainfo::load(&env.path(torrent)).expect("the torrent loads");
    let listener = RawListener::bind();
    let addr = listener.addr();
    let thread = std::thread::spawn(move || {
        let started = Instant::now();
        let mut connections = 0;
        while started.elapsed() < LASTING {
            let Ok(peer) = listener.accept(Duration::from_millis(200)) else { continue };
            connections += 1;
            lie_to(peer, lie, &meta, started);
        }
        connections
    });
    (addr, thread)
}

/// The liar first, an honest seed second: the fetch completes with the right bytes.
fn fetch_completes_despite(lie: Lie) {
    let env = TestEnv::new();
    let magnet = video(&env);
    let seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let (liar, thread) = metadata_liar(&env, "video.bin.torrent", lie);
    let link = format!("{magnet}&x.pe={liar}&x.pe={}", seed.addr);
    env.get(&link, "copy.bin", &[]).expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("copy.bin"));
    assert!(thread.join().expect("liar thread") >= 1, "the liar ({lie:?}) was asked first");
}

#[test]
fn metadata_whose_hash_does_not_match_is_left_for_an_honest_peer() {
    fetch_completes_despite(Lie::Garbage);
}

#[test]
fn metadata_pieces_of_the_wrong_size_are_left_for_an_honest_peer() {
    fetch_completes_despite(Lie::WrongSize);
}

#[test]
fn a_metadata_piece_past_the_end_is_left_for_an_honest_peer() {
    fetch_completes_despite(Lie::PastTheEnd);
}

#[test]
fn a_metadata_size_over_the_cap_is_left_for_an_honest_peer() {
    fetch_completes_despite(Lie::HugeSize);
}

#[test]
fn a_peer_that_rejects_every_metadata_request_is_left_for_an_honest_peer() {
    fetch_completes_despite(Lie::RejectAll);
}
