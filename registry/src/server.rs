//! The registry service: state shared by all connections, request dispatch, the error and
//! access-log wrapping every response, and the accept loop.

use crate::body::{empty, full, Body};
use crate::error::{Error, Result};
use crate::meta::Meta;
use crate::metrics::Metrics;
use crate::routes::Route;
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
}

impl Config {
    /// Defaults for a root: 4 MiB manifests (as distribution), deletes allowed.
    pub fn new(root: impl Into<PathBuf>) -> Config {
        Config {
            root: root.into(),
            max_manifest_bytes: 4 << 20,
            allow_delete: true,
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
        let route = Route::parse(&path);
        let kind = route.as_ref().map_or("none", Route::kind);
        let result = match route {
            Ok(r) => self.dispatch(req, r).await,
            Err(e) => Err(e),
        };
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                if e.status().is_server_error() {
                    log::error!("{method} {path}: {e}");
                }
                error_response(&e, method == Method::HEAD)
            }
        };
        let status = resp.status().as_u16();
        let secs = start.elapsed().as_secs_f64();
        let len = resp
            .headers()
            .get("Content-Length")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        log::info!(
            target: "access",
            "remote={remote} method={method} path={path:?} route={kind} status={status} \
             bytes={len} duration_ms={:.3}",
            secs * 1000.0
        );
        self.metrics.observe(method.as_str(), kind, status, secs);
        resp
    }

    async fn dispatch(&self, req: Request<Incoming>, route: Route) -> Result<Response<Body>> {
        let m = req.method().clone();
        match (&m, route) {
            (&Method::GET | &Method::HEAD, Route::Base) => Ok(build(
                reply(StatusCode::OK).header("Content-Type", "application/json"),
                full("{}"),
            )),
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

/// Serves HTTP/1.1 on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, reg: Arc<Registry>) -> std::io::Result<()> {
    loop {
        let (stream, remote) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let reg = Arc::clone(&reg);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let reg = Arc::clone(&reg);
                async move { Ok::<_, std::convert::Infallible>(reg.handle(req, remote).await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await
            {
                log::debug!("connection from {remote}: {e}");
            }
        });
    }
}
