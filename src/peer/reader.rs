//! The reader thread: socket bytes → messages → session events, until the connection ends.
//!
//! A read timeout is the idle limit: peers send at least a keep-alive every two minutes, so a
//! peer silent for longer than [`IDLE_LIMIT`] is gone. Unknown message ids are skipped (BEP 3
//! lets clients add messages); anything malformed ends the connection. Messages that could
//! only waste memory (blocks larger than we ever request, extension messages we do not speak,
//! oversized `ut_metadata` and `ut_pex` messages) are dealt with here, so what waits in the session's
//! queue is small and bounded; the bytes of the large messages that do queue are bounded too
//! ([`super::InFlight`]).

use std::net::TcpStream;
use std::time::Duration;

use super::{PeerEvent, PeerKey, PeerOptions, ToSession, weight};
use crate::layout::BLOCK_LEN;
use crate::wire::{Message, MessageReader, WireError};

/// Largest extension handshake we look at.
const MAX_EXTENDED_HANDSHAKE: usize = 64 * 1024;

/// Largest `ut_metadata` message we pass on: a 16 KiB piece and its dictionary.
pub const MAX_METADATA_MESSAGE: usize = 17 * 1024;

/// Largest `ut_pex` message we pass on: more than the codec reads of it (200 entries a list).
pub const MAX_PEX_MESSAGE: usize = 16 * 1024;

/// Longest silence we accept from a peer.
pub const IDLE_LIMIT: Duration = Duration::from_secs(150);

pub(super) fn run(
    mut reader: MessageReader<TcpStream>,
    key: PeerKey,
    options: PeerOptions,
    to_session: ToSession,
) {
    let ToSession { events, in_flight } = to_session;
    let _ = reader.get_ref().set_read_timeout(Some(IDLE_LIMIT));
    let reason = loop {
        match reader.read_message() {
            Ok(Message::Piece { data, .. })
                if u32::try_from(data.len()).map_or(true, |len| len > BLOCK_LEN) =>
            {
                break format!("sent a {}-byte block; we only ask for {BLOCK_LEN}", data.len());
            }
            // Only the extension handshake, `ut_metadata` and `ut_pex` mean anything to us;
            // other extension messages (and oversized ones) are dropped here, not queued.
            Ok(Message::Extended { id, payload })
                if !(id == 0 && payload.len() <= MAX_EXTENDED_HANDSHAKE
                    || Some(id) == options.ut_metadata
                        && payload.len() <= MAX_METADATA_MESSAGE
                    || Some(id) == options.ut_pex && payload.len() <= MAX_PEX_MESSAGE) =>
            {
                continue;
            }
            Ok(message) => {
                // Large messages wait for room in the session's byte budget (the session
                // releases it once handled), so only so many bytes can queue at once.
                let bytes = weight(&message);
                if bytes > 0 && !in_flight.reserve(bytes) {
                    break "session ended".to_string();
                }
                if events.send((key, PeerEvent::Message(message))).is_err() {
                    in_flight.release(bytes);
                    break "session ended".to_string();
                }
            }
            Err(WireError::UnknownMessage { .. }) => continue,
            Err(WireError::Closed) => break "peer closed the connection".to_string(),
            Err(WireError::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break format!("silent for {} s", IDLE_LIMIT.as_secs());
            }
            Err(e) => break e.to_string(),
        }
    };
    let _ = events.send((key, PeerEvent::Closed(reason)));
}
