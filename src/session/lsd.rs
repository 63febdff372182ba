//! The session's local service discovery: started when the session has an LSD configuration
//! and the torrent is not private (BEP 27), announcing the torrent on the local network with
//! our listen port, and sending every peer others announce for it to the session's control
//! channel, to enter the address book as [`super::PeerSource::Lsd`].

use std::net::SocketAddr;

use crossbeam_channel::Sender;

use super::channels::Control;
use crate::lsd::{Lsd, LsdConfig};
use crate::types::InfoHash;

/// Starts the service for peers listening at `listen`; `None` (with a warning on `control`)
/// when it cannot start.
pub fn start(
    config: LsdConfig,
    listen: SocketAddr,
    info_hash: InfoHash,
    control: &Sender<Control>,
) -> Option<Lsd> {
    let lsd = match Lsd::start(listen, config) {
        Ok(lsd) => lsd,
        Err(e) => {
            let _ = control.send(Control::Warning(format!(
                "lsd: cannot join the local discovery group on port {}: {}",
                crate::lsd::PORT,
                crate::error::lower_io(&e)
            )));
            return None;
        }
    };
    let peers = control.clone();
    lsd.track(info_hash, move |found: Vec<SocketAddr>| {
        let _ = peers.send(Control::LsdPeers(found));
    });
    Some(lsd)
}
