//! `docker save` and `docker load`: dm-image's archive writer streamed out as the response,
//! and its loader fed from the request body (plain or gzip).

use crate::bridge::{maybe_gunzip, BodyReader, BodyWriter};
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Query};
use bytes::Bytes;
use dm_image::{ImageError, Platform, Progress, Reference, RegistryError};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::json;
use std::sync::Arc;

/// `GET /images/{name}/get` and `GET /images/get?names=..`: one docker-archive tar (also an
/// OCI layout) of every image named. Unknown names are a 404 before anything is sent.
pub fn save(d: &Arc<Daemon>, names: Vec<String>) -> ApiResult<Response<Body>> {
    if names.is_empty() {
        return Err(ApiError::bad("names is required: the images to save"));
    }
    for n in &names {
        d.images.resolve(n)?;
    }
    let (resp, tx) = http::streamed(StatusCode::OK, "application/x-tar");
    let d = d.clone();
    tokio::task::spawn_blocking(move || {
        let mut w = BodyWriter::new(tx);
        let saved = d.images.save(&names, &mut w);
        let flushed = std::io::Write::flush(&mut w);
        // The status is sent: a failure can only cut the archive short, which tar notices.
        if let Err(e) = saved
            .map_err(|e| e.to_string())
            .and(flushed.map_err(|e| e.to_string()))
        {
            eprintln!("dockermindd: save {names:?}: {e}");
        }
    });
    Ok(resp)
}

/// A load failure: the archive's fault is a 400, the daemon's a 500.
fn load_error(e: ImageError) -> ApiError {
    match e {
        ImageError::Registry(RegistryError::BadDocument { .. }) | ImageError::Reference(_) => {
            ApiError::bad(format!("invalid image archive: {e}"))
        }
        e => e.into(),
    }
}

/// `POST /images/load?quiet=`: loads the archive in the body; answers one
/// `{"stream":"Loaded image: NAME\n"}` line per name (docker prints them with or without
/// quiet, which only hides layer progress we do not send).
pub async fn load(
    d: &Arc<Daemon>,
    _q: &Query,
    req: Request<Incoming>,
) -> ApiResult<Response<Body>> {
    let reader = BodyReader::spawn(req.into_body());
    let dd = d.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let input = maybe_gunzip(reader)
            .map_err(|e| ApiError::bad(format!("invalid image archive: {e}")))?;
        dd.images
            .load(input, None, &Platform::default(), &Progress::default())
            .map_err(load_error)
    })
    .await
    .map_err(|e| ApiError::internal(format!("load task: {e}")))??;
    let mut body = Vec::new();
    let mut seen = Vec::new();
    for rec in &loaded {
        let familiar = rec
            .name
            .parse::<Reference>()
            .map_or(rec.name.clone(), |r| r.familiar());
        if seen.contains(&familiar) {
            continue;
        }
        d.events
            .emit("image", "load", &rec.config, &[("name", familiar.as_str())]);
        let msg = json!({"stream": format!("Loaded image: {familiar}\n")});
        body.extend_from_slice(&serde_json::to_vec(&msg).unwrap_or_default());
        body.extend_from_slice(b"\r\n");
        seen.push(familiar);
    }
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/json")
        .body(http_body_util::BodyExt::boxed(http_body_util::Full::new(
            Bytes::from(body),
        )))
        .expect("static response parts"))
}
