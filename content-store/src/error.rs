//! The store's typed errors. Messages follow containerd's wording (`<what>: <class>`) because
//! containerd clients show them to users and match on the class suffix.

use crate::digest::Digest;
use std::io;
use std::path::PathBuf;

/// The class of an error, matching containerd's errdefs classes (and so gRPC codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad input from the caller.
    InvalidArgument,
    /// No such blob or ingest.
    NotFound,
    /// The blob is already committed.
    AlreadyExists,
    /// Size or digest did not match what the writer promised.
    FailedPrecondition,
    /// The ref is locked by another writer; retry later.
    Unavailable,
    /// A write at an offset the ingest is not at.
    OutOfRange,
    /// Stored bytes no longer match their digest.
    DataLoss,
    /// Anything else (I/O).
    Internal,
}

/// Errors of the content store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed input, described in full.
    #[error("{0}: invalid argument")]
    InvalidArgument(String),
    /// No committed blob with this digest.
    #[error("content digest {0}: not found")]
    BlobNotFound(Digest),
    /// No ingest with this ref.
    #[error("ref {0:?}: not found")]
    IngestNotFound(String),
    /// The blob is already committed.
    #[error("content {0}: already exists")]
    AlreadyExists(Digest),
    /// Another writer holds the ref.
    #[error("ref {reference} locked for {held} (since {since}): unavailable")]
    Locked {
        /// The ref.
        reference: String,
        /// How long it has been held, as Go prints a duration.
        held: String,
        /// When it was taken (RFC 3339, UTC).
        since: String,
    },
    /// Committed size differs from the expected one.
    #[error("unexpected commit size {actual}, expected {expected}: failed precondition")]
    SizeMismatch {
        /// Bytes written.
        actual: u64,
        /// Bytes expected.
        expected: u64,
    },
    /// Committed digest differs from the expected one.
    #[error("unexpected commit digest {actual}, expected {expected}: failed precondition")]
    DigestMismatch {
        /// Digest of the bytes written.
        actual: Digest,
        /// Digest expected.
        expected: Digest,
    },
    /// A write at the wrong offset.
    #[error("write @{requested} must occur at current offset {current}: out of range")]
    BadOffset {
        /// Offset the client asked for.
        requested: u64,
        /// Offset the ingest is at.
        current: u64,
    },
    /// A read past the end of a blob.
    #[error("read past object length {size} bytes: out of range")]
    ReadPastEnd {
        /// Blob size.
        size: u64,
    },
    /// The bytes on disk no longer hash to the blob's name.
    #[error("content {digest} is corrupt: its {size} bytes on disk hash to {actual}: data loss")]
    Corrupt {
        /// The blob's name.
        digest: Digest,
        /// Digest of what is on disk.
        actual: Digest,
        /// Bytes on disk.
        size: u64,
    },
    /// The root cannot hold a store.
    #[error("content root {path}: {why}")]
    BadRoot {
        /// The root given.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// An I/O failure on a path.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

impl Error {
    /// The containerd error class of this error.
    pub fn kind(&self) -> Kind {
        match self {
            Error::InvalidArgument(_) | Error::BadRoot { .. } => Kind::InvalidArgument,
            Error::BlobNotFound(_) | Error::IngestNotFound(_) => Kind::NotFound,
            Error::AlreadyExists(_) => Kind::AlreadyExists,
            Error::Locked { .. } => Kind::Unavailable,
            Error::SizeMismatch { .. } | Error::DigestMismatch { .. } => Kind::FailedPrecondition,
            Error::BadOffset { .. } | Error::ReadPastEnd { .. } => Kind::OutOfRange,
            Error::Corrupt { .. } => Kind::DataLoss,
            Error::Io { .. } => Kind::Internal,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches the operation and path to an I/O error.
pub(crate) trait IoContext<T> {
    /// Wraps the error as [`Error::Io`].
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            op,
            path: path.to_owned(),
            source,
        })
    }
}
