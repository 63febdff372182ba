//! The session's DHT node: started on the listen port's UDP socket when the session has a
//! DHT configuration and the torrent is not private (BEP 27), following the torrent (looked
//! up and announced again and again), with every peer it finds sent to the session's
//! control channel, to enter the address book as [`super::PeerSource::Dht`].

use std::net::{SocketAddr, UdpSocket};

use crossbeam_channel::Sender;

use super::channels::Control;
use crate::dht::{Datagram, Dht, DhtConfig};
use crate::types::InfoHash;

/// Starts the node; `None` (with a warning on `control`) when it cannot start. Returns the
/// queue the UDP thread hands KRPC datagrams to. A hybrid torrent is followed under
/// `also`, its v2 hash truncated to 20 bytes, as well, so peers that know only that find us.
pub fn start(
    config: DhtConfig,
    udp: &UdpSocket,
    info_hash: InfoHash,
    also: Option<InfoHash>,
    control: &Sender<Control>,
) -> Option<(Dht, Sender<Datagram>)> {
    let started = udp.try_clone().and_then(|socket| Dht::start(socket, config));
    let dht = match started {
        Ok(dht) => dht,
        Err(e) => {
            let _ = control.send(Control::Warning(format!("dht: cannot start: {e}")));
            return None;
        }
    };
    for hash in std::iter::once(info_hash).chain(also) {
        let peers = control.clone();
        dht.track(hash, true, move |found: Vec<SocketAddr>| {
            let _ = peers.send(Control::DhtPeers(found));
        });
    }
    let inbound = dht.inbound();
    Some((dht, inbound))
}
