//! The registry service: state shared by all connections, request dispatch, the error and
//! access-log wrapping every response, and the accept loop.

use crate::auth::{Action, Auth, Identity, Need};
use crate::body::{empty, full, Body};
use crate::error::{Error, Result};
use crate::meta::Meta;
use crate::metrics::Metrics;
use crate::routes::{query, Route};
use crate::uploads::Uploads;
use dm_content::Store;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;

/// How a registry is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Root directory: `content/` (dm-content) and `repos/` (links, tags).
    pub root: PathBuf,
    /// Largest manifest accepted, in bytes.
    pub max_manifest_bytes: usize,
    /// Whether DELETE of manifests and blobs is allowed.
    pub allow_delete: bool,
    /// Largest blob accepted, in bytes (`None`: no limit).
    pub max_blob_bytes: Option<u64>,
    /// Users and policy; `None` serves everyone.
    pub auth: Option<Arc<Auth>>,
    /// Whether clients reach it over TLS (for the token realm's scheme).
    pub tls: bool,
    /// How old an unreferenced blob or link must be before GC removes it.
    pub gc_grace: std::time::Duration,
    /// How long an upload may sit idle before GC drops it.
    pub upload_ttl: std::time::Duration,
}

impl Config {
    /// Defaults for a root: 4 MiB manifests (as distribution), deletes allowed.
    pub fn new(root: impl Into<PathBuf>) -> Config {
        Config {
            root: root.into(),
            max_manifest_bytes: 4 << 20,
            allow_delete: true,
            max_blob_bytes: None,
            auth: None,
            tls: false,
            gc_grace: std::time::Duration::from_secs(3600),
            upload_ttl: std::time::Duration::from_secs(24 * 3600),
        }
    }
}

/// A registry serving one root.
pub struct Registry {
    pub(crate) cfg: Config,
    pub(crate) store: Store,
    pub(crate) meta: Meta,
    pub(crate) uploads: Uploads,
    pub(crate) metrics: Metrics,
    /// Shared by pushes between a blob check and the link that keeps the blob; exclusive
    /// for a garbage collection (see `gc`).
    pub(crate) gc_lock: std::sync::RwLock<()>,
}

/// Starts every response: the status and the API version header clients probe for.
pub(crate) fn reply(status: StatusCode) -> http::response::Builder {
    Response::builder()
        .status(status)
        .header("Docker-Distribution-API-Version", "registry/2.0")
}

