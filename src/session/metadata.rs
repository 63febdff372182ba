//! Serving the torrent's `info` dictionary to peers that have only its magnet link (BEP 9).
//!
//! Our extended handshake names `ut_metadata` on [`OUR_UT_METADATA`] and gives the
//! dictionary's size; a peer asks for it in 16 KiB pieces on that id and hears each piece,
//! cut from the raw `info` bytes the info hash was computed over, on the id it named for the
//! extension in its own handshake. A piece index past the end is answered with `reject`; a
//! peer that did not name the extension is not answered (we would not know its id). Each
//! answer goes through the peer's bounded writer queue like any other message.

use super::swarm::Swarm;
use crate::peer::PeerCommand;
use crate::picker::PeerKey;
use crate::wire::metadata::{self, METADATA_PIECE_LEN, MetadataMessage};
use crate::wire::{ExtendedHandshake, Message};

/// The extended message id we receive `ut_metadata` messages on.
pub const OUR_UT_METADATA: u8 = 2;

/// Adds what a peer needs to fetch our `info` dictionary to our extended handshake.
pub fn advertise(handshake: &mut ExtendedHandshake, raw_info: &[u8]) {
    handshake.extensions.insert(metadata::UT_METADATA.to_string(), OUR_UT_METADATA);
    handshake.metadata_size = u64::try_from(raw_info.len()).ok();
}

/// The id a peer receives `ut_metadata` on, from its extended handshake (0 means disabled).
pub fn peer_id_for(handshake: &ExtendedHandshake) -> Option<u8> {
    handshake.extensions.get(metadata::UT_METADATA).copied().filter(|&id| id != 0)
}

impl Swarm {
    /// A `ut_metadata` message from `key`. A malformed one costs the peer a strike.
    pub(super) fn on_metadata_message(&mut self, key: PeerKey, payload: &[u8]) {
        let Some(peer) = self.peers.get_mut(key) else { return };
        let message = match MetadataMessage::decode(payload) {
            Ok(message) => message,
            Err(_) => {
                peer.strikes += 1;
                return;
            }
        };
        // Data and reject answer requests of ours; a seed that has the metadata makes none.
        let MetadataMessage::Request { piece } = message else { return };
        let Some(their_id) = peer.ut_metadata else { return };
        let answer = answer(&self.config.metainfo.raw_info, piece);
        let message = Message::Extended { id: their_id, payload: answer.encode() };
        peer.handle.send(PeerCommand::Send(vec![message]));
    }
}

/// The answer to a request for metadata piece `piece` of `raw_info`.
fn answer(raw_info: &[u8], piece: u32) -> MetadataMessage {
    let total = u32::try_from(raw_info.len()).ok().filter(|&n| n > 0);
    let range = total.and_then(|total| {
        let len = metadata::piece_len(total, piece)?;
        let start = usize::try_from(u64::from(piece) * u64::from(METADATA_PIECE_LEN)).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        Some((total, start..end))
    });
    match range.and_then(|(total, range)| Some((total, raw_info.get(range)?))) {
        Some((total_size, data)) => {
            MetadataMessage::Data { piece, total_size, data: data.to_vec() }
        }
        None => MetadataMessage::Reject { piece },
    }
}

#[cfg(test)]
mod tests {
    use super::answer;
    use crate::wire::metadata::MetadataMessage;

    #[test]
    fn pieces_are_cut_at_16_kib_and_the_last_is_the_remainder() {
        let info: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        let MetadataMessage::Data { total_size, data, .. } = answer(&info, 1) else {
            panic!("piece 1 exists")
        };
        assert_eq!((total_size, &data[..]), (40_000, &info[16_384..32_768]));
        let MetadataMessage::Data { data, .. } = answer(&info, 2) else { panic!("piece 2") };
        assert_eq!(&data[..], &info[32_768..]);
    }

    #[test]
    fn a_piece_past_the_end_is_rejected() {
        assert_eq!(answer(&[1; 100], 1), MetadataMessage::Reject { piece: 1 });
        assert_eq!(answer(&[1; 100], u32::MAX), MetadataMessage::Reject { piece: u32::MAX });
    }
}
