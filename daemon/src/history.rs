//! `GET /images/{name}/history`: the image config's history, newest first, each entry that
//! made a layer sized by that layer's snapshot.

use crate::daemon::Daemon;
use crate::error::ApiResult;
use crate::http::{self, Body};
use dm_image::Reference;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

/// Seconds since the epoch of an RFC 3339 time (0 when it is not one).
fn unix(t: Option<&str>) -> i64 {
    t.and_then(|t| humantime::parse_rfc3339_weak(t.trim_end_matches('Z')).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

/// `GET /images/{name}/history`.
pub fn history(d: &Arc<Daemon>, name: &str) -> ApiResult<Response<Body>> {
    let det = d.images.inspect(name)?;
    let rec = &det.record;
    let sizes: Vec<i64> = rec
        .chain_ids
        .iter()
        .map(|c| d.images.snapshotter().usage(c).map_or(0, |u| u.size))
        .collect();
    let mut entries: Vec<Value> = det
        .config
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if entries.is_empty() {
        // An image without history: one anonymous entry per layer.
        entries = sizes.iter().map(|_| json!({})).collect();
    }
    let mut layer = 0;
    let mut out: Vec<Value> = entries
        .iter()
        .map(|h| {
            let empty = h["empty_layer"].as_bool().unwrap_or(false);
            let size = if empty {
                0
            } else {
                layer += 1;
                sizes.get(layer - 1).copied().unwrap_or(0)
            };
            json!({
                "Id": "<missing>",
                "Created": unix(h["created"].as_str()),
                "CreatedBy": h["created_by"].as_str().unwrap_or(""),
                "Tags": Value::Null,
                "Size": size,
                "Comment": h["comment"].as_str().unwrap_or(""),
            })
        })
        .collect();
    out.reverse();
    let tags: Vec<String> = d
        .images
        .list()?
        .into_iter()
        .filter(|s| s.id == rec.config)
        .filter_map(|s| s.name.parse::<Reference>().ok())
        .filter(|r| r.tag().is_some())
        .map(|r| r.familiar())
        .collect();
    if let Some(top) = out.first_mut() {
        top["Id"] = json!(rec.config);
        top["Tags"] = json!(tags);
    }
    Ok(http::json(StatusCode::OK, &out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_times_are_unix_seconds() {
        assert_eq!(unix(Some("1970-01-02T00:00:00Z")), 86400);
        assert_eq!(unix(Some("2024-01-01T00:00:00.5Z")), 1704067200);
        assert_eq!(unix(Some("yesterday")), 0);
        assert_eq!(unix(None), 0);
    }
}
