//! `mt get <magnet>`: turn a magnet link into a torrent by fetching its `info` dictionary
//! from peers (the link's `x.pe`, `--peer`, other `mt` processes on this host, and the
//! peers the link's trackers name).

use std::net::SocketAddr;
use std::time::Duration;

use mt::Error;
use mt::fetch::{self, FetchOptions};
use mt::magnet::MagnetLink;
use mt::metainfo::Metainfo;
use mt::registry::Registry;
use mt::types::PeerId;

use super::output::escaped;
use super::show::magnet_error;

/// How long to look for the metadata when no `--timeout` is given.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Reads `text` as a magnet link and fetches its torrent; `peers` are those from the
/// command line. Prints what it does unless `quiet`.
pub fn torrent_from_magnet(
    text: &str,
    peers: &[SocketAddr],
    port: u16,
    timeout: Option<Duration>,
    quiet: bool,
) -> Result<(Metainfo, Vec<String>), Error> {
    let link = MagnetLink::parse(text).map_err(magnet_error)?;
    let mut addrs: Vec<SocketAddr> = peers.to_vec();
    for peer in &link.peers {
        if let Ok(addr) = peer.parse::<SocketAddr>() {
            addrs.push(addr);
        }
    }
    let registry = Registry::for_user();
    if registry.check().is_ok() {
        addrs.extend(registry.lookup(link.info_hash));
    }
    if !quiet {
        let name = link.name.as_deref().map(|n| format!(" ({})", escaped(n))).unwrap_or_default();
        println!("fetching the metadata of {}{name} from peers", link.info_hash);
    }
    let options = FetchOptions {
        peers: addrs,
        trackers: link.trackers.clone(),
        peer_id: PeerId::generate(),
        port,
        timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
    };
    let info = fetch::fetch_info(link.info_hash, &options)
        .map_err(|e| Error::Network(format!("magnet link {}: {e}", link.info_hash)))?;
    let bytes = fetch::torrent_bytes(&info, &link.trackers);
    let meta = Metainfo::from_bytes(&bytes).map_err(|reason| {
        Error::Network(format!(
            "magnet link {}: the metadata is not a valid torrent: {reason}",
            link.info_hash
        ))
    })?;
    Ok((meta, link.peers))
}
