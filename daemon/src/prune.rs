//! `POST /containers/prune` and `POST /images/prune` (volumes prune lives with volumes).

use crate::daemon::Daemon;
use crate::error::ApiResult;
use crate::filter::Filters;
use crate::http::{self, Body, Query};
use dm_image::Reference;
use hyper::{Response, StatusCode};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// `POST /containers/prune?filters=`: every container that does not run.
pub async fn containers(d: &Arc<Daemon>, q: &Query) -> ApiResult<Response<Body>> {
    let f = Filters::parse(q, &["until", "label", "label!"])?;
    let until = f.until()?;
    let doomed: Vec<String> = d
        .ctrs()
        .values()
        .map(|e| &e.rec)
        .filter(|r| !r.state.running && !matches!(r.state.status.as_str(), "starting" | "removing"))
        .filter(|r| until.is_none_or(|u| crate::filter::created_secs(&r.created) < u))
        .filter(|r| f.labels(&r.config.labels.clone().unwrap_or_default()))
        .map(|r| r.id.clone())
        .collect();
    let mut deleted = vec![];
    let mut reclaimed: i64 = 0;
    for id in doomed {
        let size = d
            .images
            .snapshotter()
            .usage(&id)
            .map_or(0, |u| u.size.max(0));
        if d.remove(&id, false).await.is_ok() {
            reclaimed += size;
            deleted.push(id);
        }
    }
    d.events.emit(
        "container",
        "prune",
        "",
        &[("reclaimed", &reclaimed.to_string())],
    );
    Ok(http::json(
        StatusCode::OK,
        &json!({"ContainersDeleted": deleted, "SpaceReclaimed": reclaimed}),
    ))
}

/// `POST /images/prune?filters=`: with `dangling=false`, every image no container uses; by
/// default only dangling ones, which this store never has (every image keeps a name), so then
/// only unreferenced blobs and snapshots go.
pub async fn images(d: &Arc<Daemon>, q: &Query) -> ApiResult<Response<Body>> {
    let f = Filters::parse(q, &["dangling", "until", "label", "label!"])?;
    let dangling_only = f.boolean("dangling")?.unwrap_or(true);
    let until = f.until()?;
    let used: BTreeSet<String> = d.ctrs().values().map(|e| e.rec.image_id.clone()).collect();
    let mut by_id: BTreeMap<String, (Vec<String>, u64, i64)> = BTreeMap::new();
    for s in d.images.list()? {
        let e = by_id
            .entry(s.id.clone())
            .or_insert((vec![], s.created, s.size));
        e.0.push(s.name);
        e.1 = e.1.max(s.created);
    }
    let mut out = vec![];
    let mut reclaimed: i64 = 0;
    for (id, (names, created, size)) in by_id {
        if dangling_only || used.contains(&id) || until.is_some_and(|u| created as f64 >= u) {
            continue;
        }
        let labels: BTreeMap<String, String> = d
            .images
            .inspect(&id)
            .ok()
            .and_then(|det| {
                serde_json::from_value(det.config.pointer("/config/Labels")?.clone()).ok()
            })
            .unwrap_or_default();
        if !f.labels(&labels) {
            continue;
        }
        let mut all_gone = true;
        for n in &names {
            match d.images.remove(n) {
                Ok(_) => {
                    let familiar = n.parse::<Reference>().map_or(n.clone(), |r| r.familiar());
                    d.events.emit("image", "untag", &id, &[("name", &familiar)]);
                    out.push(json!({"Untagged": familiar}));
                }
                Err(_) => all_gone = false,
            }
        }
        if all_gone {
            d.events.emit("image", "delete", &id, &[]);
            out.push(json!({"Deleted": id}));
            reclaimed += size.max(0);
        }
    }
    let d2 = d.clone();
    let _ = tokio::task::spawn_blocking(move || d2.images.prune()).await;
    d.events.emit(
        "image",
        "prune",
        "",
        &[("reclaimed", &reclaimed.to_string())],
    );
    Ok(http::json(
        StatusCode::OK,
        &json!({"ImagesDeleted": if out.is_empty() { serde_json::Value::Null } else { json!(out) }, "SpaceReclaimed": reclaimed}),
    ))
}
