//! Web seeds (BEP 19, `url-list`; a magnet link's `ws`): where each file of a torrent lives
//! on an HTTP or HTTPS server, and fetching a run of the torrent's byte stream from one with
//! range requests.
//!
//! A single-file torrent's URL names the file itself, or, ending in `/`, the folder that holds
//! a file called by the torrent's name. A multi-file torrent's URL names the folder that holds
//! the torrent's top folder: a file's URL is the base, `/`, the name, then each path component,
//! percent-encoded. A run of the stream that crosses files becomes one range request per file;
//! the bytes of BEP 47 pad files are zeros and are never requested.
//!
//! This module decides nothing about when to fetch or whom to trust: the session checks every
//! piece's hash as it does for peers. Its errors name the URL and are for one server only.

use std::fmt;
use std::io::Read;
use std::ops::Range;
use std::time::Duration;

use crate::layout::Layout;
use crate::metainfo::Info;

/// How long connecting, or any one read (the response's head or a part of its body), may
/// take before the server counts as hanging.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a fetch from a web seed failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebSeedError {
    /// The URL cannot be used (not http or https).
    BadUrl(String),
    /// Connecting, sending or receiving failed, or timed out.
    Network {
        /// The file's URL.
        url: String,
        /// What happened, lowercase.
        reason: String,
    },
    /// The server answered with a status other than 206 (or 200 for a range from 0).
    Status {
        /// The file's URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The body was shorter or longer than the range asked for.
    Length {
        /// The file's URL.
        url: String,
        /// Bytes asked for.
        want: u64,
    },
}

impl fmt::Display for WebSeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebSeedError::BadUrl(url) => write!(f, "web seed {url}: not an http or https url"),
            WebSeedError::Network { url, reason } => write!(f, "web seed {url}: {reason}"),
            WebSeedError::Status { url, status } => {
                write!(f, "web seed {url}: http status {status} to a range request")
            }
            WebSeedError::Length { url, want } => {
                write!(f, "web seed {url}: the reply is not the {want} bytes asked for")
            }
        }
    }
}

impl std::error::Error for WebSeedError {}

