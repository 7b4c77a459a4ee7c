//! The API socket: bind it (root and group only) and serve HTTP/1.1 with upgrades on it.

use std::convert::Infallible;

/// Binds the API socket (root and group only); a live daemon already on it is an error, a
/// stale socket file is replaced.
pub fn bind_unix(path: &std::path::Path) -> anyhow::Result<tokio::net::UnixListener> {
    use anyhow::Context as _;
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        anyhow::bail!("another daemon is listening on {}", path.display());
    }
    let _ = std::fs::remove_file(path);
    let l = std::os::unix::net::UnixListener::bind(path)
        .with_context(|| format!("bind {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("chmod {}", path.display()))?;
    l.set_nonblocking(true).context("nonblocking socket")?;
    tokio::net::UnixListener::from_std(l).context("register socket")
}

/// Serves HTTP/1.1 (with upgrades, for attach and exec) on every connection.
pub async fn serve(
    listener: tokio::net::UnixListener,
    d: std::sync::Arc<crate::daemon::Daemon>,
) -> anyhow::Result<()> {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of fds and the like pass; the next accept may work.
                eprintln!("dockermindd: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let d = d.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let d = d.clone();
                async move { Ok::<_, Infallible>(crate::api::handle(d, req).await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .with_upgrades()
                .await;
        });
    }
}
