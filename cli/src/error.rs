//! The client library's errors.

use std::path::PathBuf;

/// What a call to the daemon can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be reached (daemon not running, wrong path, permissions).
    #[error("Cannot connect to the dockermind daemon at unix://{}: {source}. Is dockermindd running?", socket.display())]
    Connect {
        /// The socket tried.
        socket: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Reading or writing the connection failed.
    #[error("talking to the daemon: {0}")]
    Io(#[from] std::io::Error),
    /// The daemon's answer is not HTTP/1.1 as expected.
    #[error("malformed answer from the daemon: {0}")]
    Protocol(String),
    /// The daemon refused the request: its status code and message, as docker shows it.
    #[error("Error response from daemon: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The daemon's `message`.
        message: String,
    },
    /// A JSON body could not be decoded.
    #[error("decoding the daemon's answer: {0}")]
    Json(#[from] serde_json::Error),
    /// A streamed operation (pull, push, build) reported an error in its stream.
    #[error("{0}")]
    Stream(String),
}

impl ClientError {
    /// The HTTP status of an API error, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Results of the client library.
pub type Result<T> = std::result::Result<T, ClientError>;
