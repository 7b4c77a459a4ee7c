//! Serving the content service on a unix socket until a shutdown signal.

use crate::api::content_server::ContentServer;
use crate::{ContentService, Store};
use std::future::Future;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;

/// Largest message accepted or sent (containerd's own limit).
const MAX_MESSAGE: usize = 16 << 20;

/// HTTP/2 flow-control windows (bytes in flight per stream / per connection).
const STREAM_WINDOW: u32 = 4 << 20;
const CONNECTION_WINDOW: u32 = 16 << 20;

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The socket path cannot be used.
    #[error("address {path}: {why}")]
    Address {
        /// The socket path.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Binds `socket`, replacing a stale socket file but refusing one a live server answers on or
/// a path that is not a socket.
pub fn bind(socket: &Path) -> Result<UnixListener, ServeError> {
    let bad = |why: String| ServeError::Address {
        path: socket.to_owned(),
        why,
    };
    match std::fs::symlink_metadata(socket) {
        Ok(m) if !m.file_type().is_socket() => {
            return Err(bad("exists and is not a socket".into()))
        }
        Ok(_) => {
            if std::os::unix::net::UnixStream::connect(socket).is_ok() {
                return Err(bad("another server is listening on it".into()));
            }
            std::fs::remove_file(socket)
                .map_err(|e| bad(format!("cannot remove stale socket: {e}")))?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(bad(e.to_string())),
    }
    if let Some(dir) = socket.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| bad(format!("cannot create its directory: {e}")))?;
    }
    UnixListener::bind(socket).map_err(|e| bad(format!("cannot listen: {e}")))
}

/// The tonic service for `store`, with containerd's message size limits.
pub fn service(store: Store) -> ContentServer<ContentService> {
    ContentServer::new(ContentService::new(store))
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
}

/// Serves `store` on `listener` until `shutdown` completes.
pub async fn serve(
    store: Store,
    listener: UnixListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    tonic::transport::Server::builder()
        // Writes arrive as 1 MiB messages; HTTP/2's default 64 KiB windows would stall each
        // one on flow-control round trips.
        .initial_stream_window_size(Some(STREAM_WINDOW))
        .initial_connection_window_size(Some(CONNECTION_WINDOW))
        .add_service(service(store))
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
}
