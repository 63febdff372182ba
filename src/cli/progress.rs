//! Progress bars for long work: an indicatif bar on a terminal, nothing otherwise.
//!
//! The engine only bumps an atomic counter; a small named thread here polls it and draws.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// True when progress may be drawn: stdout is a terminal and output is not JSON.
pub fn wanted(json: bool) -> bool {
    !json && std::io::stdout().is_terminal()
}

/// A byte-count bar fed by an atomic counter.
pub struct ByteBar {
    counter: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ByteBar {
    /// Starts drawing `label` over `total` bytes when `enabled`; otherwise only counts.
    pub fn start(label: &str, total: u64, enabled: bool) -> ByteBar {
        let counter = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let thread = enabled.then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{msg:>9} [{bar:32}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_message(label.to_string());
            let (counter, done) = (counter.clone(), done.clone());
            std::thread::Builder::new()
                .name("mt-progress".into())
                .spawn(move || {
                    while !done.load(Ordering::Acquire) {
                        bar.set_position(counter.load(Ordering::Relaxed));
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    bar.finish_and_clear();
                })
                .ok()
        });
        ByteBar { counter, done, thread: thread.flatten() }
    }

    /// The counter the engine adds to.
    pub fn counter(&self) -> &AtomicU64 {
        &self.counter
    }

    /// Removes the bar.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.done.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ByteBar {
    fn drop(&mut self) {
        self.stop();
    }
}
