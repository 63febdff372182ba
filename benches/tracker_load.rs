//! Tracker load benchmark: how many announces per second a tracker answers on loopback, over
//! UDP (BEP 15) and over HTTP, for `mt tracker` and a reference tracker in the same run.
//! `benches/tracker.sh` starts both trackers and runs this; by hand:
//!
//! ```text
//! tracker_load hashes N                      print the N test info hashes, hex, one a line
//! tracker_load [--seconds S] --target NAME,HTTP_ADDR,UDP_ADDR,PID ...
//! ```
//!
//! Every run lasts a fixed time. UDP: a few simulated clients, each one socket that connects
//! once and then keeps a window of announces outstanding. HTTP: a few threads, each making one
//! short connection per announce (HTTP/1.0, `Connection: close`). Announces spread over the
//! test torrents and many peer ids and ports, half of them seeders, so the peer table grows
//! as it would in a real swarm. Only well-formed announce replies count; refusals, timeouts
//! and broken connections are reported as errors. The first target is the one compared: the
//! last lines give its rate divided by each other target's, and every target's peak RSS.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

#[path = "tracker_load/udp.rs"]
mod udp;

use udp::{NUMWANT, PEERS, REPLY_TIMEOUT, Tally, UDP_WINDOW, peer, udp_client};

/// Test torrents announced to.
const TORRENTS: usize = 1000;
/// Simulated UDP clients.
const UDP_CLIENTS: usize = 4;
/// Threads making HTTP connections.
const HTTP_THREADS: usize = 4;

/// One tracker under test.
struct Target {
    name: String,
    http: SocketAddr,
    udp: SocketAddr,
    pid: u32,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|arg| arg != "--bench").collect();
    if args.first().map(String::as_str) == Some("hashes") {
        let count = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(TORRENTS);
        print!("{}", info_hashes(count).iter().map(|hash| hex(hash) + "\n").collect::<String>());
        return;
    }
    let (seconds, targets) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!(
                "tracker_load: {message}\nusage: tracker_load hashes N | tracker_load [--seconds S] --target NAME,HTTP_ADDR,UDP_ADDR,PID ..."
            );
            std::process::exit(2);
        }
    };
    let hashes = info_hashes(TORRENTS);
    let run = Duration::from_secs(seconds);
    println!(
        "tracker load: {seconds} s per run; {TORRENTS} torrents, {PEERS} peers, numwant {NUMWANT}; \
         udp {UDP_CLIENTS} clients x {UDP_WINDOW} outstanding; http {HTTP_THREADS} threads, \
         one connection per announce"
    );
    let mut rates = Vec::new();
    for target in &targets {
        let udp = measure(run, |stop| udp_load(target.udp, stop, &hashes));
        report(&target.name, "udp", udp, run);
        let http = measure(run, |stop| http_load(target.http, stop, &hashes));
        report(&target.name, "http", http, run);
        rates.push((per_second(udp, run), per_second(http, run)));
    }
    println!();
    if let (Some(first), Some((mine_udp, mine_http))) = (targets.first(), rates.first()) {
        for (other, (udp, http)) in targets.iter().zip(&rates).skip(1) {
            println!(
                "ratio {} / {}: udp {:.2}, http {:.2}",
                first.name,
                other.name,
                mine_udp / udp.max(f64::MIN_POSITIVE),
                mine_http / http.max(f64::MIN_POSITIVE)
            );
        }
    }
    for target in &targets {
        println!("peak rss {}: {}", target.name, peak_rss(target.pid));
    }
}

