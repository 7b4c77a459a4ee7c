//! Image endpoints over dm-image: pull with docker's JSON progress, list, inspect, tag, remove.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Query};
use bytes::Bytes;
use dm_image::{Event, Progress, PullOptions, Reference};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// `busybox:latest` -> (`busybox`, Some(`latest`)): the familiar repository and tag.
pub fn familiar_repo(r: &Reference) -> String {
    let f = r.familiar();
    match (r.tag(), r.digest()) {
        (Some(t), _) => f.strip_suffix(&format!(":{t}")).unwrap_or(&f).to_owned(),
        (None, Some(d)) => f.strip_suffix(&format!("@{d}")).unwrap_or(&f).to_owned(),
        _ => f,
    }
}

/// The short id docker shows for a layer.
pub fn short(d: &dm_image::progress::Digest) -> String {
    let s = d.to_string();
    let hex = s.split_once(':').map_or(s.as_str(), |(_, h)| h);
    hex.chars().take(12).collect()
}

/// docker's text progress bar.
pub fn progress_bar(current: u64, total: u64) -> String {
    let width = 50u64;
    let filled = (current.min(total) * width).checked_div(total).unwrap_or(0) as usize;
    let mut bar = "=".repeat(filled);
    if filled < width as usize {
        bar.push('>');
        bar.push_str(&" ".repeat(width as usize - filled - 1));
    }
    format!("[{bar}] {current}B/{total}B")
}

/// One JSON message of a progress stream.
pub fn line(v: Value) -> Bytes {
    let mut b = serde_json::to_vec(&v).unwrap_or_default();
    b.extend_from_slice(b"\r\n");
    Bytes::from(b)
}

/// One progress event as docker's JSON message.
fn progress_message(e: &Event, fetched: &AtomicBool) -> Option<Value> {
    Some(match e {
        Event::Resolved { .. }
        | Event::Uploading { .. }
        | Event::Uploaded { .. }
        | Event::Mounted { .. } => return None,
        Event::Exists { digest } => {
            json!({"status": "Already exists", "progressDetail": {}, "id": short(digest)})
        }
        Event::Downloading {
            digest,
            offset,
            total,
        } => {
            fetched.store(true, Ordering::Relaxed);
            json!({"status": "Downloading", "progressDetail": {"current": offset, "total": total},
                   "progress": progress_bar(*offset, *total), "id": short(digest)})
        }
        Event::Done { digest, .. } => {
            fetched.store(true, Ordering::Relaxed);
            json!({"status": "Download complete", "progressDetail": {}, "id": short(digest)})
        }
        Event::Unpacked { digest, .. } => {
            json!({"status": "Pull complete", "progressDetail": {}, "id": short(digest)})
        }
    })
}

/// `POST /images/create?fromImage=&tag=`: pulls (with the `X-Registry-Auth` credentials, if
/// any), streaming progress lines.
pub async fn create(
    d: &Arc<Daemon>,
    q: &Query,
    headers: &hyper::HeaderMap,
) -> ApiResult<Response<Body>> {
    let from = q
        .get("fromImage")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::bad("fromImage is required (importing with fromSrc is not supported)")
        })?;
    let name = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) if t.contains(':') => format!("{from}@{t}"),
        Some(t) => format!("{from}:{t}"),
        None => from.to_owned(),
    };
    let reference: Reference = name.parse().map_err(|e: dm_image::ReferenceError| {
        ApiError::bad(format!("invalid reference format: {e}"))
    })?;
    let client = crate::push::client_for(d, headers, reference.domain());
    let (resp, tx) = http::streamed(StatusCode::OK, "application/json");
    let d = d.clone();
    tokio::spawn(async move {
        let tag = reference
            .tag()
            .map_or_else(|| "latest".to_owned(), str::to_owned);
        let _ = tx
            .send(line(
                json!({"status": format!("Pulling from {}", reference.path()), "id": tag}),
            ))
            .await;
        let fetched = Arc::new(AtomicBool::new(false));
        let (ptx, f) = (tx.clone(), fetched.clone());
        let progress = Progress::new(move |e| {
            if let Some(m) = progress_message(e, &f) {
                // Progress is advisory: a slow client loses intermediate lines, not the result.
                let _ = ptx.try_send(line(m));
            }
        });
        let client = client.as_ref().unwrap_or(d.images.client());
        let result = d
            .images
            .pull_with(client, &reference, &PullOptions::default(), &progress)
            .await;
        let msgs = match result {
            Ok(rec) => {
                let familiar = reference.familiar();
                d.events.emit(
                    "image",
                    "pull",
                    &familiar,
                    &[("name", familiar_repo(&reference).as_str())],
                );
                let done = if fetched.load(Ordering::Relaxed) {
                    "Downloaded newer image for"
                } else {
                    "Image is up to date for"
                };
                vec![
                    json!({"status": format!("Digest: {}", rec.target)}),
                    json!({"status": format!("Status: {done} {}", reference.familiar())}),
                ]
            }
            Err(e) => {
                let m = e.to_string();
                vec![json!({"errorDetail": {"message": m}, "error": m})]
            }
        };
        for m in msgs {
            let _ = tx.send(line(m)).await;
        }
    });
    Ok(resp)
}

