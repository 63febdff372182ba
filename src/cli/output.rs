//! Small formatting helpers shared by the subcommands: rates, JSON lines.

use std::time::Duration;

pub use mt::error::human_bytes;

/// Bytes per second over `elapsed`, as e.g. `1.2 GiB/s`.
pub fn rate(bytes: u64, elapsed: Duration) -> String {
    format!("{}/s", human_bytes(per_second(bytes, elapsed)))
}

/// Whole bytes per second.
// A rate is non-negative and far below u64::MAX; rounding toward zero is what we want.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn per_second(bytes: u64, elapsed: Duration) -> u64 {
    let secs = elapsed.as_secs_f64().max(1e-6);
    (bytes as f64 / secs) as u64
}

/// Prints one JSON value on its own line.
pub fn json_line(value: &serde_json::Value) {
    println!("{value}");
}