fn parse(args: &[String]) -> Result<(u64, Vec<Target>), String> {
    let mut seconds = 3;
    let mut targets = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let value = rest.next().ok_or(format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--seconds" => seconds = value.parse().map_err(|_| format!("bad --seconds {value}"))?,
            "--target" => targets.push(target(value)?),
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    if targets.is_empty() {
        return Err("give at least one --target".into());
    }
    Ok((seconds, targets))
}

fn target(text: &str) -> Result<Target, String> {
    let bad = || format!("bad --target {text}: want NAME,HTTP_ADDR,UDP_ADDR,PID");
    let parts: Vec<&str> = text.split(',').collect();
    let [name, http, udp, pid] = parts[..] else { return Err(bad()) };
    Ok(Target {
        name: name.to_string(),
        http: http.parse().map_err(|_| bad())?,
        udp: udp.parse().map_err(|_| bad())?,
        pid: pid.parse().map_err(|_| bad())?,
    })
}

/// Runs `load` for `run` and returns its tally.
fn measure(run: Duration, load: impl FnOnce(Instant) -> Tally) -> Tally {
    load(Instant::now() + run)
}

fn per_second(tally: Tally, run: Duration) -> f64 {
    // Counts stay far below 2^52, so the conversion is exact.
    #[allow(clippy::cast_precision_loss)]
    let ok = tally.ok as f64;
    ok / run.as_secs_f64()
}

fn report(name: &str, protocol: &str, tally: Tally, run: Duration) {
    println!(
        "{name:<12} {protocol:<4} {:>9.0} announces/s  ({} answered, {} errors)",
        per_second(tally, run),
        tally.ok,
        tally.errors
    );
}

/// The test torrents' info hashes: fixed, so a whitelist written earlier matches.
fn info_hashes(count: usize) -> Vec<[u8; 20]> {
    let mut rng = fastrand::Rng::with_seed(0x0074_7261_636b_6572);
    (0..count).map(|_| std::array::from_fn(|_| rng.u8(..))).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(40), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

/// Sums the tallies of `threads` copies of `work`.
fn in_parallel(threads: usize, work: impl Fn(usize) -> Tally + Sync) -> Tally {
    let work = &work;
    thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|i| scope.spawn(move || work(i))).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("load thread"))
            .fold(Tally::default(), Tally::add)
    })
}

fn udp_load(tracker: SocketAddr, stop: Instant, hashes: &[[u8; 20]]) -> Tally {
    in_parallel(UDP_CLIENTS, |client| {
        let seed = 1 + u64::try_from(client).unwrap_or(0);
        udp_client(tracker, stop, hashes, &mut fastrand::Rng::with_seed(seed))
    })
}

fn http_load(tracker: SocketAddr, stop: Instant, hashes: &[[u8; 20]]) -> Tally {
    in_parallel(HTTP_THREADS, |thread| {
        let mut rng = fastrand::Rng::with_seed(100 + u64::try_from(thread).unwrap_or(0));
        let mut tally = Tally::default();
        let mut reply = Vec::with_capacity(2048);
        while Instant::now() < stop {
            let request = http_announce(&hashes[rng.usize(..hashes.len())], rng.u32(..PEERS));
            reply.clear();
            let answered = http_exchange(tracker, &request, &mut reply).is_ok()
                && reply.starts_with(b"HTTP/1.")
                && reply.windows(10).any(|w| w == b"8:interval");
            if answered {
                tally.ok += 1;
            } else {
                tally.errors += 1;
            }
        }
        tally
    })
}

fn http_exchange(tracker: SocketAddr, request: &[u8], reply: &mut Vec<u8>) -> std::io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&tracker, REPLY_TIMEOUT)?;
    stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
    stream.set_nodelay(true)?;
    stream.write_all(request)?;
    stream.read_to_end(reply)?;
    Ok(())
}

fn http_announce(hash: &[u8; 20], n: u32) -> Vec<u8> {
    let (peer_id, port, left) = peer(n);
    let escape = |bytes: &[u8]| {
        bytes.iter().fold(String::with_capacity(60), |mut out, byte| {
            let _ = write!(out, "%{byte:02X}");
            out
        })
    };
    format!(
        "GET /announce?info_hash={}&peer_id={}&port={port}&uploaded=0&downloaded=0&left={left}\
         &compact=1&numwant={NUMWANT} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        escape(hash),
        escape(&peer_id)
    )
    .into_bytes()
}

/// The process's peak resident memory, from `/proc`.
fn peak_rss(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .map_or_else(|| "unknown".into(), |kib| kib.trim().to_string())
}
