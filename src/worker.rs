//! A named thread that runs until it is told to stop: its body is handed a stop flag to check,
//! and stopping sets the flag and waits for the thread to end. Dropping the handle stops it
//! too, so a service thread never outlives its owner.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// A running thread and its stop flag.
pub struct Worker {
    shutdown: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts `body` on a thread called `name`, with the flag that asks it to stop.
    pub fn spawn(
        name: &str,
        body: impl FnOnce(&AtomicBool) + Send + 'static,
    ) -> std::io::Result<Worker> {
        let shutdown = Arc::new(AtomicBool::new(false));
        let flag = shutdown.clone();
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || body(&flag))?;
        Ok(Worker { shutdown, thread: Some(thread) })
    }

    /// Asks the thread to stop and waits until it has.
    pub fn stop(&mut self) {
        self.shutdown.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopping_ends_the_thread_and_dropping_stops_it() {
        let (ended, ended_rx) = crossbeam_channel::bounded(2);
        let body = move |stop: &AtomicBool| {
            while !stop.load(Ordering::Acquire) {
                std::thread::yield_now();
            }
            let _ = ended.send(());
        };
        let mut worker = Worker::spawn("mt-test", body.clone()).expect("spawn");
        worker.stop();
        assert!(ended_rx.try_recv().is_ok(), "stop waits for the end");
        drop(Worker::spawn("mt-test", body).expect("spawn"));
        assert!(ended_rx.try_recv().is_ok(), "drop waits for the end");
    }
}