/// Finishes a builder whose headers are known good.
pub(crate) fn build(b: http::response::Builder, body: Body) -> Response<Body> {
    b.body(body).unwrap_or_else(|e| {
        let mut r = Response::new(full(format!("response: {e}")));
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

fn error_response(e: &Error, head: bool) -> Response<Body> {
    let mut b = reply(e.status()).header("Content-Type", "application/json");
    match e {
        Error::RangeInvalid {
            current,
            upload: true,
            ..
        } => b = b.header("Range", format!("0-{}", current.saturating_sub(1))),
        Error::RangeInvalid {
            current,
            upload: false,
            ..
        } => b = b.header("Content-Range", format!("bytes */{current}")),
        Error::Unauthorized { challenge } => b = b.header("WWW-Authenticate", challenge),
        _ => {}
    }
    build(b, if head { empty() } else { full(e.body()) })
}

impl Registry {
    /// Opens the registry's stores under `cfg.root`.
    pub fn open(cfg: Config) -> Result<Registry> {
        let store = Store::open(cfg.root.join("content"))?;
        Ok(Registry {
            meta: Meta::new(&cfg.root),
            uploads: Uploads::new(store.clone()),
            store,
            metrics: Metrics::default(),
            gc_lock: std::sync::RwLock::new(()),
            cfg,
        })
    }

    /// Serves one request: dispatches it, turns errors into the spec's error bodies and
    /// writes the access log line.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        remote: SocketAddr,
    ) -> Response<Body> {
        let start = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let route = Route::parse_for(&method, &path);
        let kind = route.as_ref().map_or("none", Route::kind);
        let mut who = Identity::default();
        let has_body = !http_body::Body::is_end_stream(req.body());
        let declared = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        // Whether the connection must close after the response: a body left partly unread
        // would be taken for the client's next request.
        let (result, close) = match route.and_then(|r| self.authorize(&req, &r).map(|id| (id, r))) {
            Ok((id, r)) => {
                who = id;
                let res = self.dispatch(req, r).await;
                let close = has_body && res.is_err();
                (res, close)
            }
            Err(e) => {
                let close = has_body && !crate::body::discard(req.into_body(), declared).await;
                (Err(e), close)
            }
        };
        let mut resp = match result {
            Ok(r) => r,
            Err(e) => {
                if e.status().is_server_error() {
                    log::error!("{method} {path}: {e}");
                }
                error_response(&e, method == Method::HEAD)
            }
        };
        if close {
            resp.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
        }
        let status = resp.status().as_u16();
        let secs = start.elapsed().as_secs_f64();
        let len = resp
            .headers()
            .get("Content-Length")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        log::info!(
            target: "access",
            "remote={remote} user={:?} method={method} path={path:?} route={kind} \
             status={status} bytes={len} duration_ms={:.3}",
            who.0,
            secs * 1000.0
        );
        self.metrics.observe(method.as_str(), kind, status, secs);
        resp
    }

    /// What a request needs: nothing for the token, health and metrics endpoints.
    fn needs(req: &Request<Incoming>, route: &Route) -> Vec<Need> {
        let action = match *req.method() {
            Method::GET | Method::HEAD => Action::Pull,
            Method::DELETE => Action::Delete,
            _ => Action::Push,
        };
        match route {
            Route::Token | Route::Health | Route::Metrics => vec![],
            Route::Base => vec![Need::Login],
            // A collection touches every repository: it needs what the catalog needs.
            Route::Catalog | Route::Gc => vec![Need::Catalog],
            Route::Upload { name, .. } => vec![Need::Repo(name.clone(), Action::Push)],
            Route::UploadStart { name } => {
                let mut n = vec![Need::Repo(name.clone(), Action::Push)];
                let q = query(req.uri().query());
                if let Some(from) = q.get("from").and_then(|v| v.last()) {
                    if q.contains_key("mount") {
                        n.push(Need::Repo(from.clone(), Action::Pull));
                    }
                }
                n
            }
            r => r
                .repository()
                .map(|name| vec![Need::Repo(name.to_owned(), action)])
                .unwrap_or_default(),
        }
    }

    fn authorize(&self, req: &Request<Incoming>, route: &Route) -> Result<Identity> {
        let Some(auth) = &self.cfg.auth else {
            return Ok(Identity::default());
        };
        let needs = Registry::needs(req, route);
        if needs.is_empty() {
            return Ok(Identity::default());
        }
        let host = req
            .headers()
            .get("Host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("localhost");
        let scheme = if self.cfg.tls { "https" } else { "http" };
        let realm = format!("{scheme}://{host}/token");
        let authorization = req
            .headers()
            .get("Authorization")
            .and_then(|v| v.to_str().ok());
        // bcrypt is slow by design: keep it off the threads that drive other connections.
        tokio::task::block_in_place(|| auth.authorize(authorization, &needs, &realm))
    }

    /// `GET /token?scope=..` with Basic credentials, or the OAuth2 password grant as a POST
    /// form (containerd's first try).
    async fn token(&self, req: Request<Incoming>) -> Result<Response<Body>> {
        let Some(auth) = &self.cfg.auth else {
            return Err(Error::NotFound("/token (auth is off)".into()));
        };
        if auth.mode() != crate::auth::Mode::Token {
            return Err(Error::NotFound("/token (auth mode is basic)".into()));
        }
        let mut authorization = req
            .headers()
            .get("Authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut q = query(req.uri().query());
        if req.method() == Method::POST {
            let body = http_body_util::BodyExt::collect(req.into_body())
                .await
                .map_err(|e| Error::UploadInvalid(format!("token request body: {e}")))?
                .to_bytes();
            if body.len() > 64 << 10 {
                return Err(Error::TooLarge {
                    what: "token request",
                    limit: 64 << 10,
                });
            }
            let form = query(Some(&String::from_utf8_lossy(&body)));
            let get = |k: &str| form.get(k).and_then(|v| v.last()).cloned();
            if get("grant_type").as_deref() != Some("password") {
                return Err(Error::Unsupported(
                    "token grant_type other than password".into(),
                ));
            }
            use base64::Engine as _;
            let creds = format!(
                "{}:{}",
                get("username").unwrap_or_default(),
                get("password").unwrap_or_default()
            );
            authorization = Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(creds)
            ));
            q = form;
        }
        let scopes = q.get("scope").cloned().unwrap_or_default();
        let body = tokio::task::block_in_place(|| auth.issue(authorization.as_deref(), &scopes))?;
        Ok(build(
            reply(StatusCode::OK).header("Content-Type", "application/json"),
            full(body),
        ))
    }

    async fn dispatch(&self, req: Request<Incoming>, route: Route) -> Result<Response<Body>> {
        let m = req.method().clone();
        match (&m, route) {
            (&Method::GET | &Method::HEAD, Route::Base) => Ok(build(
                reply(StatusCode::OK).header("Content-Type", "application/json"),
                full("{}"),
            )),
            (&Method::GET | &Method::POST, Route::Token) => self.token(req).await,
            (&Method::POST, Route::Gc) => {
                let (grace, ttl) = (self.cfg.gc_grace, self.cfg.upload_ttl);
                let report = tokio::task::block_in_place(|| self.gc(grace, ttl))?;
                Ok(build(
                    reply(StatusCode::OK).header("Content-Type", "application/json"),
                    full(serde_json::to_string(&report).unwrap_or_default()),
                ))
            }
            (&Method::GET, Route::Health) => Ok(build(reply(StatusCode::OK), full("ok\n"))),
            (&Method::GET, Route::Metrics) => Ok(build(
                reply(StatusCode::OK).header("Content-Type", "text/plain; version=0.0.4"),
                full(self.metrics.render()),
            )),
            (&Method::GET, Route::Catalog) => self.catalog(&req),
            (&Method::GET, Route::Tags { name }) => self.tags(&req, &name),
            (&Method::GET, Route::Referrers { name, digest }) => {
                self.referrers(&req, &name, &digest)
            }
            (&Method::GET | &Method::HEAD, Route::Manifest { name, reference }) => {
                self.get_manifest(&name, &reference, m == Method::HEAD)
            }
            (&Method::PUT, Route::Manifest { name, reference }) => {
                self.put_manifest(req, &name, &reference).await
            }
            (&Method::DELETE, Route::Manifest { name, reference }) => {
                self.delete_manifest(&name, &reference)
            }
            (&Method::GET | &Method::HEAD, Route::Blob { name, digest }) => {
                self.get_blob(&req, &name, &digest, m == Method::HEAD)
            }
            (&Method::DELETE, Route::Blob { name, digest }) => self.delete_blob(&name, &digest),
            (&Method::POST, Route::UploadStart { name }) => self.start_upload(req, &name).await,
            (&Method::GET, Route::Upload { name, id }) => self.upload_status(&name, &id),
            (&Method::PATCH, Route::Upload { name, id }) => {
                self.patch_upload(req, &name, &id).await
            }
            (&Method::PUT, Route::Upload { name, id }) => self.finish_upload(req, &name, &id).await,
            (&Method::DELETE, Route::Upload { name, id }) => {
                self.uploads.cancel(&name, &id)?;
                Ok(build(reply(StatusCode::NO_CONTENT), empty()))
            }
            (m, r) => Err(Error::Unsupported(format!(
                "method {m} on {} endpoint",
                r.kind()
            ))),
        }
    }
}

/// Serves HTTP/1.1 on `listener` (inside TLS if `tls` is given) until the task is dropped.
pub async fn serve(
    listener: TcpListener,
    reg: Arc<Registry>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<()> {
    loop {
        let (stream, remote) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let reg = Arc::clone(&reg);
        let tls = tls.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let reg = Arc::clone(&reg);
                async move { Ok::<_, std::convert::Infallible>(reg.handle(req, remote).await) }
            });
            let http = hyper::server::conn::http1::Builder::new();
            let r = match tls {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(s) => {
                        http.serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                            .await
                    }
                    Err(e) => {
                        log::info!("TLS handshake with {remote}: {e}");
                        return;
                    }
                },
                None => {
                    http.serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await
                }
            };
            if let Err(e) = r {
                log::debug!("connection from {remote}: {e}");
            }
        });
    }
}

/// A TLS acceptor for the PEM certificate chain and private key at the given paths.
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect())
        .map_err(|e| Error::Config(format!("--tls-cert {}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(Error::Config(format!(
            "--tls-cert {}: no certificate",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| Error::Config(format!("--tls-key {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Config(format!("--tls-cert/--tls-key: {e}")))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}
