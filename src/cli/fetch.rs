//! `mt get <magnet>`: turn a magnet link into a torrent by fetching its `info` dictionary
//! from peers (the link's `x.pe`, `--peer`, other `mt` processes on this host, and the
//! peers the link's trackers name).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mt::Error;
use mt::fetch::{self, FetchOptions};
use mt::lsd::Lsd;
use mt::magnet::MagnetLink;
use mt::merkle::Node;
use mt::metainfo::{Info, Metainfo};
use mt::registry::Registry;
use mt::state::StateDir;
use mt::state::magnets::Kept;
use mt::types::PeerId;

use super::output::escaped;
use super::show::magnet_error;

/// How long to look for the metadata when no `--timeout` is given.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// A torrent made from a magnet link.
pub struct FromMagnet {
    /// The torrent, validated like a file.
    pub meta: Metainfo,
    /// Its bytes as a `.torrent` (the link's trackers included), for `--save-torrent`.
    pub torrent_bytes: Vec<u8>,
    /// The link's `x.pe` peers.
    pub peers: Vec<SocketAddr>,
    /// Where the `info` dictionary came from.
    pub metadata_from: Source,
    /// Where the piece layers came from; `None` when the torrent needs none.
    pub piece_layers_from: Option<Source>,
}

/// Where part of a magnet link's torrent came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Kept in the state folder by an earlier run.
    Kept,
    /// Fetched from peers now.
    Peers,
}

impl Source {
    /// The word for `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Kept => "kept",
            Source::Peers => "peers",
        }
    }
}

/// Reads `text` as a magnet link and fetches its torrent, or takes what an earlier run
/// fetched from the state folder; `peers` are those from the command line. Prints what it
/// does unless `quiet`; a damaged kept entry is a warning, and is fetched again.
pub fn torrent_from_magnet(
    text: &str,
    peers: &[SocketAddr],
    (bind, port): (IpAddr, u16),
    discovery: (Option<&[String]>, bool),
    timeout: Option<Duration>,
    quiet: bool,
) -> Result<FromMagnet, Error> {
    let link = MagnetLink::parse(text).map_err(magnet_error)?;
    let link_peers: Vec<SocketAddr> = link.peers.iter().filter_map(|p| p.parse().ok()).collect();
    let cache = StateDir::for_user().map(|state| state.magnets());
    let hashes = fetch::Hashes { v1: link.has_v1.then_some(link.info_hash), v2: link.info_hash_v2 };
    let mut layer_peers: Vec<SocketAddr> = [peers, &link_peers].concat();
    let kept = cache.as_ref().and_then(|cache| {
        usable(cache.load_info(link.info_hash, |info| hashes.matches(info)), "metadata", &link)
    });
    let (info, metadata_from) = match kept {
        Some(info) => {
            if !quiet {
                println!("metadata of {} found from an earlier run", link.info_hash);
            }
            (info, Source::Kept)
        }
        None => {
            let (info, source) = fetch_from_peers(
                &link,
                [peers, &link_peers].concat(),
                (bind, port),
                discovery,
                timeout,
                quiet,
            )?;
            if let Some(Err(err)) = cache.as_ref().map(|c| c.save_info(link.info_hash, &info)) {
                eprintln!("mt: warning: cannot keep the fetched metadata for next time: {err}");
            }
            layer_peers.insert(0, source);
            (info, Source::Peers)
        }
    };
    let invalid = |reason: String| {
        Error::Network(format!(
            "magnet link {}: the metadata is not a valid torrent: {reason}",
            link.info_hash
        ))
    };
    let parsed = Info::from_bytes(&info).map_err(invalid)?;
    let done = |meta, torrent_bytes, piece_layers_from| FromMagnet {
        meta,
        torrent_bytes,
        peers: link_peers.clone(),
        metadata_from,
        piece_layers_from,
    };
    if !parsed.version.has_v2() || parsed.files_with_piece_layers().is_empty() {
        let torrent_bytes = fetch::torrent_bytes(&info, &link.trackers, &[]);
        let meta = Metainfo::from_bytes(&torrent_bytes).map_err(invalid)?;
        return Ok(done(meta, torrent_bytes, None));
    }
    let kept = cache
        .as_ref()
        .and_then(|cache| usable(cache.load_layers(link.info_hash), "piece layers", &link));
    if let Some(layers) = kept {
        let torrent_bytes = fetch::torrent_bytes(&info, &link.trackers, &layers);
        match Metainfo::from_bytes(&torrent_bytes) {
            Ok(meta) => {
                if !quiet {
                    println!("piece layers of {} found from an earlier run", link.info_hash);
                }
                return Ok(done(meta, torrent_bytes, Some(Source::Kept)));
            }
            Err(reason) => eprintln!(
                "mt: warning: the kept piece layers of {} are damaged ({reason}); fetching them \
                 again",
                link.info_hash
            ),
        }
    }
    let layers = piece_layers(&link, &parsed, layer_peers, timeout, quiet)?;
    let torrent_bytes = fetch::torrent_bytes(&info, &link.trackers, &layers);
    let meta = Metainfo::from_bytes(&torrent_bytes).map_err(invalid)?;
    if let Some(Err(err)) = cache.as_ref().map(|c| c.save_layers(link.info_hash, &layers)) {
        eprintln!("mt: warning: cannot keep the fetched piece layers for next time: {err}");
    }
    Ok(done(meta, torrent_bytes, Some(Source::Peers)))
}

