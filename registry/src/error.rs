//! The registry's typed errors, each carrying the distribution-spec error code and HTTP status
//! a client sees for it.

use dm_content::Digest;
use http::StatusCode;
use std::path::PathBuf;

/// Errors of the registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The blob is not in the repository.
    #[error("blob {0} unknown to the repository")]
    BlobUnknown(Digest),
    /// No upload session with this id in the repository.
    #[error("upload {0:?} unknown")]
    UploadUnknown(String),
    /// The upload request was malformed or its body broke off.
    #[error("upload invalid: {0}")]
    UploadInvalid(String),
    /// A digest parameter is malformed or does not match the content.
    #[error("digest invalid: {0}")]
    DigestInvalid(String),
    /// A manifest references a blob or manifest the repository does not have.
    #[error("manifest references {0}, unknown to the repository")]
    ManifestBlobUnknown(Digest),
    /// The manifest is not valid JSON of an accepted media type.
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    /// No manifest with this tag or digest in the repository.
    #[error("manifest {0:?} unknown")]
    ManifestUnknown(String),
    /// The repository name (or a tag) is malformed.
    #[error("invalid name: {0}")]
    NameInvalid(String),
    /// The repository does not exist.
    #[error("repository {0:?} unknown")]
    NameUnknown(String),
    /// A length does not match the content.
    #[error("size invalid: {0}")]
    SizeInvalid(String),
    /// A body is over the configured limit.
    #[error("{what} exceeds the limit of {limit} bytes")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A Range or Content-Range the content cannot satisfy; `current` is the valid extent.
    #[error("range invalid: {why}")]
    RangeInvalid {
        /// What is wrong.
        why: String,
        /// Bytes the upload or blob holds, reported back to the client.
        current: u64,
        /// Whether this is about an upload (Range header) or a blob read (Content-Range).
        upload: bool,
    },
    /// A query parameter is malformed.
    #[error("invalid parameter {name}: {why}")]
    Parameter {
        /// The parameter.
        name: &'static str,
        /// What is wrong.
        why: String,
    },
    /// The client did not authenticate.
    #[error("authentication required")]
    Unauthorized {
        /// The `WWW-Authenticate` challenge to send.
        challenge: String,
    },
    /// The client is authenticated but lacks the access.
    #[error("requested access to the resource is denied")]
    Denied,
    /// The operation is not supported (or the route does not exist).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// No such endpoint.
    #[error("no route for {0}")]
    NotFound(String),
    /// The registry's configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// The blob store failed.
    #[error(transparent)]
    Content(#[from] dm_content::Error),
    /// A metadata file could not be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The distribution-spec error code.
    pub fn code(&self) -> &'static str {
        use dm_content::Error as C;
        match self {
            Error::BlobUnknown(_) => "BLOB_UNKNOWN",
            Error::UploadUnknown(_) => "BLOB_UPLOAD_UNKNOWN",
            Error::UploadInvalid(_) => "BLOB_UPLOAD_INVALID",
            Error::DigestInvalid(_) => "DIGEST_INVALID",
            Error::ManifestBlobUnknown(_) => "MANIFEST_BLOB_UNKNOWN",
            Error::ManifestInvalid(_) => "MANIFEST_INVALID",
            Error::ManifestUnknown(_) => "MANIFEST_UNKNOWN",
            Error::NameInvalid(_) => "NAME_INVALID",
            Error::NameUnknown(_) => "NAME_UNKNOWN",
            Error::SizeInvalid(_) | Error::TooLarge { .. } => "SIZE_INVALID",
            Error::RangeInvalid { .. } => "RANGE_INVALID",
            Error::Parameter { .. } => "UNSUPPORTED",
            Error::Unauthorized { .. } => "UNAUTHORIZED",
            Error::Denied => "DENIED",
            Error::Unsupported(_) => "UNSUPPORTED",
            Error::NotFound(_) => "NOT_FOUND",
            Error::Content(C::BlobNotFound(_)) => "BLOB_UNKNOWN",
            Error::Content(C::DigestMismatch { .. }) => "DIGEST_INVALID",
            Error::Content(C::SizeMismatch { .. }) => "SIZE_INVALID",
            Error::Content(C::IngestNotFound(_)) => "BLOB_UPLOAD_UNKNOWN",
            Error::Content(C::Locked { .. }) => "TOOMANYREQUESTS",
            Error::Content(C::InvalidArgument(_)) => "DIGEST_INVALID",
            Error::Content(_) | Error::Io { .. } | Error::Config(_) => "UNKNOWN",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        use dm_content::Error as C;
        match self {
            Error::BlobUnknown(_)
            | Error::UploadUnknown(_)
            | Error::ManifestUnknown(_)
            | Error::NameUnknown(_)
            | Error::NotFound(_)
            | Error::Content(C::BlobNotFound(_) | C::IngestNotFound(_)) => StatusCode::NOT_FOUND,
            Error::UploadInvalid(_)
            | Error::DigestInvalid(_)
            | Error::ManifestBlobUnknown(_)
            | Error::ManifestInvalid(_)
            | Error::NameInvalid(_)
            | Error::SizeInvalid(_)
            | Error::Parameter { .. }
            | Error::Content(
                C::DigestMismatch { .. } | C::SizeMismatch { .. } | C::InvalidArgument(_),
            ) => StatusCode::BAD_REQUEST,
            Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::RangeInvalid { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Error::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Error::Denied => StatusCode::FORBIDDEN,
            Error::Unsupported(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::Content(C::Locked { .. }) => StatusCode::TOO_MANY_REQUESTS,
            Error::Content(_) | Error::Io { .. } | Error::Config(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The spec's error body: `{"errors":[{"code","message","detail"}]}`.
    pub fn body(&self) -> String {
        let detail = match self {
            Error::BlobUnknown(d) | Error::ManifestBlobUnknown(d) => {
                serde_json::json!({ "digest": d.to_string() })
            }
            _ => serde_json::Value::Null,
        };
        serde_json::json!({
            "errors": [{ "code": self.code(), "message": self.to_string(), "detail": detail }]
        })
        .to_string()
    }
}

/// Attaches the operation and path to an I/O error.
pub(crate) trait IoContext<T> {
    /// Wraps the error as [`Error::Io`].
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            op,
            path: path.to_owned(),
            source,
        })
    }
}
