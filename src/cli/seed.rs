//! `mt seed`: verify data and serve it to the swarm until interrupted.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;

use argh::FromArgs;
use mt::Error;
use mt::metainfo::Metainfo;
use mt::registry::Registry;
use mt::session::{self, SessionConfig};
use mt::storage::IoMode;
use mt::types::PeerId;
use serde_json::json;

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
    /// address to listen on (default: all addresses)
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
    /// print one JSON object per event
    #[argh(switch)]
    json: bool,
}

/// Resolves `HOST:PORT` arguments.
pub fn resolve_peers(peers: &[String]) -> Result<Vec<SocketAddr>, Error> {
    let mut out = Vec::new();
    for text in peers {
        let addrs = text
            .to_socket_addrs()
            .map_err(|e| Error::Usage(format!("peer {text:?}: {}", mt::error::lower_io(&e))))?;
        out.extend(addrs.take(1));
    }
    Ok(out)
}

/// The address to listen on, and whether a taken port may move to the next free one.
pub fn listen_addr(bind: Option<IpAddr>, port: Option<u16>) -> (SocketAddr, bool) {
    let ip = bind.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    (SocketAddr::new(ip, port.unwrap_or(6881)), port.is_none())
}

/// Runs `mt seed`.
pub fn run(args: SeedArgs) -> Result<i32, Error> {
    let meta = Arc::new(Metainfo::load(&args.torrent)?);
    let peers = resolve_peers(&args.peers)?;
    if args.upload_slots == 0 {
        return Err(Error::Usage("--upload-slots must be at least 1".into()));
    }
    let view = View::choose(args.json);
    let total = meta.layout().total_length();
    let bar = ByteBar::start("verifying", total, progress::wanted(args.json));
    let prepared = session::open_for_seeding(&meta, &args.data, args.io, 0, bar.counter());
    bar.finish();
    let prepared = prepared?;
    let have = prepared.have.count();
    if have == 0 {
        return Err(Error::Data {
            path: prepared.root,
            reason: "no piece matches the torrent; nothing to seed".into(),
        });
    }
    let (listen, next_free_port) = listen_addr(args.bind, args.port);
    let handle = session::start(SessionConfig {
        metainfo: meta.clone(),
        storage: Arc::new(prepared.storage),
        have: prepared.have.clone(),
        listen,
        next_free_port,
        peers,
        keep_seeding: true,
        sequential: false,
        upload_slots: args.upload_slots,
        timeout: None,
        registry: Some(Registry::for_user()),
        use_trackers: true,
        peer_id: PeerId::generate(),
    })?;
    let missing = prepared.have.len() - have;
    if view == View::Json {
        json_line(&json!({
            "event": "seeding",
            "name": meta.info.name,
            "info_hash": meta.info_hash.to_hex(),
            "addr": handle.local_addr.to_string(),
            "pieces": prepared.have.len(),
            "missing_pieces": missing,
        }));
    } else {
        println!("seeding {} ({}) on {}", meta.info.name, meta.info_hash, handle.local_addr);
        if missing > 0 {
            println!(
                "warning: {missing} of {} pieces are missing or damaged; serving the rest",
                prepared.have.len()
            );
        }
        println!("press Ctrl-C to stop");
    }
    swarm_view::stop_on_ctrl_c(handle.shutdown_flag());
    let summary = swarm_view::watch(handle, view, "seeding")?;
    if view == View::Json {
        json_line(&swarm_view::stats_json("stopped", &summary.stats));
    } else {
        println!("stopped; uploaded {}", super::output::human_bytes(summary.stats.uploaded));
    }
    Ok(0)
}