/// What the state folder kept of `what` for `link`, if it can be used; a damaged entry is
/// a warning.
fn usable<T>(kept: Kept<T>, what: &str, link: &MagnetLink) -> Option<T> {
    match kept {
        Kept::Found(value) => Some(value),
        Kept::Absent => None,
        Kept::Damaged(reason) => {
            eprintln!(
                "mt: warning: the kept {what} of {} is damaged ({reason}); fetching it again",
                link.info_hash
            );
            None
        }
    }
}

/// The piece layers of a v2 torrent's files longer than a piece, which its metadata lacks,
/// from `addrs` (the metadata's source first) and same-host peers.
fn piece_layers(
    link: &MagnetLink,
    parsed: &Info,
    mut addrs: Vec<SocketAddr>,
    timeout: Option<Duration>,
    quiet: bool,
) -> Result<Vec<(Node, Vec<Node>)>, Error> {
    let files = parsed.files_with_piece_layers();
    let registry = Registry::for_user();
    if registry.check().is_ok() {
        addrs.extend(registry.lookup(link.info_hash));
    }
    addrs.dedup();
    if !quiet {
        println!("fetching the piece layers of {} files from {} peers", files.len(), addrs.len());
    }
    let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
    fetch::fetch_piece_layers(parsed, link.info_hash, PeerId::generate(), &addrs, timeout)
        .map_err(|e| Error::Network(format!("magnet link {}: {e}", link.info_hash)))
}

/// Fetches the link's `info` dictionary from `addrs`, same-host peers and its trackers;
/// returns it with the peer that gave it.
fn fetch_from_peers(
    link: &MagnetLink,
    mut addrs: Vec<SocketAddr>,
    (bind, port): (IpAddr, u16),
    (dht, lsd): (Option<&[String]>, bool),
    timeout: Option<Duration>,
    quiet: bool,
) -> Result<(Vec<u8>, SocketAddr), Error> {
    // No other host hears announces from a loopback address.
    let lsd = lsd && mt::lsd::fits(SocketAddr::new(bind, port));
    let registry = Registry::for_user();
    if registry.check().is_ok() {
        addrs.extend(registry.lookup(link.info_hash));
    }
    if !quiet {
        let name = link.name.as_deref().map(|n| format!(" ({})", escaped(n))).unwrap_or_default();
        let trackers = match link.trackers.len() {
            0 => String::new(),
            n => format!(" and the peers of {n} tracker{}", if n == 1 { "" } else { "s" }),
        };
        println!(
            "fetching metadata of {}{name} from {} peer{}{trackers}{}",
            link.info_hash,
            addrs.len(),
            if addrs.len() == 1 { "" } else { "s" },
            match (dht.is_some(), lsd) {
                (true, true) => " and those the dht and local discovery find",
                (true, false) => " and those the dht finds",
                (false, true) => " and those local discovery finds",
                (false, false) => "",
            }
        );
    }
    // The DHT node runs on the port the download will listen on, and stops before it does.
    let (found_tx, found_rx) = crossbeam_channel::unbounded();
    let lookup = dht.and_then(|routers| {
        super::dht::lookup_while(
            SocketAddr::new(bind, port),
            routers,
            link.info_hash,
            found_tx.clone(),
        )
    });
    // Announcing our port makes a peer on the local network answer with its own announce.
    // Local discovery joins the IPv4 group for `[::]`.
    let lsd_bind = mt::dual_stack::ipv4_fallback(bind).unwrap_or(bind);
    let local = lsd
        .then(|| start_lsd(SocketAddr::new(lsd_bind, port), link.info_hash, &found_tx))
        .flatten();
    drop(found_tx);
    let found = (lookup.is_some() || local.is_some()).then_some(found_rx);
    let options = FetchOptions {
        peers: addrs,
        trackers: link.trackers.clone(),
        peer_id: PeerId::generate(),
        port,
        timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
        found,
        hashes: fetch::Hashes { v1: link.has_v1.then_some(link.info_hash), v2: link.info_hash_v2 },
    };
    let result = fetch::fetch_info(link.info_hash, &options);
    if let Some(node) = lookup {
        node.stop();
    }
    drop(local);
    result.map_err(|e| Error::Network(format!("magnet link {}: {e}", link.info_hash)))
}

/// Local service discovery while the metadata is fetched: peers it hears of go to `found`.
/// One that cannot start is a warning.
fn start_lsd(
    listen: SocketAddr,
    info_hash: mt::types::InfoHash,
    found: &crossbeam_channel::Sender<Vec<SocketAddr>>,
) -> Option<Lsd> {
    match Lsd::start(listen, super::net::lsd_config()) {
        Ok(lsd) => {
            let found = found.clone();
            lsd.track(info_hash, move |peers| {
                let _ = found.send(peers);
            });
            Some(lsd)
        }
        Err(e) => {
            eprintln!(
                "mt: warning: lsd: cannot join the local discovery group: {}",
                mt::error::lower_io(&e)
            );
            None
        }
    }
}
