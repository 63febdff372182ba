//! `mt dht`: a standalone DHT node (a bootstrap node for a private network, or a probe), and
//! `mt dht get-peers`, which looks a torrent up once and prints the peers found. Also the
//! DHT options `seed` and `get` share (`--dht-bootstrap`, `--no-dht`), turned into a
//! [`DhtConfig`] here.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use argh::FromArgs;
use mt::Error;
use mt::dht::{DEFAULT_ROUTERS, Dht, DhtConfig, Status};
use mt::magnet::MagnetLink;
use mt::state::StateDir;
use mt::types::InfoHash;
use serde_json::json;

use super::output::json_line;
use super::swarm_view;

/// How often `mt dht` prints its figures.
const STATUS_EVERY: Duration = Duration::from_secs(2);
/// How long `get-peers` looks when no `--timeout` is given.
const GET_PEERS_TIMEOUT: Duration = Duration::from_secs(30);

/// Run a DHT node until interrupted, printing its table size, queries served and lookups.
#[derive(FromArgs)]
#[argh(subcommand, name = "dht")]
pub struct DhtArgs {
    /// port to listen on, UDP (default 6881)
    #[argh(option, short = 'p', long = "port")]
    port: Option<u16>,
    /// address to listen on (default: `::`, IPv6 and IPv4; `0.0.0.0` without IPv6)
    #[argh(option)]
    bind: Option<IpAddr>,
    /// a DHT node to bootstrap from, HOST:PORT; repeatable (default: the public routers)
    #[argh(option, long = "dht-bootstrap")]
    bootstrap: Vec<String>,
    /// bootstrap from no one: the first node of a private network
    #[argh(switch)]
    no_bootstrap: bool,
    /// print one JSON object per line
    #[argh(switch)]
    json: bool,
    #[argh(subcommand)]
    command: Option<DhtCommand>,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum DhtCommand {
    GetPeers(GetPeersArgs),
}

/// Look up a torrent's peers in the DHT once, print them and exit (1 when none is found).
#[derive(FromArgs)]
#[argh(subcommand, name = "get-peers")]
struct GetPeersArgs {
    /// the info hash (40 hex digits) or a magnet link (quote it)
    #[argh(positional)]
    target: String,
    /// a DHT node to bootstrap from, HOST:PORT; repeatable (default: the public routers)
    #[argh(option, long = "dht-bootstrap")]
    bootstrap: Vec<String>,
    /// port to send from (default: any free port)
    #[argh(option, short = 'p', long = "port")]
    port: Option<u16>,
    /// address to send from (default: `::`, IPv6 and IPv4; `0.0.0.0` without IPv6)
    #[argh(option)]
    bind: Option<IpAddr>,
    /// give up after this many seconds (default 30)
    #[argh(option)]
    timeout: Option<u64>,
    /// print one JSON object
    #[argh(switch)]
    json: bool,
}

/// Checks `--dht-bootstrap` values (`HOST:PORT`); none given means the public routers.
pub fn routers(given: &[String]) -> Result<Vec<String>, Error> {
    for router in given {
        let port = router.rsplit_once(':').and_then(|(host, port)| {
            (!host.is_empty()).then_some(port).and_then(|p| p.parse::<u16>().ok())
        });
        if port.is_none_or(|p| p == 0) {
            return Err(Error::Usage(format!("--dht-bootstrap {router:?}: expected HOST:PORT")));
        }
    }
    if given.is_empty() {
        return Ok(DEFAULT_ROUTERS.iter().map(|r| (*r).to_string()).collect());
    }
    Ok(given.to_vec())
}

/// A node configuration whose warnings go to stderr; `keep_table` saves the routing table in
/// the state folder.
pub fn config(routers: Vec<String>, keep_table: bool) -> DhtConfig {
    DhtConfig {
        bootstrap: routers,
        state_dir: keep_table.then(StateDir::for_user).flatten().map(|s| s.folder().to_path_buf()),
        warn: Box::new(|message| eprintln!("mt: warning: {message}")),
        read_only: false,
    }
}

/// A node that runs only while something waits for peers: stopping it stops its UDP thread
/// too, so the port is free again.
pub struct TemporaryNode {
    dht: Dht,
    shutdown: Arc<AtomicBool>,
    udp: std::thread::JoinHandle<()>,
}

impl TemporaryNode {
    /// Stops the node and its UDP thread, saving the table.
    pub fn stop(self) {
        self.shutdown.store(true, Ordering::Release);
        self.dht.stop();
        let _ = self.udp.join();
    }
}

/// Starts a node on `addr` (any port if that one is taken) that looks `info_hash` up again
/// and again, without announcing; the peers it finds are sent on `tx`. It lives only while
/// something waits, so it is read-only (BEP 43): nobody keeps it in a table. A node that
/// cannot start is a warning (`None`), and sends nothing.
pub fn lookup_while(
    addr: SocketAddr,
    routers: &[String],
    info_hash: InfoHash,
    tx: crossbeam_channel::Sender<Vec<SocketAddr>>,
) -> Option<TemporaryNode> {
    let shutdown = Arc::new(AtomicBool::new(false));
    let read_only =
        |keep_table| DhtConfig { read_only: true, ..config(routers.to_vec(), keep_table) };
    let started = start_node(addr, read_only(true), &shutdown).or_else(|_| {
        let any = SocketAddr::new(addr.ip(), 0);
        start_node(any, read_only(false), &shutdown)
    });
    match started {
        Ok((dht, _, udp)) => {
            dht.track(info_hash, false, move |peers| {
                let _ = tx.send(peers);
            });
            Some(TemporaryNode { dht, shutdown, udp })
        }
        Err(e) => {
            eprintln!("mt: warning: {e}; looking for the metadata without the dht");
            None
        }
    }
}

/// Binds `addr` and starts a node on it, with the UDP thread routing its datagrams.
fn start_node(
    addr: SocketAddr,
    config: DhtConfig,
    shutdown: &Arc<AtomicBool>,
) -> Result<(Dht, SocketAddr, std::thread::JoinHandle<()>), Error> {
    // `[::]` is dual-stack; on a machine without IPv6 it falls back to `0.0.0.0`.
    let bound = mt::dual_stack::bind_udp(addr).or_else(|e| {
        match mt::dual_stack::ipv4_fallback(addr.ip()).filter(|_| mt::dual_stack::no_ipv6(&e)) {
            Some(v4) => UdpSocket::bind(SocketAddr::new(v4, addr.port())),
            None => Err(e),
        }
    });
    let socket = bound.map_err(|e| {
        Error::Network(format!("cannot listen on {addr}: {}", mt::error::lower_io(&e)))
    })?;
    let local = socket.local_addr().map_err(|e| Error::Network(format!("udp socket: {e}")))?;
    let cannot = |e: std::io::Error| Error::Network(format!("cannot start the dht: {e}"));
    let sender = socket.try_clone().map_err(cannot)?;
    let dht = Dht::start(sender, config).map_err(cannot)?;
    let udp =
        mt::udp::spawn(socket, shutdown.clone(), Some(dht.inbound()), None).map_err(cannot)?;
    Ok((dht, local, udp))
}

/// Runs `mt dht`.
pub fn run(args: DhtArgs) -> Result<i32, Error> {
    if let Some(DhtCommand::GetPeers(get)) = args.command {
        return get_peers(get);
    }
    let routers = if args.no_bootstrap { Vec::new() } else { routers(&args.bootstrap)? };
    let ip = args.bind.unwrap_or(mt::dual_stack::UNSPECIFIED);
    let shutdown = Arc::new(AtomicBool::new(false));
    let (dht, local, _) = start_node(
        SocketAddr::new(ip, args.port.unwrap_or(6881)),
        config(routers, true),
        &shutdown,
    )?;
    let interrupted = swarm_view::stop_on_ctrl_c(shutdown.clone());
    let id = dht.status().map(|s| s.id.to_string()).unwrap_or_default();
    if args.json {
        json_line(&json!({"event": "listening", "addr": local.to_string(), "id": id}));
    } else {
        println!("dht node {id} listening on {local}");
    }
    let mut last = Instant::now();
    while !shutdown.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(100));
        if last.elapsed() >= STATUS_EVERY
            && let Some(status) = dht.status()
        {
            last = Instant::now();
            print_status(&status, args.json);
        }
    }
    dht.stop();
    Ok(if interrupted.load(Ordering::Acquire) { 0 } else { 1 })
}

