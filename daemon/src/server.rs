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

/// Serves HTTP/1.1 (with upgrades, for attach and exec) on every unix connection.
pub async fn serve(
    listener: tokio::net::UnixListener,
    d: std::sync::Arc<crate::daemon::Daemon>,
) -> anyhow::Result<()> {
    loop {
        match listener.accept().await {
            Ok((s, _)) => {
                tokio::spawn(serve_conn(s, d.clone()));
            }
            Err(e) => accept_failed(e).await,
        }
    }
}

/// Serves the API on `listener` inside TLS: the handshake demands a client certificate the CA
/// signed, so a client without one never reaches HTTP.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    d: std::sync::Arc<crate::daemon::Daemon>,
) -> anyhow::Result<()> {
    loop {
        match listener.accept().await {
            Ok((s, peer)) => {
                let (tls, d) = (tls.clone(), d.clone());
                tokio::spawn(async move {
                    match tls.accept(s).await {
                        Ok(stream) => serve_conn(stream, d).await,
                        Err(e) => eprintln!("dockermindd: TLS handshake with {peer}: {e}"),
                    }
                });
            }
            Err(e) => accept_failed(e).await,
        }
    }
}

/// Out of fds and the like pass; the next accept may work.
async fn accept_failed(e: std::io::Error) {
    eprintln!("dockermindd: accept: {e}");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}

/// One connection's requests, until the client leaves.
async fn serve_conn<S>(stream: S, d: std::sync::Arc<crate::daemon::Daemon>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| {
        let d = d.clone();
        async move { Ok::<_, Infallible>(crate::api::handle(d, req).await) }
    });
    let io = hyper_util::rt::TokioIo::new(stream);
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, svc)
        .with_upgrades()
        .await;
}

/// Binds `addr` for the TLS listener.
pub async fn bind_tcp(addr: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    use anyhow::Context as _;
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("bind tcp://{addr}"))
}

/// The TLS settings of a TCP listener: the daemon's certificate and key, and client
/// certificates required and verified against `ca` (dockerd's --tlsverify).
pub fn tls_acceptor(
    ca: &std::path::Path,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use anyhow::{anyhow, Context as _};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::sync::Arc;
    let certs_of =
        |flag: &str, p: &std::path::Path| -> anyhow::Result<Vec<CertificateDer<'static>>> {
            let certs: Vec<_> = CertificateDer::pem_file_iter(p)
                .and_then(|i| i.collect())
                .map_err(|e| anyhow!("{flag} {}: {e}", p.display()))?;
            if certs.is_empty() {
                anyhow::bail!("{flag} {}: no PEM certificate in it", p.display());
            }
            Ok(certs)
        };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in certs_of("--tlscacert", ca)? {
        roots
            .add(c)
            .map_err(|e| anyhow!("--tlscacert {}: {e}", ca.display()))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| anyhow!("--tlscacert {}: {e}", ca.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow!("--tlskey {}: {e}", key.display()))?;
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs_of("--tlscert", cert)?, key)
        .context("--tlscert/--tlskey")?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}
