//! The peer wire protocol (BEP 3, with BEP 6 fast extension and BEP 10 extension protocol).
//!
//! This module owns the bytes that travel on a peer connection and nothing else: the 68-byte
//! [`handshake`], the length-prefixed [`message`] codec, the BEP 10 [`extension`] handshake
//! payload with the two extensions we speak over it ([`metadata`]: BEP 9 `ut_metadata`;
//! [`pex`]: BEP 11 `ut_pex`), the BEP 52 [`hashes`] messages, and blocking [`framing`] over any `Read`/`Write`. It does no
//! threading, keeps no per-peer state and never touches files; whether a piece index or block
//! is valid for a torrent is for the peer layer to decide.
//!
//! Invariants every codec keeps:
//! - encode and decode are matched pairs, and decode never trusts a length it has not checked:
//!   a length prefix above [`MAX_MESSAGE_LEN`] is rejected from its four bytes alone;
//! - "need more bytes" (`Ok(None)`) is distinct from "malformed" (`Err`);
//! - every error is a [`WireError`], which ends one peer and has no `From` into the fatal
//!   [`crate::Error`].

pub mod allowed_fast;
pub mod blocks;
pub mod error;
pub mod extension;
pub mod framing;
pub mod handshake;
pub mod hashes;
pub mod message;
pub mod metadata;
pub mod pex;

pub use error::WireError;
pub use extension::ExtendedHandshake;
pub use framing::{MessageReader, write_message, write_piece};
pub use handshake::{HANDSHAKE_LEN, Handshake};
pub use hashes::HashRequest;
pub use message::{BlockInfo, MAX_BLOCK_LEN, MAX_MESSAGE_LEN, Message};
