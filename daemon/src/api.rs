//! The router: API versions, paths and methods to handlers; errors in docker's shape.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Query};
use crate::{
    archive, builds, containers, df, events, exec, history, images, login, networks, pause, prune,
    push, rename, resize, saveload, stats, system, top, update, volumes,
};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response};
use std::sync::Arc;

/// Newest API version served.
pub const MAX_API: (u32, u32) = (1, 45);
/// Oldest API version served.
pub const MIN_API: (u32, u32) = (1, 24);

/// An API version as text.
pub fn version_text(v: (u32, u32)) -> String {
    format!("{}.{}", v.0, v.1)
}

/// Answers one request.
pub async fn handle(d: Arc<Daemon>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let mut resp = match split_version(&path) {
        Err(e) => http::error(&e),
        Ok((version, rest)) => {
            let rest = rest.to_owned();
            match route(&d, req, &rest, version).await {
                Ok(r) => r,
                Err(e) => http::error(&e),
            }
        }
    };
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static("1.45"));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert(
        "Server",
        HeaderValue::from_static(concat!(
            "Docker/",
            env!("CARGO_PKG_VERSION"),
            "-dockermind (linux)"
        )),
    );
    resp
}

/// Splits `/v1.41/containers/json` into the version and `/containers/json`; unversioned paths
/// get the newest version. Versions outside what we serve are a 400, as dockerd answers.
fn split_version(path: &str) -> ApiResult<((u32, u32), &str)> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok((MAX_API, path));
    };
    let (ver, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let parsed = ver
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    let Some(v) = parsed else {
        return Ok((MAX_API, path));
    };
    if v > MAX_API {
        return Err(ApiError::bad(format!(
            "client version {ver} is too new. Maximum supported API version is {}",
            version_text(MAX_API)
        )));
    }
    if v < MIN_API {
        return Err(ApiError::bad(format!(
            "client version {ver} is too old. Minimum supported API version is {}, please upgrade your client to a newer version",
            version_text(MIN_API)
        )));
    }
    Ok((v, tail))
}