fn print_status(status: &Status, json: bool) {
    let c = status.counters;
    if json {
        json_line(&json!({
            "event": "status",
            "nodes": status.nodes,
            "nodes6": status.nodes6,
            "buckets": status.buckets,
            "queries_served": c.queries_served,
            "queries_dropped": c.queries_dropped,
            "malformed": c.malformed,
            "lookups": c.lookups_done,
            "stored_peers": status.stored_peers,
            "pending": status.pending,
        }));
    } else {
        println!(
            "{} nodes ({} IPv6) in {} buckets, {} queries served ({} dropped), {} lookups, {} \
             stored peers",
            status.nodes,
            status.nodes6,
            status.buckets,
            c.queries_served,
            c.queries_dropped,
            c.lookups_done,
            status.stored_peers
        );
    }
}

fn get_peers(args: GetPeersArgs) -> Result<i32, Error> {
    let info_hash = if MagnetLink::looks_like(&args.target) {
        MagnetLink::parse(&args.target).map_err(super::show::magnet_error)?.info_hash
    } else {
        InfoHash::from_hex(&args.target).ok_or_else(|| {
            Error::Usage(format!(
                "{:?} is neither a 40-digit info hash nor a magnet link",
                args.target
            ))
        })?
    };
    let routers = routers(&args.bootstrap)?;
    let ip = args.bind.unwrap_or(mt::dual_stack::UNSPECIFIED);
    let shutdown = Arc::new(AtomicBool::new(false));
    // A probe that exits once its lookup ends: read-only (BEP 43), so that it does not linger
    // in the tables of the nodes it asked, where later lookups would wait on it.
    let config = DhtConfig { read_only: true, ..config(routers, false) };
    let (dht, _, _) = start_node(SocketAddr::new(ip, args.port.unwrap_or(0)), config, &shutdown)?;
    let timeout = args.timeout.map_or(GET_PEERS_TIMEOUT, Duration::from_secs);
    let result = dht.get_peers(info_hash).recv_timeout(timeout);
    shutdown.store(true, Ordering::Release);
    dht.stop();
    let Ok(found) = result else {
        return Err(Error::Network(format!("dht: the lookup of {info_hash} did not end in time")));
    };
    if args.json {
        json_line(&json!({
            "event": "peers",
            "info_hash": info_hash.to_hex(),
            "peers": found.peers.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "nodes": found.closest.len(),
            "messages": found.messages,
            "elapsed_ms": found.elapsed.as_millis(),
        }));
    } else {
        for peer in &found.peers {
            println!("{peer}");
        }
        eprintln!(
            "{} peers from the {} nearest nodes, {} queries in {:.2} s",
            found.peers.len(),
            found.closest.len(),
            found.messages,
            found.elapsed.as_secs_f64()
        );
    }
    Ok(if found.peers.is_empty() { 1 } else { 0 })
}
