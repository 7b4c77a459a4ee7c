//! `GET /system/df`: images, containers and volumes with their disk usage.

use crate::daemon::Daemon;
use crate::error::ApiResult;
use crate::http::{self, Body, Query};
use dm_image::Reference;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// `GET /system/df?type=`.
pub async fn get(d: &Arc<Daemon>, _q: &Query) -> ApiResult<Response<Body>> {
    let d = d.clone();
    let v = tokio::task::spawn_blocking(move || collect(&d))
        .await
        .map_err(|e| crate::error::ApiError::internal(format!("system df: {e}")))??;
    Ok(http::json(StatusCode::OK, &v))
}

fn collect(d: &Daemon) -> ApiResult<Value> {
    let recs: Vec<crate::record::Record> = d.ctrs().values().map(|e| e.rec.clone()).collect();
    let mut by_id: BTreeMap<String, (Vec<String>, u64, i64)> = BTreeMap::new();
    for s in d.images.list()? {
        let e = by_id
            .entry(s.id.clone())
            .or_insert((vec![], s.created, s.size));
        if let Ok(r) = s.name.parse::<Reference>() {
            e.0.push(r.familiar());
        }
    }
    let mut layers: i64 = 0;
    let images: Vec<Value> = by_id
        .iter()
        .map(|(id, (tags, created, size))| {
            layers += size;
            let users = recs.iter().filter(|r| &r.image_id == id).count();
            json!({"Id": id, "ParentId": "", "RepoTags": tags, "RepoDigests": [], "Created": created,
                   "Size": size, "SharedSize": 0, "VirtualSize": size, "Labels": {}, "Containers": users})
        })
        .collect();
    let containers: Vec<Value> = recs
        .iter()
        .map(|r| {
            let rw = d.images.snapshotter().usage(&r.id).map_or(0, |u| u.size);
            let image_size = by_id.get(&r.image_id).map_or(0, |e| e.2);
            json!({"Id": r.id, "Names": [format!("/{}", r.name)], "Image": r.config.image,
                   "ImageID": r.image_id, "Command": r.command(), "Created": created(&r.created),
                   "State": r.state.status, "Status": r.state.status, "SizeRw": rw,
                   "SizeRootFs": rw + image_size, "Labels": r.config.labels.clone().unwrap_or_default(),
                   "Mounts": crate::mounts::inspect(&r.mount_points)})
        })
        .collect();
    Ok(json!({
        "LayersSize": layers,
        "Images": images,
        "Containers": containers,
        "Volumes": crate::volumes::usage(d),
        "BuildCache": []
    }))
}

fn created(rfc3339: &str) -> i64 {
    humantime::parse_rfc3339_weak(
        rfc3339
            .trim_end_matches('Z')
            .split('.')
            .next()
            .unwrap_or(""),
    )
    .ok()
    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
    .map_or(0, |d| d.as_secs() as i64)
}