/// Whether `url` can be a web seed: http or https.
pub fn usable(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The URL of file `file` of the torrent on the web seed `base` (BEP 19).
pub fn file_url(base: &str, info: &Info, file: usize) -> String {
    if !info.is_multi_file() {
        return match base.ends_with('/') {
            true => format!("{base}{}", encode(&info.name)),
            false => base.to_string(),
        };
    }
    let mut url = base.to_string();
    if !url.ends_with('/') {
        url.push('/');
    }
    url.push_str(&encode(&info.name));
    for component in info.files.get(file).map(|f| f.path.as_slice()).unwrap_or_default() {
        url.push('/');
        url.push_str(&encode(component));
    }
    url
}

/// Percent-encodes every byte but the unreserved ones of RFC 3986.
fn encode(component: &str) -> String {
    let mut out = String::with_capacity(component.len());
    for byte in component.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// An HTTP client for web seeds: keeps connections to a server open between requests, and
/// gives up on a server that stalls for [`STALL_TIMEOUT`].
pub struct Fetcher {
    agent: ureq::Agent,
}

impl Default for Fetcher {
    fn default() -> Self {
        Fetcher::new()
    }
}

impl Fetcher {
    /// A client with the stall timeouts.
    pub fn new() -> Fetcher {
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(STALL_TIMEOUT))
            .timeout_per_read(Some(STALL_TIMEOUT))
            .timeout_per_write(Some(STALL_TIMEOUT))
            .http_status_as_error(false)
            .user_agent(concat!("mt/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Fetcher { agent }
    }

    /// The bytes `range` of the torrent's stream from the web seed `base`, cut into parts of
    /// `lengths` (which add up to the range's length, as a run's blocks do), so that each
    /// part is read straight into its own buffer: one range request per file the run
    /// touches, zeros for pad files.
    pub fn fetch(
        &self,
        base: &str,
        info: &Info,
        layout: &Layout,
        range: Range<u64>,
        lengths: &[usize],
    ) -> Result<Vec<Vec<u8>>, WebSeedError> {
        if !usable(base) {
            return Err(WebSeedError::BadUrl(base.to_string()));
        }
        let want = range.end.saturating_sub(range.start);
        if lengths.iter().map(|&n| n as u64).sum::<u64>() != want {
            return Err(WebSeedError::Length { url: base.to_string(), want });
        }
        let mut parts = Parts::new(lengths);
        for slice in layout.slices(range) {
            if layout.is_virtual(slice.file) {
                parts.skip(slice.length); // pad files are zeros, already there
                continue;
            }
            let url = file_url(base, info, slice.file);
            self.fetch_file_range(&url, slice.offset, slice.length, &mut parts)?;
        }
        Ok(parts.buffers)
    }

    /// Reads `want` bytes of `url` from `offset` into the next bytes of `parts`.
    fn fetch_file_range(
        &self,
        url: &str,
        offset: u64,
        want: u64,
        parts: &mut Parts,
    ) -> Result<(), WebSeedError> {
        let last = offset + want.saturating_sub(1);
        let network = |err: ureq::Error| WebSeedError::Network {
            url: url.to_string(),
            reason: describe(&err),
        };
        let mut reply = self
            .agent
            .get(url)
            .header("Range", &format!("bytes={offset}-{last}"))
            .call()
            .map_err(network)?;
        let status = reply.status().as_u16();
        // A server that ignores ranges answers 200 with the whole file: usable from 0 only.
        if !(status == 206 || (status == 200 && offset == 0)) {
            return Err(WebSeedError::Status { url: url.to_string(), status });
        }
        let mut body = reply.body_mut().as_reader();
        let short = || WebSeedError::Length { url: url.to_string(), want };
        let mut left = want;
        while left > 0 {
            let Some(space) = parts.space(left) else { return Err(short()) };
            body.read_exact(space).map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => short(),
                _ => WebSeedError::Network {
                    url: url.to_string(),
                    reason: crate::error::lower_io(&e),
                },
            })?;
            let read = space.len() as u64;
            parts.skip(read);
            left -= read;
        }
        // A 206 must hold exactly the range; a 200 may go on with the rest of the file.
        if status == 206 && body.read(&mut [0; 1]).map_err(|_| short())? != 0 {
            return Err(short());
        }
        Ok(())
    }
}

/// Buffers of given lengths filled in order, as one run of bytes.
struct Parts {
    buffers: Vec<Vec<u8>>,
    /// The buffer being filled, and how much of it is.
    index: usize,
    at: usize,
}

impl Parts {
    fn new(lengths: &[usize]) -> Parts {
        Parts { buffers: lengths.iter().map(|&n| vec![0; n]).collect(), index: 0, at: 0 }
    }

    /// The unfilled rest of the current buffer, at most `max` bytes; `None` once all are full.
    fn space(&mut self, max: u64) -> Option<&mut [u8]> {
        self.settle();
        let buffer = self.buffers.get_mut(self.index)?;
        let len = (buffer.len() - self.at).min(usize::try_from(max).unwrap_or(usize::MAX));
        buffer.get_mut(self.at..self.at + len)
    }

    /// Counts `n` more bytes as filled.
    fn skip(&mut self, mut n: u64) {
        while n > 0 {
            self.settle();
            let Some(buffer) = self.buffers.get(self.index) else { return };
            let step = ((buffer.len() - self.at) as u64).min(n);
            self.at += usize::try_from(step).unwrap_or(0);
            n -= step;
        }
    }

    /// Moves past full buffers.
    fn settle(&mut self) {
        while self.buffers.get(self.index).is_some_and(|b| self.at >= b.len()) {
            self.index += 1;
            self.at = 0;
        }
    }
}

/// A short lowercase description of a ureq error.
fn describe(err: &ureq::Error) -> String {
    match err {
        ureq::Error::Io(io) => crate::error::lower_io(io),
        ureq::Error::Timeout(_) => "timed out".to_string(),
        ureq::Error::HostNotFound => "host not found".to_string(),
        ureq::Error::ConnectionFailed => "connection failed".to_string(),
        other => other.to_string().to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metainfo::FileEntry;

    fn info(name: &str, paths: &[&[&str]]) -> Info {
        Info {
            name: name.into(),
            piece_length: 16384,
            pieces: vec![[0; 20]],
            files: paths
                .iter()
                .map(|p| FileEntry::new(p.iter().map(|s| (*s).to_string()).collect(), 1))
                .collect(),
            private: false,
            version: crate::metainfo::MetaVersion::V1,
        }
    }

    #[test]
    fn a_single_file_url_is_the_file_or_its_folder() {
        let single = info("a b.iso", &[&[]]);
        assert_eq!(file_url("http://h/x/a.iso", &single, 0), "http://h/x/a.iso");
        assert_eq!(file_url("http://h/x/", &single, 0), "http://h/x/a%20b.iso");
    }

    #[test]
    fn a_multi_file_url_adds_the_name_and_the_encoded_path() {
        let multi = info("top", &[&["disc", "01 intro.wav"], &["r&d.txt"]]);
        assert_eq!(file_url("http://h/m", &multi, 0), "http://h/m/top/disc/01%20intro.wav");
        assert_eq!(file_url("http://h/m/", &multi, 1), "http://h/m/top/r%26d.txt");
    }

    #[test]
    fn only_http_and_https_are_usable() {
        assert!(usable("http://h/f") && usable("HTTPS://h/f"));
        assert!(!usable("ftp://h/f") && !usable("/etc/passwd"));
    }

    #[test]
    fn parts_fill_in_order_across_buffers() {
        let mut parts = Parts::new(&[3, 0, 2]);
        parts.space(2).expect("room")[..].copy_from_slice(b"ab");
        parts.skip(2);
        let rest = parts.space(10).expect("room");
        assert_eq!(rest.len(), 1, "only the first buffer's last byte");
        rest.copy_from_slice(b"c");
        parts.skip(1);
        parts.skip(1); // a pad byte: stays zero
        parts.space(1).expect("room").copy_from_slice(b"e");
        parts.skip(1);
        assert!(parts.space(1).is_none());
        assert_eq!(parts.buffers, vec![b"abc".to_vec(), Vec::new(), vec![0, b'e']]);
    }
}
