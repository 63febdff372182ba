//! What `mt seed` and `mt get` share: their network options, turned into a session.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use mt::Error;
use mt::bandwidth::TokenBucket;
use mt::lsd::LsdConfig;
use mt::metainfo::Metainfo;
use mt::registry::Registry;
use mt::session::{
    self, Limits, Prepared, ResumeOptions, SeedLimits, SessionConfig, SessionHandle,
};
use mt::state::StateDir;
use mt::types::PeerId;

/// The network options of `seed` and `get`, validated.
pub struct NetOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Whether a taken port may move to the next free one (no port was given).
    pub next_free_port: bool,
    /// Peers named on the command line.
    pub peers: Vec<SocketAddr>,
    /// Regular upload slots.
    pub upload_slots: usize,
    /// `--max-down` and `--max-up`.
    pub limits: Limits,
    /// Web seeds to download from.
    pub web_seeds: Vec<String>,
    /// The DHT's bootstrap routers, or `None` with `--no-dht`.
    pub dht: Option<Vec<String>>,
    /// Local service discovery, unless `--no-lsd`.
    pub lsd: bool,
    /// The pieces of the selected files, when only some are.
    pub wanted: Option<mt::bitfield::Bitfield>,
    /// `--ratio` and `--seed-time`.
    pub seed_limits: SeedLimits,
    /// Super-seeding (BEP 16, `mt seed --super-seed`).
    pub super_seed: bool,
}

/// Parses a duration such as `30m`, `2h`, `45s` or `90` (seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last() {
        Some((at, 's')) => (&text[..at], 1),
        Some((at, 'm')) => (&text[..at], 60),
        Some((at, 'h')) => (&text[..at], 3600),
        _ => (text, 1),
    };
    let value: u64 = digits.parse().map_err(|_| format!("cannot read duration {text:?}"))?;
    value
        .checked_mul(unit)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("duration {text:?} is too long"))
}

/// Parses a seeding ratio: a number above zero.
pub fn parse_ratio(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(ratio) if ratio.is_finite() && ratio > 0.0 => Ok(ratio),
        _ => Err(format!("ratio {text:?} must be a number above zero")),
    }
}

/// Parses a rate such as `500K` or `10M` (bytes per second, binary units, like `-p`); zero
/// is refused.
pub fn parse_rate(text: &str) -> Result<u32, String> {
    match super::create::parse_size(text)? {
        0 => Err(format!("rate {text:?} must be more than zero")),
        bytes => Ok(bytes),
    }
}

impl NetOptions {
    /// Checks `--bind`, `-p`, `--peer` and `--upload-slots`.
    pub fn new(
        bind: Option<IpAddr>,
        port: Option<u16>,
        peers: &[String],
        upload_slots: usize,
    ) -> Result<NetOptions, Error> {
        if upload_slots == 0 {
            return Err(Error::Usage("--upload-slots must be at least 1".into()));
        }
        // `[::]` is bound dual-stack, or as `0.0.0.0` on a machine without IPv6.
        let ip = bind.unwrap_or(mt::dual_stack::UNSPECIFIED);
        Ok(NetOptions {
            listen: SocketAddr::new(ip, port.unwrap_or(6881)),
            next_free_port: port.is_none(),
            peers: resolve_peers(peers)?,
            upload_slots,
            limits: Limits::default(),
            web_seeds: Vec::new(),
            dht: None,
            lsd: true,
            wanted: None,
            seed_limits: SeedLimits::default(),
            super_seed: false,
        })
    }

    /// Adds the process-wide rate limits, in bytes per second.
    pub fn with_limits(mut self, max_down: Option<u32>, max_up: Option<u32>) -> NetOptions {
        let bucket = |rate: u32| Arc::new(TokenBucket::new(u64::from(rate)));
        self.limits = Limits { down: max_down.map(bucket), up: max_up.map(bucket) };
        self
    }

    /// Adds the DHT options: `--no-dht`, or the routers of `--dht-bootstrap` (the public
    /// ones when none is given).
    pub fn with_dht(mut self, no_dht: bool, bootstrap: &[String]) -> Result<NetOptions, Error> {
        if no_dht && !bootstrap.is_empty() {
            return Err(Error::Usage("--no-dht and --dht-bootstrap contradict each other".into()));
        }
        self.dht = if no_dht { None } else { Some(super::dht::routers(bootstrap)?) };
        Ok(self)
    }

    /// Adds `--no-lsd`.
    pub fn with_lsd(mut self, no_lsd: bool) -> NetOptions {
        self.lsd = !no_lsd;
        self
    }

    /// Starts a session over prepared data.
    pub fn start(
        self,
        meta: &Arc<Metainfo>,
        prepared: Prepared,
        keep_seeding: bool,
        sequential: bool,
        timeout: Option<Duration>,
    ) -> Result<SessionHandle, Error> {
        let registry = Registry::for_user();
        let registry = match registry.check() {
            Ok(()) => Some(registry),
            Err(err) => {
                eprintln!("mt: warning: {err}; same-host discovery is off");
                None
            }
        };
        session::start(SessionConfig {
            metainfo: meta.clone(),
            storage: Arc::new(prepared.storage),
            resume: prepared.resume,
            have: prepared.have,
            unsynced: prepared.unsynced,
            listen: self.listen,
            next_free_port: self.next_free_port,
            peers: self.peers,
            keep_seeding,
            sequential,
            upload_slots: self.upload_slots,
            timeout,
            registry,
            use_trackers: true,
            peer_id: PeerId::generate(),
            limits: self.limits,
            web_seeds: self.web_seeds,
            dht: self.dht.map(|routers| super::dht::config(routers, true)),
            lsd: self.lsd.then(lsd_config),
            wanted: self.wanted,
            seed_limits: self.seed_limits,
            super_seed: self.super_seed,
        })
    }
}

/// A local service discovery configuration whose warnings go to stderr, and its debug lines
/// too when `MT_DEBUG` is set.
pub fn lsd_config() -> LsdConfig {
    LsdConfig {
        warn: Box::new(|message| eprintln!("mt: warning: {message}")),
        debug: Box::new(|message| {
            if std::env::var_os("MT_DEBUG").is_some_and(|v| !v.is_empty()) {
                eprintln!("mt: debug: {message}");
            }
        }),
    }
}

/// Resume records in this user's state folder; `recheck` hashes everything at start anyway.
pub fn resume_options(recheck: bool) -> ResumeOptions {
    ResumeOptions { state: StateDir::for_user(), recheck }
}

/// Resolves `HOST:PORT` arguments.
fn resolve_peers(peers: &[String]) -> Result<Vec<SocketAddr>, Error> {
    let mut out = Vec::new();
    for text in peers {
        let addrs = text
            .to_socket_addrs()
            .map_err(|e| Error::Usage(format!("peer {text:?}: {}", mt::error::lower_io(&e))))?;
        out.extend(addrs.take(1));
    }
    Ok(out)
}
