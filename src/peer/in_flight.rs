//! The bytes of peer messages on their way to the session, shared by every reader thread of a
//! session, and bounded.
//!
//! The channel from the readers to the session holds a fixed number of messages, but a
//! message may be up to 257 KiB (a bitfield), so the count alone lets tens of MiB wait. A
//! reader reserves a large message's bytes here before it queues it, and waits while the
//! reservations would pass the limit; the session releases them once it has handled the
//! message. A waiting reader stops reading its socket, so the peer is slowed by TCP. One
//! message always passes when nothing else is reserved, so a message larger than the limit
//! cannot wait for ever.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::wire::Message;

/// How long a waiting reader sleeps before it looks at the closed flag again.
const RECHECK: Duration = Duration::from_millis(200);

/// Bytes reserved by messages on their way to the session.
#[derive(Debug)]
pub struct InFlight {
    limit: u64,
    state: Mutex<State>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    reserved: u64,
    closed: bool,
}

impl InFlight {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> InFlight {
        InFlight { limit, state: Mutex::new(State::default()), freed: Condvar::new() }
    }

    /// Reserves `bytes`, waiting while they do not fit (unless nothing is reserved). Returns
    /// false, reserving nothing, once the session has closed the budget.
    pub fn reserve(&self, bytes: u64) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if state.closed {
                return false;
            }
            if state.reserved == 0 || state.reserved.saturating_add(bytes) <= self.limit {
                state.reserved = state.reserved.saturating_add(bytes);
                return true;
            }
            state = match self.freed.wait_timeout(state, RECHECK) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Gives back bytes a handled message had reserved.
    pub fn release(&self, bytes: u64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.reserved = state.reserved.saturating_sub(bytes);
        self.freed.notify_all();
    }

    /// The session has ended: waiting readers give up.
    pub fn close(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).closed = true;
        self.freed.notify_all();
    }

    /// Bytes reserved now.
    pub fn reserved(&self) -> u64 {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).reserved
    }
}

/// The bytes a message holds that count against the budget: its payload, for the messages
/// that carry one (a block, a bitfield, an extension message).
pub fn weight(message: &Message) -> u64 {
    let len = match message {
        Message::Piece { data, .. } => data.len(),
        Message::Bitfield(bytes) => bytes.len(),
        Message::Extended { payload, .. } => payload.len(),
        Message::Hashes { hashes, .. } => hashes.len().saturating_mul(32),
        _ => 0,
    };
    u64::try_from(len).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[test]
    fn a_reservation_past_the_limit_waits_until_bytes_are_released() {
        let budget = Arc::new(InFlight::new(100));
        assert!(budget.reserve(60));
        assert!(budget.reserve(40));
        let done = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (budget, done) = (budget.clone(), done.clone());
            std::thread::spawn(move || {
                let ok = budget.reserve(50);
                done.store(true, Ordering::Release);
                ok
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!done.load(Ordering::Acquire), "100 of 100 bytes reserved: 50 more must wait");
        budget.release(60);
        assert!(waiter.join().expect("the waiter"));
        assert_eq!(budget.reserved(), 90);
    }

    #[test]
    fn one_large_message_passes_alone_and_closing_frees_the_waiters() {
        let budget = Arc::new(InFlight::new(100));
        assert!(budget.reserve(1000), "nothing reserved: a large message passes");
        let waiter = {
            let budget = budget.clone();
            std::thread::spawn(move || budget.reserve(1))
        };
        budget.close();
        assert!(!waiter.join().expect("the waiter"), "a closed budget reserves nothing");
    }
}