async fn route(
    d: &Arc<Daemon>,
    req: Request<Incoming>,
    path: &str,
    version: (u32, u32),
) -> ApiResult<Response<Body>> {
    let q = Query::parse(req.uri().query());
    let method = req.method().clone();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (&method, segs.as_slice()) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => Ok(system::ping(&method)),
        (&Method::GET, ["version"]) => Ok(system::version()),
        (&Method::GET, ["info"]) => Ok(system::info(d)),
        (&Method::POST, ["auth"]) => login::login(d, req).await,
        (&Method::POST, ["images", "create"]) => images::create(d, &q, req.headers()).await,
        (&Method::GET, ["images", "json"]) => images::list(d),
        (&Method::POST, ["images", "prune"]) => prune::images(d, &q).await,
        (&Method::GET, ["images", "get"]) => {
            saveload::save(d, q.all("names").into_iter().map(str::to_owned).collect())
        }
        (&Method::POST, ["images", "load"]) => saveload::load(d, &q, req).await,
        (&Method::POST, ["build"]) => builds::build(d, &q, req).await,
        (_, ["images", ..]) => image_object(d, req, path, &q).await,
        (&Method::POST, ["containers", "create"]) => containers::create(d, &q, req, version).await,
        (&Method::GET, ["containers", "json"]) => containers::list(d, &q),
        (&Method::GET, ["containers", id, "json"]) => containers::inspect(d, id),
        (&Method::POST, ["containers", id, "start"]) => containers::start(d, id).await,
        (&Method::POST, ["containers", id, "stop"]) => containers::stop(d, id, &q).await,
        (&Method::POST, ["containers", id, "restart"]) => containers::restart(d, id, &q).await,
        (&Method::POST, ["containers", id, "kill"]) => containers::kill(d, id, &q).await,
        (&Method::POST, ["containers", id, "wait"]) => containers::wait(d, id, &q).await,
        (&Method::POST, ["containers", id, "attach"]) => {
            containers::attach(d, id, &q, req, version).await
        }
        (&Method::GET, ["containers", id, "logs"]) => containers::logs(d, id, &q, version).await,
        (&Method::POST, ["containers", id, "resize"]) => resize::container(d, id, &q).await,
        (&Method::GET, ["containers", id, "export"]) => archive::export(d, id).await,
        (&Method::HEAD, ["containers", id, "archive"]) => archive::get(d, id, &q, true).await,
        (&Method::GET, ["containers", id, "archive"]) => archive::get(d, id, &q, false).await,
        (&Method::PUT, ["containers", id, "archive"]) => archive::put(d, id, &q, req).await,
        (&Method::DELETE, ["containers", id]) => containers::remove(d, id, &q).await,
        (&Method::POST, ["containers", id, "exec"]) => exec::create(d, id, req).await,
        (&Method::POST, ["exec", id, "start"]) => exec::start(d, id, req, version).await,
        (&Method::GET, ["exec", id, "json"]) => exec::inspect(d, id),
        (&Method::POST, ["exec", id, "resize"]) => resize::exec(d, id, &q).await,
        // Volumes, events, stats, prune, df, rename, top.
        (&Method::POST, ["volumes", "create"]) => volumes::create(d, req).await,
        (&Method::GET, ["volumes"]) => volumes::list(d, &q),
        (&Method::POST, ["volumes", "prune"]) => volumes::prune(d, &q, version),
        (&Method::GET, ["volumes", name]) => volumes::inspect(d, name),
        (&Method::DELETE, ["volumes", name]) => volumes::remove(d, name, &q),
        (&Method::GET, ["events"]) => events::stream(d, &q).await,
        (&Method::GET, ["containers", id, "stats"]) => stats::get(d, id, &q).await,
        (&Method::GET, ["containers", id, "top"]) => top::top(d, id, &q).await,
        (&Method::POST, ["containers", id, "update"]) => update::update(d, id, req).await,
        (&Method::POST, ["containers", id, "rename"]) => rename::rename(d, id, &q),
        (&Method::POST, ["containers", id, "pause"]) => pause::handle(d, id, true).await,
        (&Method::POST, ["containers", id, "unpause"]) => pause::handle(d, id, false).await,
        (&Method::POST, ["containers", "prune"]) => prune::containers(d, &q).await,
        (&Method::GET, ["system", "df"]) => df::get(d, &q).await,
        // Networks (daemon/src/networks.rs).
        (&Method::GET, ["networks"]) => networks::list(d, &q),
        (&Method::POST, ["networks", "create"]) => networks::create(d, req).await,
        (&Method::POST, ["networks", "prune"]) => networks::prune(d, &q).await,
        (&Method::GET, ["networks", id]) => networks::inspect(d, id),
        (&Method::DELETE, ["networks", id]) => networks::remove(d, id).await,
        (&Method::POST, ["networks", id, "connect"]) => networks::connect(d, id, req, true).await,
        (&Method::POST, ["networks", id, "disconnect"]) => {
            networks::connect(d, id, req, false).await
        }
        _ => Err(ApiError::not_found(format!(
            "page not found: {method} {path}"
        ))),
    }
}

/// `/images/{name}[/json|/tag|/history|/get|/push]`: names hold slashes, so the action is
/// the last segment.
async fn image_object(
    d: &Arc<Daemon>,
    req: Request<Incoming>,
    path: &str,
    q: &Query,
) -> ApiResult<Response<Body>> {
    let method = req.method().clone();
    let rest = path
        .trim_matches('/')
        .strip_prefix("images/")
        .unwrap_or_default();
    let (name, action) = rest.rsplit_once('/').unwrap_or((rest, ""));
    match (&method, action) {
        (&Method::GET, "json") => images::inspect(d, name),
        (&Method::GET, "history") => history::history(d, name),
        (&Method::GET, "get") => saveload::save(d, vec![name.to_owned()]),
        (&Method::POST, "tag") => images::tag(d, name, q),
        (&Method::POST, "push") => push::push(d, name, q, req.headers()).await,
        (&Method::DELETE, _) => images::remove(d, rest, q),
        _ => Err(ApiError::not_found(format!(
            "page not found: {method} {path}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_stripped_and_bounded() {
        assert_eq!(split_version("/v1.41/info").unwrap(), ((1, 41), "/info"));
        assert_eq!(split_version("/info").unwrap(), (MAX_API, "/info"));
        assert_eq!(split_version("/v1.45/_ping").unwrap(), ((1, 45), "/_ping"));
        let e = split_version("/v1.50/info").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            e.message.contains("Maximum supported API version is 1.45"),
            "{}",
            e.message
        );
        assert!(split_version("/v1.12/info")
            .unwrap_err()
            .message
            .contains("too old"));
    }
}
