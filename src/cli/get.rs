//! `mt get` (also `mt download`): fetch a torrent's data, verifying every piece, resuming
//! from whatever is already on disk.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use argh::FromArgs;
use mt::Error;
use mt::create::write_atomically;
use mt::magnet::MagnetLink;
use mt::metainfo::Metainfo;
use mt::selection::{self, Selection};
use mt::session::{self, SeedLimits};
use mt::storage::IoMode;
use serde_json::json;

use super::fetch;
use super::net::{NetOptions, parse_duration, parse_rate, parse_ratio, resume_options};
use super::output::{escaped, escaped_path, human_bytes, json_line, rate};
use super::progress::{self, ByteBar};
use super::swarm_view::{self, View};

/// Download a torrent's data (resumes from what is already on disk).
#[derive(FromArgs)]
#[argh(subcommand, name = "get")]
pub struct GetArgs {
    /// the .torrent file, or a magnet link (quote it)
    #[argh(positional)]
    torrent: PathBuf,
    /// where the data goes: the file or top folder (an existing folder holds a single file);
    /// default: the torrent's name in the current folder
    #[argh(positional)]
    out: Option<PathBuf>,
    /// port to listen on (default 6881, or the next free one)
    #[argh(option, short = 'p', long = "port")]
    port: Option<u16>,
    /// address to listen on (default: all addresses, IPv6 and IPv4)
    #[argh(option)]
    bind: Option<IpAddr>,
    /// a peer to connect to, HOST:PORT; repeatable
    #[argh(option, long = "peer")]
    peers: Vec<String>,
    /// keep seeding after the download completes
    #[argh(switch)]
    seed: bool,
    /// with --seed: stop seeding once uploaded reaches this many times the selected size
    #[argh(option, from_str_fn(parse_ratio))]
    ratio: Option<f64>,
    /// with --seed: stop seeding this long after completing, e.g. 30m, 2h, 45s
    #[argh(option, from_str_fn(parse_duration))]
    seed_time: Option<Duration>,
    /// fetch pieces in order (for playing while downloading)
    #[argh(switch)]
    sequential: bool,
    /// storage access: auto (mmap, or pread on network filesystems), mmap or pread
    #[argh(option, default = "IoMode::Auto")]
    io: IoMode,
    /// give up after this many seconds without completing (exit 1)
    #[argh(option)]
    timeout: Option<u64>,
    /// regular upload slots (default 8)
    #[argh(option, default = "8")]
    upload_slots: usize,
    /// with a magnet link: also write its torrent (trackers included) to this file
    #[argh(option)]
    save_torrent: Option<PathBuf>,
    /// most download payload per second for the whole process, e.g. 500K or 10M
    #[argh(option, from_str_fn(parse_rate))]
    max_down: Option<u32>,
    /// most upload payload per second for the whole process, e.g. 500K or 10M
    #[argh(option, from_str_fn(parse_rate))]
    max_up: Option<u32>,
    /// download only the files whose path inside the torrent (without its top folder)
    /// matches this glob (`*` within a folder, `**` across); repeatable
    #[argh(option)]
    only: Vec<String>,
    /// download only these files, by the index `mt show` gives them, e.g. 0,3-5
    #[argh(option)]
    files: Option<String>,
    /// do not download from the torrent's web seeds (url-list) or a magnet link's `ws`
    #[argh(switch)]
    no_webseed: bool,
    /// a DHT node to bootstrap from, HOST:PORT; repeatable (default: the public routers)
    #[argh(option, long = "dht-bootstrap")]
    dht_bootstrap: Vec<String>,
    /// do not use the DHT
    #[argh(switch)]
    no_dht: bool,
    /// do not use local service discovery (BEP 14 multicast on the local network)
    #[argh(switch)]
    no_lsd: bool,
    /// print one JSON object per event
    #[argh(switch)]
    json: bool,
    /// hash all data at start, whatever the resume record from an earlier run says
    #[argh(switch)]
    recheck: bool,
    /// cut an existing output file that is longer than the torrent says (refused otherwise)
    #[argh(switch)]
    force: bool,
}