/// `GET /images/json`: one entry per image id with all its names.
pub fn list(d: &Arc<Daemon>) -> ApiResult<Response<Body>> {
    let mut by_id: BTreeMap<String, (Vec<String>, Vec<String>, i64, i64)> = BTreeMap::new();
    for s in d.images.list()? {
        let e = by_id
            .entry(s.id.clone())
            .or_insert((vec![], vec![], s.created as i64, s.size));
        if let Ok(r) = s.name.parse::<Reference>() {
            e.0.push(r.familiar());
            let digest = format!("{}@{}", familiar_repo(&r), s.digest);
            if !e.1.contains(&digest) {
                e.1.push(digest);
            }
        }
    }
    let out: Vec<Value> = by_id
        .into_iter()
        .map(|(id, (tags, digests, created, size))| {
            json!({"Id": id, "ParentId": "", "RepoTags": tags, "RepoDigests": digests,
                   "Created": created, "Size": size, "VirtualSize": size, "SharedSize": -1,
                   "Labels": {}, "Containers": -1})
        })
        .collect();
    Ok(http::json(StatusCode::OK, &out))
}

/// `GET /images/{name}/json`.
pub fn inspect(d: &Arc<Daemon>, name: &str) -> ApiResult<Response<Body>> {
    let det = d.images.inspect(name)?;
    let id = det.record.config.clone();
    let mut tags = vec![];
    let mut digests = vec![];
    for s in d.images.list()?.into_iter().filter(|s| s.id == id) {
        if let Ok(r) = s.name.parse::<Reference>() {
            tags.push(r.familiar());
            let dg = format!("{}@{}", familiar_repo(&r), s.digest);
            if !digests.contains(&dg) {
                digests.push(dg);
            }
        }
    }
    let c = &det.config;
    let v = json!({
        "Id": id,
        "RepoTags": tags,
        "RepoDigests": digests,
        "Parent": "",
        "Comment": "",
        "Created": c.get("created").cloned().unwrap_or_else(|| json!("0001-01-01T00:00:00Z")),
        "Container": "",
        "ContainerConfig": {},
        "DockerVersion": "",
        "Author": c.get("author").cloned().unwrap_or_else(|| json!("")),
        "Config": c.get("config").cloned().unwrap_or_else(|| json!({})),
        "Architecture": c.get("architecture").cloned().unwrap_or_else(|| json!("amd64")),
        "Os": c.get("os").cloned().unwrap_or_else(|| json!("linux")),
        "Size": det.size,
        "VirtualSize": det.size,
        "GraphDriver": {"Name": "overlayfs", "Data": {}},
        "RootFS": {"Type": "layers", "Layers": c.pointer("/rootfs/diff_ids").cloned().unwrap_or_else(|| json!([]))},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"}
    });
    Ok(http::json(StatusCode::OK, &v))
}

/// `POST /images/{name}/tag?repo=&tag=`.
pub fn tag(d: &Arc<Daemon>, name: &str, q: &Query) -> ApiResult<Response<Body>> {
    let repo = q
        .get("repo")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad("repo is required"))?;
    let target = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{repo}:{t}"),
        None => repo.to_owned(),
    };
    target
        .parse::<Reference>()
        .map_err(|e| ApiError::bad(format!("invalid reference format: {e}")))?;
    let rec = d.images.tag(name, &target)?;
    let familiar = target
        .parse::<Reference>()
        .map_or(target.clone(), |r| r.familiar());
    d.events
        .emit("image", "tag", &rec.config, &[("name", familiar.as_str())]);
    Ok(http::empty(StatusCode::CREATED))
}

/// `DELETE /images/{name}?force=`: untags; the image goes once no name is left.
pub fn remove(d: &Arc<Daemon>, name: &str, q: &Query) -> ApiResult<Response<Body>> {
    let rec = d.images.resolve(name)?;
    let force = q.flag("force");
    let by_name = name
        .parse::<Reference>()
        .is_ok_and(|r| r.to_string() == rec.name);
    let names: Vec<String> = d
        .images
        .list()?
        .into_iter()
        .filter(|s| s.id == rec.config)
        .map(|s| s.name)
        .collect();
    let to_remove = if by_name {
        vec![rec.name.clone()]
    } else {
        names.clone()
    };
    if !by_name && names.len() > 1 && !force {
        return Err(ApiError::conflict(format!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            short_id(&rec.config)
        )));
    }
    let last = to_remove.len() == names.len();
    if last && !force {
        if let Some(c) = d.container_using_image(&rec.config) {
            return Err(ApiError::conflict(format!(
                "conflict: unable to remove repository reference {name:?} (must force) - container {} is using its referenced image {}",
                short_id(&c),
                short_id(&rec.config)
            )));
        }
    }
    let mut out = vec![];
    let mut seen = HashSet::new();
    for n in &to_remove {
        let removed = d.images.remove(n)?;
        if seen.insert(removed.untagged.clone()) {
            let familiar = removed
                .untagged
                .parse::<Reference>()
                .map_or(removed.untagged.clone(), |r| r.familiar());
            d.events.emit(
                "image",
                "untag",
                &rec.config,
                &[("name", familiar.as_str())],
            );
            out.push(json!({"Untagged": familiar}));
        }
    }
    if last {
        d.events.emit("image", "delete", &rec.config, &[]);
        out.push(json!({"Deleted": rec.config}));
    }
    Ok(http::json(StatusCode::OK, &out))
}

/// The 12 hex characters docker shows for an id.
pub fn short_id(id: &str) -> String {
    let hex = id.split_once(':').map_or(id, |(_, h)| h);
    hex.chars().take(12).collect()
}
