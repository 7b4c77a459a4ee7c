//! Typed errors of the snapshotter, each mapping to one containerd errdefs class.

use std::path::PathBuf;

/// Everything a snapshot operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No snapshot has this key or name (containerd: not found).
    #[error("snapshot {0}: not found")]
    NotFound(String),
    /// A snapshot with this key or name exists already (containerd: already exists).
    #[error("snapshot {0}: already exists")]
    AlreadyExists(String),
    /// The snapshot is in the wrong state for the call (containerd: failed precondition).
    #[error("snapshot {key}: {reason}")]
    FailedPrecondition {
        /// Key or name the call named.
        key: String,
        /// Why the call cannot go on.
        reason: String,
    },
    /// An argument is malformed (containerd: invalid argument).
    #[error("invalid argument {field}: {reason}")]
    InvalidArgument {
        /// Which argument.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The root directory cannot be used.
    #[error("root {path}: {reason}")]
    BadRoot {
        /// The --root given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What we tried.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A layer tar entry was refused or could not be applied.
    #[error("layer entry {entry:?}: {reason}")]
    LayerEntry {
        /// The entry's path as the tar gives it.
        entry: String,
        /// Why.
        reason: String,
    },
    /// The layer stream itself (compression or tar framing) is unreadable.
    #[error("layer: {0}")]
    LayerRead(String),
    /// The metadata store failed.
    #[error("metadata store: {0}")]
    Store(String),
    /// A well-formed request this service leaves to another plugin (containerd: not
    /// implemented, on which its diff service asks the next differ).
    #[error("not handled by dm-snapshotter: {0}")]
    Unsupported(String),
}

impl Error {
    /// Shorthand for a failed precondition.
    pub fn precondition(key: &str, reason: impl Into<String>) -> Error {
        Error::FailedPrecondition {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }

    /// Shorthand for an invalid argument.
    pub fn invalid(field: &str, reason: impl Into<String>) -> Error {
        Error::InvalidArgument {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    /// Wraps an io error with the operation and path.
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}

macro_rules! store_error {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error::Store(e.to_string())
            }
        }
    )*};
}
store_error!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    serde_json::Error
);

impl From<Error> for containerd_snapshots::tonic::Status {
    fn from(e: Error) -> Self {
        use containerd_snapshots::tonic::Status;
        let msg = e.to_string();
        match e {
            Error::NotFound(_) => Status::not_found(msg),
            Error::AlreadyExists(_) => Status::already_exists(msg),
            Error::FailedPrecondition { .. } => Status::failed_precondition(msg),
            Error::InvalidArgument { .. } | Error::LayerEntry { .. } | Error::LayerRead(_) => {
                Status::invalid_argument(msg)
            }
            Error::BadRoot { .. } | Error::Io { .. } | Error::Store(_) => Status::internal(msg),
            Error::Unsupported(_) => Status::unimplemented(msg),
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
