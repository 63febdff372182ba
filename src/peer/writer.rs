//! The writer thread: session commands → socket bytes, including uploads read from storage.
//!
//! Uploads wait in a queue so a later `cancel` can still remove them. Output goes through a
//! buffer that is flushed whenever no more work is waiting, so bursts of small messages
//! become few system calls. A keep-alive is sent after [`KEEP_ALIVE`] without traffic.

use std::collections::VecDeque;
use std::io::{BufWriter, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::{PeerCommand, PeerEvent, PeerKey, PeerOptions};
use crate::storage::Storage;
use crate::types::PieceIndex;
use crate::wire::{BlockInfo, Message, write_message, write_piece};

/// Idle time after which we send a keep-alive.
pub const KEEP_ALIVE: Duration = Duration::from_secs(60);

/// Time a single socket write may block before the peer counts as stalled.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) fn run(
    stream: TcpStream,
    key: PeerKey,
    storage: Arc<Storage>,
    commands: Receiver<PeerCommand>,
    events: Sender<(PeerKey, PeerEvent)>,
    options: PeerOptions,
) {
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let shutdown = stream.try_clone();
    let mut out = BufWriter::with_capacity(256 << 10, stream);
    let mut uploads: VecDeque<BlockInfo> = VecDeque::new();
    let mut block = Vec::new();
    let result: std::io::Result<()> = (|| {
        loop {
            // Take every waiting command before doing slow work.
            let next = if uploads.is_empty() {
                out.flush()?;
                match commands.recv_timeout(KEEP_ALIVE) {
                    Ok(command) => Some(command),
                    Err(RecvTimeoutError::Timeout) => {
                        write_message(&mut out, &Message::KeepAlive)?;
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return Ok(()),
                }
            } else {
                commands.try_recv().ok()
            };
            match next {
                Some(PeerCommand::Send(messages)) => {
                    for message in &messages {
                        write_message(&mut out, message)?;
                    }
                }
                Some(PeerCommand::Upload(info)) if uploads.len() < options.max_queued_uploads => {
                    uploads.push_back(info);
                }
                Some(PeerCommand::Upload(_)) => {} // past the queue limit we advertised
                Some(PeerCommand::Cancel(info)) => uploads.retain(|queued| *queued != info),
                Some(PeerCommand::Close) => {
                    out.flush()?;
                    return Ok(());
                }
                None => {
                    if let Some(info) = uploads.pop_front() {
                        if let Err(reason) = read_block(&storage, info, &mut block) {
                            let failed = PeerEvent::StorageFailed { block: info, reason };
                            let _ = events.send((key, failed));
                            continue;
                        }
                        write_piece(&mut out, info.piece, info.begin, &block)?;
                    }
                }
            }
        }
    })();
    if result.is_err() {
        // The reader sees the same broken socket and reports the close.
        if let Ok(stream) = shutdown {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

fn read_block(storage: &Storage, info: BlockInfo, buf: &mut Vec<u8>) -> Result<(), String> {
    let range = storage
        .layout()
        .block_range(PieceIndex(info.piece), info.begin, info.length)
        .ok_or_else(|| format!("block {}+{} is outside the torrent", info.piece, info.begin))?;
    buf.resize(usize::try_from(info.length).unwrap_or(0), 0);
    storage.read(range.start, buf).map_err(|e| e.to_string())
}
