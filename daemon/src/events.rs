//! The event bus: modules call [`Events::emit`]; `GET /events` replays the recent past
//! (`since`) and streams what follows until `until` or the client leaves.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::filter::{parse_time, Filters};
use crate::http::{self, Body, Query};
use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;

/// How many past events `since` can reach back to (dockerd keeps 256; a little more helps
/// busy tests).
const KEEP: usize = 1024;

/// An event's subject.
#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    /// Container id, image reference, volume name...
    #[serde(rename = "ID")]
    pub id: String,
    /// name, image, exitCode, signal, driver...
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// One event in docker's shape (with the pre-1.22 `status`/`id`/`from` fields docker keeps).
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    /// The action (pre-1.22 name).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// The actor's id (pre-1.22 name).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// A container's image (pre-1.22 name).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub from: String,
    /// container, image, volume, network, daemon.
    #[serde(rename = "Type")]
    pub kind: String,
    /// create, start, die, pull, mount...
    #[serde(rename = "Action")]
    pub action: String,
    /// What it happened to.
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// Always local.
    pub scope: &'static str,
    /// Seconds since the epoch.
    pub time: i64,
    /// Nanoseconds since the epoch.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

/// The bus: a broadcast for live readers and a ring of recent events for `since`.
pub struct Events {
    tx: broadcast::Sender<Arc<Message>>,
    past: Mutex<VecDeque<Arc<Message>>>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::channel(KEEP).0,
            past: Mutex::new(VecDeque::with_capacity(KEEP)),
        }
    }
}

impl Events {
    /// Publishes an event about `id` of type `kind` (attributes as `(key, value)` pairs).
    pub fn emit(&self, kind: &str, action: &str, id: &str, attrs: &[(&str, &str)]) {
        let attributes: BTreeMap<String, String> = attrs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as i64;
        let legacy = matches!(kind, "container" | "image");
        let m = Arc::new(Message {
            status: if legacy {
                action.to_owned()
            } else {
                String::new()
            },
            id: if legacy { id.to_owned() } else { String::new() },
            from: if kind == "container" {
                attributes.get("image").cloned().unwrap_or_default()
            } else {
                String::new()
            },
            kind: kind.to_owned(),
            action: action.to_owned(),
            actor: Actor {
                id: id.to_owned(),
                attributes,
            },
            scope: "local",
            time: nanos / 1_000_000_000,
            time_nano: nanos,
        });
        // The ring and the send under one lock: a reader that subscribes and then copies the
        // ring sees every event exactly once.
        let mut past = self.past.lock().unwrap();
        if past.len() == KEEP {
            past.pop_front();
        }
        past.push_back(m.clone());
        let _ = self.tx.send(m);
    }

    /// A live subscription plus the past events at subscription time.
    fn subscribe(&self) -> (broadcast::Receiver<Arc<Message>>, Vec<Arc<Message>>) {
        let past = self.past.lock().unwrap();
        (self.tx.subscribe(), past.iter().cloned().collect())
    }
}

/// Whether `m` passes docker's event filters.
pub fn matches(m: &Message, f: &Filters) -> bool {
    let attr = |k: &str| m.actor.attributes.get(k).map(String::as_str);
    let is = |kind: &str| m.kind == kind;
    f.any("type", |t| t == m.kind)
        && f.any("event", |e| {
            // `exec_start: sh` style actions match their prefix, as docker's do.
            e == m.action || m.action.split(':').next() == Some(e)
        })
        && f.any("container", |c| {
            is("container") && (m.actor.id.starts_with(c) || attr("name") == Some(c))
        })
        && f.any("image", |i| {
            let img = if is("image") {
                Some(m.actor.id.as_str())
            } else {
                attr("image")
            };
            img.is_some_and(|x| x == i || strip_tag(x) == i)
                || attr("name") == Some(i) && is("image")
        })
        && f.any("volume", |v| is("volume") && m.actor.id == v)
        && f.any("network", |n| {
            is("network") && (m.actor.id.starts_with(n) || attr("name") == Some(n))
        })
        && f.get("label").iter().all(|l| {
            let (k, v) = l
                .split_once('=')
                .map_or((l.as_str(), None), |(a, b)| (a, Some(b)));
            attr(k).is_some_and(|x| v.is_none_or(|v| v == x))
        })
}

/// `host:5000/repo:tag` -> `host:5000/repo`.
fn strip_tag(r: &str) -> &str {
    match r.rfind(':') {
        Some(i) if !r[i..].contains('/') => &r[..i],
        _ => r,
    }
}

fn nanos(secs: f64) -> i64 {
    (secs * 1e9) as i64
}

