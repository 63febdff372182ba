//! Why bytes of a torrent could not be read or written: [`StorageError`], which always names
//! the file at fault. A per-piece problem for the session to handle; it becomes the fatal
//! [`Error`] only where a command gives up.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, lower_io};

/// Why some bytes could not be read or written.
#[derive(Debug)]
pub enum StorageError {
    /// The file is missing or has the wrong size, so its pieces are unavailable.
    Unavailable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A read or write failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: io::Error,
    },
    /// The mapping faulted (the file was truncated or the disk could not back a page).
    Fault {
        /// The file.
        path: PathBuf,
    },
    /// A write to storage opened for reading only.
    ReadOnly {
        /// The file.
        path: PathBuf,
    },
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Unavailable { path, reason } => write!(f, "{}: {reason}", path.display()),
            StorageError::Io { path, source } => {
                write!(f, "{}: {}", path.display(), lower_io(source))
            }
            StorageError::Fault { path } => write!(
                f,
                "{}: the file changed size while mapped (truncated by another program?)",
                path.display()
            ),
            StorageError::ReadOnly { path } => {
                write!(f, "{}: opened for reading only; cannot write", path.display())
            }
        }
    }
}

impl std::error::Error for StorageError {}

impl From<StorageError> for Error {
    fn from(err: StorageError) -> Error {
        match err {
            StorageError::Io { path, source } => Error::Io { action: "i/o error on", path, source },
            other => Error::Data { path: other.path().to_path_buf(), reason: other.reason() },
        }
    }
}

impl StorageError {
    /// The file at fault.
    pub fn path(&self) -> &Path {
        match self {
            StorageError::Unavailable { path, .. }
            | StorageError::Io { path, .. }
            | StorageError::Fault { path }
            | StorageError::ReadOnly { path } => path,
        }
    }

    fn reason(&self) -> String {
        let full = self.to_string();
        let prefix = format!("{}: ", self.path().display());
        full.strip_prefix(&prefix).unwrap_or(&full).to_string()
    }
}