/// Runs `mt get`.
pub fn run(args: GetArgs) -> Result<i32, Error> {
    let mut net = NetOptions::new(args.bind, args.port, &args.peers, args.upload_slots)?
        .with_limits(args.max_down, args.max_up)
        .with_dht(args.no_dht, &args.dht_bootstrap)?
        .with_lsd(args.no_lsd);
    let timeout = args.timeout.map(Duration::from_secs);
    if !args.seed && (args.ratio.is_some() || args.seed_time.is_some()) {
        return Err(Error::Usage("--ratio and --seed-time need --seed".into()));
    }
    let mut indexes = match &args.files {
        Some(text) => selection::parse_indexes(text).map_err(|e| Error::Usage(e.to_string()))?,
        None => Vec::new(),
    };
    let meta = match args.torrent.to_str().filter(|text| MagnetLink::looks_like(text)) {
        Some(text) => {
            // The trackers asked for peers need a real port: pick a free one now for `-p 0`.
            let v4 = mt::dual_stack::ipv4_fallback(net.listen.ip());
            if net.listen.port() == 0
                && let Ok(probe) = mt::dual_stack::bind_tcp(net.listen)
                    .or_else(|e| v4.map_or(Err(e), |ip| std::net::TcpListener::bind((ip, 0))))
                && let Ok(addr) = probe.local_addr()
            {
                net.listen.set_port(addr.port());
            }
            let port = net.listen.port();
            let listen = (net.listen.ip(), port);
            let discovery = (net.dht.as_deref(), net.lsd);
            let fetched = fetch::torrent_from_magnet(
                text, &net.peers, listen, discovery, timeout, args.json,
            )?;
            net.peers.extend(fetched.peers);
            if let Some(path) = &args.save_torrent {
                write_atomically(path, &fetched.torrent_bytes, true)?;
            }
            let (metadata_from, piece_layers_from) =
                (fetched.metadata_from, fetched.piece_layers_from);
            let mut meta = fetched.meta;
            // The link's web seeds (`ws`) join those the torrent names.
            if let Ok(link) = MagnetLink::parse(text) {
                // Its `so=` selects files, unless --files or --only say otherwise (BEP 53).
                if let Some(so) =
                    link.select_only.filter(|_| indexes.is_empty() && args.only.is_empty())
                {
                    indexes = selection::parse_indexes(&so)
                        .map_err(|e| Error::Usage(format!("magnet link so=: {e}")))?;
                }
                for url in link.web_seeds {
                    if !meta.web_seeds.contains(&url) {
                        meta.web_seeds.push(url);
                    }
                }
            }
            if args.json {
                json_line(&json!({
                    "event": "metadata",
                    "name": meta.info.name,
                    "info_hash": meta.info_hash.to_hex(),
                    "metadata_from": metadata_from.as_str(),
                    "piece_layers_from": piece_layers_from.map(fetch::Source::as_str),
                }));
            }
            Arc::new(meta)
        }
        None if args.save_torrent.is_some() => {
            return Err(Error::Usage("--save-torrent needs a magnet link".into()));
        }
        None => Arc::new(Metainfo::load(&args.torrent)?),
    };
    let selected = Selection::choose(&meta.info, &args.only, &indexes)
        .map_err(|e| Error::Usage(e.to_string()))?;
    net.wanted = selected.as_ref().map(|s| s.pieces(meta.layout()));
    let view = View::choose(args.json);
    let total = meta.layout().total_length();
    let bar = ByteBar::start("checking", total, progress::wanted(args.json));
    // The name is one safe path component: metainfo refuses names with separators or dots.
    let out = args.out.unwrap_or_else(|| PathBuf::from(&meta.info.name));
    let prepared = session::open_for_download(
        &meta,
        &out,
        args.io,
        args.force,
        bar.counter(),
        &resume_options(args.recheck),
        selected.as_ref(),
    );
    bar.finish();
    let prepared = prepared?;
    if let Some(text) = &prepared.warning {
        eprintln!("warning: {}", super::output::escaped(text));
    }
    let already = prepared.have.count();
    let pieces = prepared.have.len();
    let hashed = prepared.hashed;
    let layout = meta.layout();
    let wanted = |p: &u32| net.wanted.as_ref().is_none_or(|w| w.get(*p));
    let total: u64 =
        layout.pieces().filter(|p| wanted(&p.0)).map(|p| u64::from(layout.piece_len(p))).sum();
    let have_bytes: u64 = prepared
        .have
        .iter_set()
        .filter(wanted)
        .filter_map(|p| layout.piece(p))
        .map(|p| u64::from(layout.piece_len(p)))
        .sum();
    let root = prepared.root.clone();
    if !args.no_webseed {
        net.web_seeds = meta.web_seeds.clone();
    }
    net.seed_limits = SeedLimits { ratio: args.ratio, time: args.seed_time };
    let handle = net.start(&meta, prepared, args.seed, args.sequential, timeout)?;
    if view == View::Json {
        json_line(&json!({
            "event": "started",
            "name": meta.info.name,
            "info_hash": meta.info_hash.to_hex(),
            "output": root.display().to_string(),
            "addr": handle.local_addr.to_string(),
            "pieces": pieces,
            "have_pieces": already,
            "hashed_bytes": hashed,
        }));
    } else {
        println!(
            "downloading {} ({}) to {}",
            escaped(&meta.info.name),
            meta.info_hash,
            escaped_path(&root)
        );
        if already > 0 {
            println!("resuming: {already} of {pieces} pieces already on disk");
        }
    }
    let interrupted = swarm_view::stop_on_ctrl_c(handle.shutdown_flag());
    let summary = swarm_view::watch(handle, view, "get", (have_bytes, total))?;
    let stats = &summary.stats;
    let elapsed = Duration::from_secs_f64(stats.elapsed);
    if view == View::Json {
        let mut done = swarm_view::stats_json("done", stats);
        done["complete"] = json!(summary.complete);
        done["peak_private_memory"] = json!(summary.peak_private_memory);
        json_line(&done);
    } else if summary.complete {
        println!(
            "done: {} in {:.1} s ({}), peak private memory {}",
            human_bytes(stats.downloaded),
            stats.elapsed,
            rate(stats.downloaded, elapsed),
            human_bytes(summary.peak_private_memory)
        );
    }
    if summary.complete {
        return Ok(0);
    }
    if interrupted.load(std::sync::atomic::Ordering::Acquire) {
        eprintln!(
            "mt: interrupted with {} of {} pieces; run the same command to resume",
            stats.have_pieces, stats.total_pieces
        );
    }
    Ok(1)
}