/// `GET /events?since=&until=&filters=`: newline-separated JSON messages.
pub async fn stream(d: &Arc<Daemon>, q: &Query) -> ApiResult<Response<Body>> {
    let f = Filters::parse(
        q,
        &[
            "type",
            "event",
            "container",
            "image",
            "volume",
            "network",
            "label",
            "daemon",
            "scope",
        ],
    )?;
    let time = |k: &str| -> ApiResult<Option<i64>> {
        q.get(k)
            .filter(|v| !v.is_empty())
            .map(|v| {
                parse_time(v)
                    .map(nanos)
                    .ok_or_else(|| ApiError::bad(format!("invalid value for {k}: {v:?}")))
            })
            .transpose()
    };
    let (since, until) = (time("since")?, time("until")?);
    let (mut rx, past) = d.events.subscribe();
    let line = |m: &Message| {
        let mut b = serde_json::to_vec(m).unwrap_or_default();
        b.push(b'\n');
        Bytes::from(b)
    };
    let (resp, tx) = http::streamed(StatusCode::OK, "application/json");
    tokio::spawn(async move {
        let in_window = |m: &Message| until.is_none_or(|u| m.time_nano <= u);
        // The ring was copied at subscription: live events all come after it.
        if let Some(s) = since {
            for m in past.iter().filter(|m| m.time_nano >= s) {
                if in_window(m) && matches(m, &f) && tx.send(line(m)).await.is_err() {
                    return;
                }
            }
        }
        let now = nanos(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64(),
        );
        let deadline = until.map(|u| {
            tokio::time::Instant::now() + Duration::from_nanos(u.saturating_sub(now).max(0) as u64)
        });
        loop {
            let next = async {
                match deadline {
                    Some(dl) => tokio::time::timeout_at(dl, rx.recv()).await.ok(),
                    None => Some(rx.recv().await),
                }
            };
            let got = tokio::select! {
                g = next => g,
                _ = tx.closed() => return,
            };
            match got {
                None => return,
                Some(Ok(m)) => {
                    if !in_window(&m) {
                        return;
                    }
                    if matches(&m, &f) && tx.send(line(&m)).await.is_err() {
                        return;
                    }
                }
                Some(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                Some(Err(_)) => return,
            }
        }
    });
    Ok(resp)
}

impl Daemon {
    /// Publishes a container event with docker's attributes (image, name, labels) plus `extra`.
    pub fn emit_container(
        &self,
        rec: &crate::record::Record,
        action: &str,
        extra: &[(&str, &str)],
    ) {
        let labels = rec.config.labels.clone().unwrap_or_default();
        let mut attrs: Vec<(&str, &str)> = vec![("image", &rec.config.image), ("name", &rec.name)];
        attrs.extend(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        attrs.extend_from_slice(extra);
        self.events.emit("container", action, &rec.id, &attrs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_docker_shape_and_filter_by_type_name_and_label() {
        let ev = Events::default();
        ev.emit(
            "container",
            "die",
            "abc123",
            &[("name", "web"), ("image", "busybox"), ("exitCode", "3")],
        );
        ev.emit("volume", "create", "data", &[("driver", "local")]);
        let (_, past) = ev.subscribe();
        let v = serde_json::to_value(&*past[0]).unwrap();
        assert_eq!(v["Type"], "container");
        assert_eq!(v["status"], "die");
        assert_eq!(v["from"], "busybox");
        assert_eq!(v["Actor"]["Attributes"]["exitCode"], "3");
        assert!(v["timeNano"].as_i64().unwrap() / 1_000_000_000 == v["time"].as_i64().unwrap());
        let vol = serde_json::to_value(&*past[1]).unwrap();
        assert!(vol.get("status").is_none(), "{vol}");
        let f = |s: &str| {
            Filters::parse(
                &Query::parse(Some(&format!("filters={s}"))),
                &["type", "container", "event", "label", "volume"],
            )
            .unwrap()
        };
        assert!(matches(&past[0], &f(r#"{"container":["web"]}"#)));
        assert!(!matches(&past[1], &f(r#"{"container":["web"]}"#)));
        assert!(matches(
            &past[1],
            &f(r#"{"type":["volume"],"volume":["data"]}"#)
        ));
        assert!(matches(
            &past[0],
            &f(r#"{"label":["exitCode=3"],"event":["die"]}"#)
        ));
        assert!(!matches(&past[0], &f(r#"{"event":["start"]}"#)));
        assert_eq!(
            strip_tag("127.0.0.1:5000/busybox:latest"),
            "127.0.0.1:5000/busybox"
        );
        assert_eq!(
            strip_tag("127.0.0.1:5000/busybox"),
            "127.0.0.1:5000/busybox"
        );
    }
}
