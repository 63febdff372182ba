//! The fatal, user-facing error: what ends a command, printed as one lowercase line.
//!
//! Each variant names the thing at fault (a path, a field, a URL, an address). Per-peer
//! trouble is deliberately *not* here: a bad peer ends that connection and is reported as a
//! session event, and there is no `From` from peer errors, so `?` cannot turn one bad peer
//! into a shutdown.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Anything that stops a command.
#[derive(Debug)]
pub enum Error {
    /// An I/O operation on a file or folder failed.
    Io {
        /// What we were doing, e.g. "cannot open".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A `.torrent` file is malformed or breaks a rule.
    Torrent {
        /// The torrent file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The data on disk does not fit the torrent (missing file, wrong size, bad symlink...).
    Data {
        /// The file or folder at fault.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// There is not enough free space for the files a download needs.
    DiskFull {
        /// The output path.
        path: PathBuf,
        /// Bytes the torrent needs that are not yet allocated.
        needed: u64,
        /// Bytes free on that filesystem.
        free: u64,
    },
    /// A network problem that stops the command (bind failed, no peers before a timeout...).
    Network(String),
    /// A command-line value is wrong.
    Usage(String),
    /// Something that cannot happen happened; the message names the broken invariant.
    Bug(&'static str),
}

impl Error {
    /// An I/O error with the action and path it happened on.
    pub fn io(action: &'static str, path: &Path, source: io::Error) -> Error {
        Error::Io { action, path: path.to_path_buf(), source }
    }

    /// The process exit code for this error: 2 for usage and input errors, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Network(_) => 1,
            _ => 2,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { action, path, source } => {
                write!(f, "{action} {}: {}", path.display(), lower_io(source))
            }
            Error::Torrent { path, reason } => {
                write!(f, "invalid torrent {}: {reason}", path.display())
            }
            Error::Data { path, reason } => write!(f, "{}: {reason}", path.display()),
            Error::DiskFull { path, needed, free } => write!(
                f,
                "not enough space for {}: needs {} more, {} free",
                path.display(),
                human_bytes(*needed),
                human_bytes(*free)
            ),
            Error::Network(message) | Error::Usage(message) => f.write_str(message),
            Error::Bug(what) => write!(f, "internal error (please report): {what}"),
        }
    }
}

impl std::error::Error for Error {}

/// The OS error text without the "(os error N)" tail, starting lowercase.
pub fn lower_io(err: &io::Error) -> String {
    let text = err.to_string();
    let text = match text.find(" (os error") {
        Some(at) => &text[..at],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Bytes in binary units with one decimal, e.g. `1.5 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut unit = 0;
    let mut whole = bytes;
    while whole >= 1024 && unit + 1 < UNITS.len() {
        whole /= 1024;
        unit += 1;
    }
    if unit == 0 {
        return format!("{bytes} B");
    }
    let exact = bytes as f64 / (1u64 << (10 * unit)) as f64;
    format!("{exact:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_read_as_one_lowercase_line() {
        let err = Error::io("cannot open", Path::new("a/b"), io::Error::from_raw_os_error(2));
        assert_eq!(err.to_string(), "cannot open a/b: no such file or directory");
    }

    #[test]
    fn human_bytes_uses_binary_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
