//! Trackers: the client that announces to HTTP(S) and UDP trackers, and the built-in server.
//!
//! The client side is [`announce()`] (or a long-lived [`Client`], which remembers UDP
//! connection ids) plus [`TrackerList`], which walks a torrent's BEP 12 tiers. The codecs in
//! [`announce`](mod@announce), [`http`] and [`udp`] are pure functions over bytes, so each is
//! tested without a socket; only `Client` does network I/O, always blocking and always bounded
//! by the caller's timeout. Every error is a [`TrackerError`] that names the tracker URL; there
//! is deliberately no `From` into [`crate::Error`], because one dead tracker must not end a
//! download. A tracker host name with IPv4 and IPv6 addresses is announced to over both
//! ([`families`]). The [`server`] module is `mt tracker`: it shares the wire codecs with the client.

pub mod announce;
pub mod client;
pub mod families;
pub mod http;
pub mod server;
pub mod tiers;
pub mod udp;

use std::fmt;
use std::time::Duration;

pub use announce::{AnnounceRequest, AnnounceResponse, TrackerEvent};
pub use client::Client;
pub use tiers::TrackerList;

/// Why an announce to one tracker failed. The message names the tracker URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackerError {
    /// The URL's scheme is not `http`, `https` or `udp`.
    UnsupportedScheme {
        /// The tracker URL.
        url: String,
    },
    /// The URL cannot be used (no host, bad port...).
    InvalidUrl {
        /// The tracker URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The tracker could not be reached or the exchange broke off.
    Network {
        /// The tracker URL.
        url: String,
        /// The lowercase cause, e.g. "connection refused".
        reason: String,
    },
    /// A UDP tracker did not answer any of our attempts before the timeout.
    NoReply {
        /// The tracker URL.
        url: String,
        /// How many packets we sent.
        attempts: u32,
    },
    /// An HTTP tracker answered with a status other than 200.
    Status {
        /// The tracker URL.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The tracker refused the announce and said why (`failure reason`, UDP error action).
    Failure {
        /// The tracker URL.
        url: String,
        /// The tracker's own words.
        reason: String,
    },
    /// The reply could not be understood.
    Malformed {
        /// The tracker URL.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A tracker list had no URL to try.
    NoTrackers,
}

impl fmt::Display for TrackerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrackerError::UnsupportedScheme { url } => {
                write!(f, "tracker {url}: unsupported scheme (use http, https or udp)")
            }
            TrackerError::InvalidUrl { url, reason } => write!(f, "tracker {url}: {reason}"),
            TrackerError::Network { url, reason } => write!(f, "tracker {url}: {reason}"),
            TrackerError::NoReply { url, attempts } => {
                let plural = if *attempts == 1 { "" } else { "s" };
                write!(f, "tracker {url}: no reply after {attempts} attempt{plural}")
            }
            TrackerError::Status { url, status } => {
                write!(f, "tracker {url}: http status {status}")
            }
            TrackerError::Failure { url, reason } => {
                write!(f, "tracker {url}: failure reason: {reason}")
            }
            TrackerError::Malformed { url, reason } => {
                write!(f, "tracker {url}: invalid reply: {reason}")
            }
            TrackerError::NoTrackers => f.write_str("no tracker urls to announce to"),
        }
    }
}

impl std::error::Error for TrackerError {}

/// What a pure reply decoder found wrong, before the URL is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// The tracker refused the request with this reason.
    Failure(String),
    /// The reply is not a valid tracker reply.
    Malformed(String),
}

impl ReplyError {
    /// The same error, naming the tracker it came from.
    pub fn at(self, url: &str) -> TrackerError {
        let url = url.to_string();
        match self {
            ReplyError::Failure(reason) => TrackerError::Failure { url, reason },
            ReplyError::Malformed(reason) => TrackerError::Malformed { url, reason },
        }
    }
}

/// Announces once to `url` with a fresh [`Client`]; `timeout` bounds the whole exchange.
///
/// A long-running session should keep one `Client` instead, so UDP connection ids are reused.
pub fn announce(
    url: &str,
    req: &AnnounceRequest,
    timeout: Duration,
) -> Result<AnnounceResponse, TrackerError> {
    Client::new().announce(url, req, timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_tracker_in_lowercase() {
        let url = "udp://x:1".to_string();
        let err = TrackerError::NoReply { url: url.clone(), attempts: 3 };
        assert_eq!(err.to_string(), "tracker udp://x:1: no reply after 3 attempts");
        let err = ReplyError::Failure("unregistered torrent".into()).at("http://x/announce");
        assert_eq!(
            err.to_string(),
            "tracker http://x/announce: failure reason: unregistered torrent"
        );
    }

    #[test]
    fn unknown_schemes_are_refused() {
        let req = AnnounceRequest::example();
        let err = announce("wss://x/announce", &req, Duration::from_millis(10)).expect_err("wss");
        assert_eq!(err, TrackerError::UnsupportedScheme { url: "wss://x/announce".into() });
    }
}
