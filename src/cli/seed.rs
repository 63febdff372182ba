//! `mt seed`: verify data and serve it to the swarm until interrupted.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use argh::FromArgs;
use mt::Error;
use mt::metainfo::Metainfo;
use mt::session;
use mt::storage::IoMode;
use serde_json::json;

use super::net::{NetOptions, parse_rate, resume_options};
use super::output::json_line;
use super::progress::{self, ByteBar};
use super::swarm_view::{self, View};

/// Serve a torrent's data to other peers (Ctrl-C to stop).
#[derive(FromArgs)]
#[argh(subcommand, name = "seed")]
pub struct SeedArgs {
    /// the .torrent file
    #[argh(positional)]
    torrent: PathBuf,
    /// the torrent's file, or its top folder
    #[argh(positional)]
    data: PathBuf,
    /// port to listen on (default 6881, or the next free one)
    #[argh(option, short = 'p', long = "port")]
    port: Option<u16>,
    /// address to listen on (default: all addresses, IPv6 and IPv4)
    #[argh(option)]
    bind: Option<IpAddr>,
    /// a peer to connect to, HOST:PORT; repeatable
    #[argh(option, long = "peer")]
    peers: Vec<String>,
    /// regular upload slots (default 8; one optimistic slot comes on top)
    #[argh(option, default = "8")]
    upload_slots: usize,
    /// storage access: auto (mmap, or pread on network filesystems), mmap or pread
    #[argh(option, default = "IoMode::Auto")]
    io: IoMode,
    /// most download payload per second for the whole process, e.g. 500K or 10M
    #[argh(option, from_str_fn(parse_rate))]
    max_down: Option<u32>,
    /// most upload payload per second for the whole process, e.g. 500K or 10M
    #[argh(option, from_str_fn(parse_rate))]
    max_up: Option<u32>,
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
    /// super-seed (BEP 16): show peers no pieces and offer each one a piece no other peer
    /// was offered, so a first seed uploads little more than one copy
    #[argh(switch)]
    super_seed: bool,
}

/// Runs `mt seed`.
pub fn run(args: SeedArgs) -> Result<i32, Error> {
    let meta = Arc::new(Metainfo::load(&args.torrent)?);
    let mut net = NetOptions::new(args.bind, args.port, &args.peers, args.upload_slots)?
        .with_limits(args.max_down, args.max_up)
        .with_dht(args.no_dht, &args.dht_bootstrap)?
        .with_lsd(args.no_lsd);
    net.super_seed = args.super_seed;
    let view = View::choose(args.json);
    let total = meta.layout().total_length();
    let bar = ByteBar::start("verifying", total, progress::wanted(args.json));
    let prepared = session::open_for_seeding(
        &meta,
        &args.data,
        args.io,
        0,
        bar.counter(),
        &resume_options(args.recheck),
    );
    bar.finish();
    let prepared = prepared?;
    let have = prepared.have.count();
    if have == 0 {
        return Err(Error::Data {
            path: prepared.root,
            reason: "no piece matches the torrent; nothing to seed".into(),
        });
    }
    let pieces = prepared.have.len();
    let hashed = prepared.hashed;
    let warning = prepared.warning.clone();
    let handle = net.start(&meta, prepared, true, false, None)?;
    let missing = pieces - have;
    let super_seed_off = (args.super_seed && missing > 0)
        .then(|| format!("--super-seed is off: it needs every piece, and {missing} are missing"));
    if view == View::Json {
        json_line(&json!({
            "event": "seeding",
            "name": meta.info.name,
            "info_hash": meta.info_hash.to_hex(),
            "addr": handle.local_addr.to_string(),
            "pieces": pieces,
            "missing_pieces": missing,
            "hashed_bytes": hashed,
        }));
        for text in warning.iter().chain(&super_seed_off) {
            json_line(&json!({ "event": "warning", "message": text }));
        }
    } else {
        println!(
            "seeding {} ({}) on {}",
            super::output::escaped(&meta.info.name),
            meta.info_hash,
            handle.local_addr
        );
        match &warning {
            Some(text) => println!("warning: {}", super::output::escaped(text)),
            None if missing > 0 => println!(
                "{missing} of {pieces} pieces are missing or damaged; fetching them from peers \
                 while serving the rest"
            ),
            None => {}
        }
        if let Some(text) = &super_seed_off {
            println!("warning: {text}");
        }
        println!("press Ctrl-C to stop");
    }
    swarm_view::stop_on_ctrl_c(handle.shutdown_flag());
    let summary = swarm_view::watch(handle, view, "seeding", (total, total))?;
    if view == View::Json {
        json_line(&swarm_view::stats_json("stopped", &summary.stats));
    } else {
        println!("stopped; uploaded {}", super::output::human_bytes(summary.stats.uploaded));
    }
    Ok(0)
}
