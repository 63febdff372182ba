//! The session thread's lines to everything else: the events it reports, the control channel
//! its helper threads answer on, the channel peer threads report on, the dialer, the
//! announcer's signals and the counters the announcer reads.
//!
//! [`Control`] is the one message type helper threads send the session. [`Channels`] owns the
//! sending ends the session keeps; it decides nothing.

use std::net::SocketAddr;
use std::sync::Arc;

use crossbeam_channel::Sender;

use super::Event;
use super::announce::{Counters, Signal};
use super::listen::Dialer;
use crate::peer::{Connected, ToSession};
use crate::storage::StorageError;

/// Messages to the session thread from its helper threads.
pub enum Control {
    /// A connection finished its handshake.
    Connected(Box<Connected>),
    /// An outgoing connection failed.
    ConnectFailed(SocketAddr, String),
    /// A tracker answered.
    TrackerPeers { url: String, peers: Vec<SocketAddr> },
    /// No tracker answered.
    TrackerFailed(String),
    /// The DHT found peers.
    DhtPeers(Vec<SocketAddr>),
    /// Local service discovery heard of peers.
    LsdPeers(Vec<SocketAddr>),
    /// A peer dialled us over uTP, which we refused: we dial it back over TCP.
    UtpSyn(SocketAddr),
    /// A tracker said something worth showing.
    Warning(String),
    /// A completed piece was hashed.
    Hashed { piece: u32, good: bool },
    /// Verified pieces could not be made durable: the kernel could not write them.
    SyncFailed(String),
    /// The disk thread could not write a received block.
    WriteFailed(StorageError),
    /// The answer to a hash request below the piece layer, once its data is hashed.
    HashAnswer { key: crate::peer::PeerKey, message: crate::wire::Message },
    /// A web seed's fetcher thread finished a request.
    Fetched(Box<super::webseeds::Fetched>),
}

/// The sending ends the session thread holds.
pub struct Channels {
    /// Events to the CLI.
    pub events: Sender<Event>,
    /// The control channel, for helper threads the session starts.
    pub control: Sender<Control>,
    /// The channel peer threads report on, and its budget of bytes in flight.
    pub peer_events: ToSession,
    /// Starts outgoing connections.
    pub dialer: Dialer,
    /// Signals to the announcer thread, while it runs.
    pub signals: Option<Sender<Signal>>,
    /// Transfer figures the announcer reads.
    pub counters: Arc<Counters>,
    /// The address we listen on.
    pub local_addr: SocketAddr,
    /// The DHT node on our port, told of the nodes peers name in `port` messages.
    pub dht: Option<crate::dht::NodeHints>,
}

impl Channels {
    /// Reports an event; a CLI that stopped listening is no reason to stop.
    pub fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    /// Reports something the session survives.
    pub fn warn(&self, message: String) {
        self.emit(Event::Warning(message));
    }

    /// Tells the announcer something, if it runs.
    pub fn signal(&self, signal: Signal) {
        if let Some(signals) = &self.signals {
            let _ = signals.send(signal);
        }
    }
}
