//! The one way a test skips. [`missing`] fails the test under `CI=true`, where `.ci/run` has
//! installed every prerequisite, so a skip there would hide a test that never ran; elsewhere it
//! prints a loud `SKIPPED:` line naming the test and what it lacks, and records the skip.
//!
//! When the test binary exits, one summary line counts the tests it skipped and lists them.
//! The summary runs from an `atexit` handler, registered at the first skip: under the standard
//! test harness that is the only hook after the last test. Both lines go straight to stderr,
//! which the harness does not capture, so `make test` shows them.

use std::io::Write;
use std::sync::{Mutex, Once, PoisonError};

/// Each skipped test, with what it lacked.
static SKIPPED: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Registers [`summarise`] once.
static SUMMARY: Once = Once::new();

/// Whether the tests run under CI (`CI=true` or `CI=1`), where nothing may be skipped.
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Reports that the running test cannot run without `what` (a program, a library, root;
/// worded to follow "needs"): fails it under CI, else prints a `SKIPPED:` line, counts it for
/// the summary printed when the binary exits, and returns false so the test can return early.
pub fn missing(what: &str) -> bool {
    let test = std::thread::current().name().unwrap_or("a test").to_string();
    assert!(!on_ci(), "{test} needs {what}, which CI=true requires (.ci/run provides it)");
    let line = format!("SKIPPED: {test} needs {what}; this test did not run\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    SKIPPED.lock().unwrap_or_else(PoisonError::into_inner).push(format!("{test} needs {what}"));
    SUMMARY.call_once(|| {
        // SAFETY: `summarise` is an `extern "C" fn()` with no arguments, as `atexit` needs; it
        // touches only this module's statics, which live until the process ends. If it cannot
        // be registered the per-test lines above still show every skip.
        #[allow(unsafe_code)]
        let _ = unsafe { libc::atexit(summarise) };
    });
    false
}

/// Prints how many tests of this binary were skipped, and which, at exit.
extern "C" fn summarise() {
    let skipped = SKIPPED.lock().unwrap_or_else(PoisonError::into_inner);
    let mut text = format!("SKIPPED: {} test(s) in this test binary did not run:\n", skipped.len());
    for test in skipped.iter() {
        text.push_str("  ");
        text.push_str(test);
        text.push('\n');
    }
    let _ = std::io::stderr().write_all(text.as_bytes());
}
