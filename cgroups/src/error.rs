//! The crate's typed errors.

use std::path::PathBuf;

/// Errors from cgroup operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory operation failed.
    #[error("cgroup {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Invalid input, naming the field (e.g. `linux.resources.memory.limit`).
    #[error("{field}: {msg}")]
    Invalid {
        /// The spec field or argument at fault.
        field: String,
        /// What is wrong with it.
        msg: String,
    },
    /// Writing a resource value failed; names the field and the file.
    #[error("{field}: writing {value:?} to {path}: {source}")]
    Write {
        /// The spec field being applied.
        field: String,
        /// The cgroup file.
        path: PathBuf,
        /// The value written.
        value: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The host's cgroup setup cannot do what was asked.
    #[error("{0}")]
    Unsupported(String),
    /// systemd (over D-Bus) refused, failed or did not answer in time.
    #[error("{0}")]
    Systemd(String),
    /// An operation did not finish in time (e.g. freezing).
    #[error("{0}")]
    Timeout(String),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand for an [`Error::Invalid`].
pub(crate) fn invalid(field: impl Into<String>, msg: impl Into<String>) -> Error {
    Error::Invalid {
        field: field.into(),
        msg: msg.into(),
    }
}

/// Shorthand for an [`Error::Io`].
pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
    Error::Io {
        path: path.into(),
        source,
    }
}
