//! Errors of talking to a registry and of pulling: each names the registry, repository or
//! digest it is about, so a user can tell which part failed.

use dm_content::Digest;

/// Everything a registry operation or a pull can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No connection, TLS failure, timeout, or a broken body.
    #[error("{url}: {detail}")]
    Transport {
        /// The request's URL.
        url: String,
        /// What went wrong (timeouts say so).
        detail: String,
    },
    /// The registry answered with an error status.
    #[error("{url}: {status}{}", fmt_message(.message))]
    Status {
        /// The request's URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The registry's error codes and messages, if it sent any.
        message: String,
    },
    /// A 401 that credentials cannot fix (none for this registry, or refused).
    #[error("{registry}: unauthorized: {detail}")]
    Unauthorized {
        /// The registry host.
        registry: String,
        /// Why.
        detail: String,
    },
    /// A login check (`GET /v2/` with the credentials) the registry did not accept; docker's
    /// words.
    #[error("login attempt to {url} failed with status: {status} {}", reason(*.status))]
    LoginFailed {
        /// The `/v2/` URL asked.
        url: String,
        /// The final HTTP status.
        status: u16,
    },
    /// The manifest or blob does not exist.
    #[error("{what}: not found in {repository}")]
    NotFound {
        /// The tag or digest.
        what: String,
        /// `host/path`.
        repository: String,
    },
    /// Bytes that do not hash to the digest they were fetched by.
    #[error("{what} {expected}: content has digest {actual}; refusing it")]
    DigestMismatch {
        /// manifest, layer, config.
        what: &'static str,
        /// The digest asked for.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },
    /// Fewer or more bytes than the descriptor says, after the retries.
    #[error("blob {digest}: got {got} bytes, descriptor says {expected}")]
    SizeMismatch {
        /// The blob.
        digest: Digest,
        /// The descriptor's size.
        expected: u64,
        /// What arrived.
        got: u64,
    },
    /// A manifest over the size limit.
    #[error("manifest {what}: larger than the {limit}-byte limit")]
    TooLarge {
        /// The tag or digest.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// A media type this client does not handle.
    #[error("{what}: unsupported media type {media_type:?}")]
    UnknownMediaType {
        /// What the document is (manifest, config, layer N).
        what: String,
        /// The media type.
        media_type: String,
    },
    /// A document that is not what its media type says.
    #[error("{what}: {detail}")]
    BadDocument {
        /// What the document is.
        what: String,
        /// The parse error.
        detail: String,
    },
    /// The index has nothing for the wanted platform.
    #[error("no manifest for platform {wanted} in {reference} (it has: {available})")]
    NoPlatform {
        /// The platform asked for.
        wanted: String,
        /// The reference pulled.
        reference: String,
        /// Platforms the index lists.
        available: String,
    },
    /// A bad registry config, auth file or TLS certificate file.
    #[error("{0}")]
    Setup(String),
    /// The content store failed.
    #[error(transparent)]
    Content(#[from] dm_content::Error),
}

fn fmt_message(m: &str) -> String {
    if m.is_empty() {
        String::new()
    } else {
        format!(" ({m})")
    }
}

fn reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// Shorthand for this module area's results.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

impl RegistryError {
    /// A transport error from reqwest, saying "timed out" when it did.
    pub(crate) fn transport(url: &str, e: &reqwest::Error) -> RegistryError {
        let mut detail = if e.is_timeout() {
            "timed out".to_owned()
        } else {
            e.to_string()
        };
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            src = s.source();
        }
        RegistryError::Transport {
            url: url.to_owned(),
            detail,
        }
    }
}
