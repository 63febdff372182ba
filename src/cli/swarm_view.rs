//! Showing a running session: a bar on a terminal, periodic plain lines otherwise, or one
//! JSON object per event with `--json`. Shared by `mt seed` and `mt get`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use mt::Error;
use mt::session::{Event, SessionHandle, Stats, Summary};
use serde_json::{Value, json};

use super::output::{escaped, human_bytes, json_line};

/// How to show events.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// An indicatif bar (stdout is a terminal).
    Bar,
    /// A line every few seconds.
    Plain,
    /// One JSON object per event.
    Json,
}

impl View {
    /// The view for these flags.
    pub fn choose(json: bool) -> View {
        if json {
            View::Json
        } else if super::progress::wanted(false) {
            View::Bar
        } else {
            View::Plain
        }
    }
}

/// Sets `flag` on Ctrl-C (once per process).
pub fn stop_on_ctrl_c(flag: Arc<AtomicBool>) -> Arc<AtomicBool> {
    let interrupted = Arc::new(AtomicBool::new(false));
    let seen = interrupted.clone();
    let _ = ctrlc::set_handler(move || {
        seen.store(true, Ordering::Release);
        flag.store(true, Ordering::Release);
    });
    interrupted
}

/// Shows events until the session ends, then returns its result. The bar starts at
/// `have` of `total` bytes.
pub fn watch(
    handle: SessionHandle,
    view: View,
    label: &str,
    (have, total): (u64, u64),
) -> Result<Summary, Error> {
    let bar = (view == View::Bar).then(|| {
        let style = ProgressStyle::with_template(
            "{msg:>9} [{bar:30}] {percent:>3}% {bytes}/{total_bytes} eta {eta} {prefix}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        // Style and label first: setting the position draws, and a draw before the style
        // would leave indicatif's default bar on the screen.
        let bar = ProgressBar::new(total).with_style(style).with_message(label.to_string());
        bar.set_position(have);
        bar
    });
    let mut last_line = Instant::now();
    for event in handle.events.iter() {
        match view {
            View::Json => json_line(&event_json(&event)),
            View::Bar => {
                if let (Some(bar), Event::Stats(stats) | Event::Complete(stats)) = (&bar, &event) {
                    bar.set_length(stats.total_bytes);
                    bar.set_position(stats.have_bytes);
                    bar.set_prefix(rates(stats));
                } else if let Some(text) = notice(&event)
                    && let Some(bar) = &bar
                {
                    bar.println(text);
                }
            }
            View::Plain => match &event {
                Event::Stats(stats) if last_line.elapsed() >= Duration::from_secs(2) => {
                    last_line = Instant::now();
                    println!("{label} {}", progress_line(stats));
                }
                _ => {
                    if let Some(text) = notice(&event) {
                        println!("{text}");
                    }
                }
            },
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    handle.wait()
}

fn rates(stats: &Stats) -> String {
    let limit = |max: Option<u64>| match max {
        Some(max) => format!(" (max {}/s)", human_bytes(max)),
        None => String::new(),
    };
    format!(
        "↓ {}/s{} ↑ {}/s{} {} peer{}",
        human_bytes(stats.rate_down),
        limit(stats.max_down),
        human_bytes(stats.rate_up),
        limit(stats.max_up),
        stats.peers,
        if stats.peers == 1 { "" } else { "s" }
    )
}

fn progress_line(stats: &Stats) -> String {
    let percent = if stats.total_bytes == 0 {
        100.0
    } else {
        stats.have_bytes as f64 * 100.0 / stats.total_bytes as f64
    };
    format!(
        "{percent:5.1}% {}/{} {}",
        human_bytes(stats.have_bytes),
        human_bytes(stats.total_bytes),
        rates(stats)
    )
}

/// A line worth showing for an event, if any, safe for a terminal.
fn notice(event: &Event) -> Option<String> {
    raw_notice(event).map(|text| escaped(&text).into_owned())
}

fn raw_notice(event: &Event) -> Option<String> {
    Some(match event {
        Event::Listening(addr) => format!("listening on {addr}"),
        Event::TrackerReply { url, peers } => format!("tracker {url}: {peers} peers"),
        Event::TrackerFailed(reason) => format!("warning: {reason}"),
        Event::PeerBanned { addr, reason } => format!("banned peer {addr}: {reason}"),
        Event::PieceFailed { piece, from } => format!(
            "warning: piece {piece} failed its hash check (from {}); fetching it again",
            join_addrs(from)
        ),
        Event::Warning(text) => format!("warning: {text}"),
        Event::WebSeedFailed { reason, .. } => format!("warning: {reason}; trying again later"),
        Event::WebSeedDropped { url, reason } => format!("dropped web seed {url}: {reason}"),
        Event::Complete(stats) => format!("complete: {}", progress_line(stats)),
        Event::PeerConnected { .. } | Event::PeerClient { .. } | Event::PeerClosed { .. } => {
            return None;
        }
        Event::Stats(_) => return None,
    })
}

fn join_addrs(addrs: &[SocketAddr]) -> String {
    let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    if list.is_empty() { "unknown peers".into() } else { list.join(", ") }
}

/// The JSON object for an event.
pub fn event_json(event: &Event) -> Value {
    match event {
        Event::Listening(addr) => json!({ "event": "listening", "addr": addr.to_string() }),
        Event::TrackerReply { url, peers } => {
            json!({ "event": "tracker", "url": url, "peers": peers })
        }
        Event::TrackerFailed(reason) => json!({ "event": "tracker_failed", "reason": reason }),
        Event::PeerConnected { addr, outgoing } => {
            json!({ "event": "peer_connected", "addr": addr.to_string(), "outgoing": outgoing })
        }
        Event::PeerClient { addr, client } => {
            json!({ "event": "peer_client", "addr": addr.to_string(), "client": client })
        }
        Event::PeerClosed { addr, reason } => {
            json!({ "event": "peer_closed", "addr": addr.to_string(), "reason": reason })
        }
        Event::PeerBanned { addr, reason } => {
            json!({ "event": "peer_banned", "addr": addr.to_string(), "reason": reason })
        }
        Event::PieceFailed { piece, from } => json!({
            "event": "piece_failed",
            "piece": piece,
            "from": from.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }),
        Event::Warning(text) => json!({ "event": "warning", "message": text }),
        Event::WebSeedFailed { url, reason } => {
            json!({ "event": "webseed_failed", "url": url, "reason": reason })
        }
        Event::WebSeedDropped { url, reason } => {
            json!({ "event": "webseed_dropped", "url": url, "reason": reason })
        }
        Event::Stats(stats) => stats_json("stats", stats),
        Event::Complete(stats) => stats_json("complete", stats),
    }
}

/// The JSON object for a set of figures.
pub fn stats_json(name: &str, stats: &Stats) -> Value {
    json!({
        "event": name,
        "have_pieces": stats.have_pieces,
        "total_pieces": stats.total_pieces,
        "have_bytes": stats.have_bytes,
        "total_bytes": stats.total_bytes,
        "downloaded": stats.downloaded,
        "uploaded": stats.uploaded,
        "rate_down": stats.rate_down,
        "rate_up": stats.rate_up,
        "max_down": stats.max_down,
        "max_up": stats.max_up,
        "peers": stats.peers,
        "elapsed": stats.elapsed,
        "private_memory": stats.memory.private,
        "file_memory": stats.memory.file,
    })
}
