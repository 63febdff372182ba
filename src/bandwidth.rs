//! Process-wide rate limits: a token bucket per direction, shared by every connection.
//!
//! A [`TokenBucket`] fills at its rate, in bytes of piece payload per second, up to a small
//! capacity (a fifth of a second's worth, never less than one 16 KiB block), so a transfer
//! that was held back never bursts a whole second's worth at once. Uploads take tokens
//! before each block is written; downloads take them when a request is sent, so peers are
//! paced by what we ask for rather than by TCP back-pressure on a full receive buffer.
//!
//! Invariants: the tokens never exceed the capacity; a taker may drive them below zero (a
//! block larger than what is left), and then everyone waits until the debt is paid back.
//! The one lock is held only for arithmetic, never across I/O.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The smallest capacity: one block of the usual request size.
const MIN_CAPACITY: u64 = 16 * 1024;

/// A token bucket in bytes per second, safe to share between threads.
#[derive(Debug)]
pub struct TokenBucket {
    rate: u64,
    capacity: u64,
    state: Mutex<State>,
}

/// Tokens are kept in billionths of a byte, so that refilling by the nanosecond is exact.
const SCALE: i128 = 1_000_000_000;

#[derive(Debug)]
struct State {
    /// Billionths of bytes that may move now; negative while a large take is paid back.
    tokens: i128,
    /// When `tokens` was last brought up to date.
    updated: Instant,
}

impl TokenBucket {
    /// A bucket that lets `rate` bytes per second through (at least 1), starting full.
    pub fn new(rate: u64) -> TokenBucket {
        let rate = rate.max(1);
        let capacity = (rate / 5).max(MIN_CAPACITY);
        let state = State { tokens: i128::from(capacity) * SCALE, updated: Instant::now() };
        TokenBucket { rate, capacity, state: Mutex::new(state) }
    }

    /// The rate, in bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Whole bytes that may move now (0 while in debt).
    pub fn available(&self) -> u64 {
        let mut state = self.lock();
        self.refill(&mut state, Instant::now());
        u64::try_from(state.tokens / SCALE).unwrap_or(0)
    }

    /// Takes `bytes` whatever is left (the tokens may go below zero).
    pub fn take(&self, bytes: u64) {
        let mut state = self.lock();
        self.refill(&mut state, Instant::now());
        state.tokens -= i128::from(bytes) * SCALE;
    }

    /// Takes `bytes` if they may move now; otherwise takes nothing and says how long to wait
    /// before asking again. A take larger than the capacity goes through once the bucket is
    /// full, and is paid back before anything else moves.
    pub fn try_take(&self, bytes: u64) -> Result<(), Duration> {
        let mut state = self.lock();
        self.refill(&mut state, Instant::now());
        let needed = i128::from(bytes.min(self.capacity)) * SCALE;
        if state.tokens >= needed {
            state.tokens -= i128::from(bytes) * SCALE;
            return Ok(());
        }
        // Billionths of bytes over bytes per second: nanoseconds.
        let nanos = (needed - state.tokens) / i128::from(self.rate);
        let wait = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        // At least a millisecond, so a caller that sleeps does not spin.
        Err(wait.max(Duration::from_millis(1)))
    }

    fn refill(&self, state: &mut State, now: Instant) {
        let elapsed = now.saturating_duration_since(state.updated).as_nanos();
        state.updated = now;
        let added = i128::try_from(elapsed).unwrap_or(i128::MAX / 2) * i128::from(self.rate);
        let full = i128::from(self.capacity) * SCALE;
        state.tokens = state.tokens.saturating_add(added).min(full);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is two numbers, consistent after every statement: a panic elsewhere
        // while the lock was held cannot have left it half-updated.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_lets_its_capacity_through_then_asks_to_wait() {
        let bucket = TokenBucket::new(1 << 20);
        let capacity = (1 << 20) / 5;
        assert!(bucket.try_take(capacity).is_ok());
        let wait = bucket.try_take(16 * 1024).expect_err("the bucket is empty");
        // 16 KiB at 1 MiB/s is about 15.6 ms, less what came back meanwhile.
        assert!(wait <= Duration::from_millis(16), "{wait:?}");
    }

    #[test]
    fn a_slow_bucket_still_lets_one_whole_block_through() {
        let bucket = TokenBucket::new(1000);
        assert!(bucket.try_take(16 * 1024).is_ok());
        assert_eq!(bucket.available(), 0);
        assert!(bucket.try_take(1).is_err());
    }

    #[test]
    fn a_take_beyond_what_is_left_is_a_debt_paid_before_more_moves() {
        let bucket = TokenBucket::new(100 * 1024);
        bucket.take(10 * MIN_CAPACITY);
        assert_eq!(bucket.available(), 0);
        let wait = bucket.try_take(1).expect_err("in debt");
        assert!(wait > Duration::from_secs(1), "{wait:?}");
    }

    #[test]
    fn tokens_come_back_at_the_rate() {
        let bucket = TokenBucket::new(10 << 20);
        bucket.take(bucket.available());
        std::thread::sleep(Duration::from_millis(50));
        let back = bucket.available();
        // 50 ms at 10 MiB/s is 512 KiB; the sleep may run long, the capacity caps it at 2 MiB.
        assert!((500 * 1024..=2 << 20).contains(&back), "{back}");
    }
}
