//! The event bus: modules call [`Events::emit`]; `GET /events` replays the recent past
//! (`since`) and streams what follows until `until` or the client leaves. The recent past is
//! also appended to `<root>/events.jsonl`, so a restarted (or SIGKILLed) daemon still answers
//! `since` with what happened before.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::filter::{parse_time, Filters};
use crate::http::{self, Body, Query};
use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;

/// How many past events `since` can reach back to (dockerd keeps 256 in memory; a little more
/// helps busy tests). The file holds between KEEP and 2*KEEP lines: it is cut back to the
/// last KEEP when it reaches twice that.
const KEEP: usize = 1024;

/// An event's subject.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Actor {
    /// Container id, image reference, volume name...
    #[serde(rename = "ID")]
    pub id: String,
    /// name, image, exitCode, signal, driver...
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// One event in docker's shape (with the pre-1.22 `status`/`id`/`from` fields docker keeps).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    /// The action (pre-1.22 name).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// The actor's id (pre-1.22 name).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// A container's image (pre-1.22 name).
    #[serde(default, skip_serializing_if = "String::is_empty")]
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
    pub scope: String,
    /// Seconds since the epoch.
    pub time: i64,
    /// Nanoseconds since the epoch.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

/// The bus: a broadcast for live readers, a ring of recent events for `since`, and the file
/// that keeps the ring across restarts.
pub struct Events {
    tx: broadcast::Sender<Arc<Message>>,
    past: Mutex<Past>,
}

/// The ring and its file (None: in memory only).
struct Past {
    ring: VecDeque<Arc<Message>>,
    file: Option<PathBuf>,
    /// Lines in the file.
    lines: usize,
}

impl Default for Events {
    fn default() -> Self {
        Events::with_past(VecDeque::with_capacity(KEEP), None, 0)
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
            scope: "local".to_owned(),
            time: nanos / 1_000_000_000,
            time_nano: nanos,
        });
        // The ring and the send under one lock: a reader that subscribes and then copies the
        // ring sees every event exactly once.
        let mut past = self.past.lock().unwrap();
        if past.ring.len() == KEEP {
            past.ring.pop_front();
        }
        past.ring.push_back(m.clone());
        past.persist(&m);
        let _ = self.tx.send(m);
    }

    /// A live subscription plus the past events at subscription time.
    fn subscribe(&self) -> (broadcast::Receiver<Arc<Message>>, Vec<Arc<Message>>) {
        let past = self.past.lock().unwrap();
        (self.tx.subscribe(), past.ring.iter().cloned().collect())
    }

    /// The bus whose past lives in `file`: its last KEEP events are read back (lines that do
    /// not parse, e.g. one cut by a crash, are skipped).
    pub fn open(file: &Path) -> Events {
        let mut ring = VecDeque::with_capacity(KEEP);
        let mut lines = 0;
        if let Ok(f) = std::fs::File::open(file) {
            for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
                lines += 1;
                if let Ok(m) = serde_json::from_str::<Message>(&line) {
                    if ring.len() == KEEP {
                        ring.pop_front();
                    }
                    ring.push_back(Arc::new(m));
                }
            }
        }
        Events::with_past(ring, Some(file.to_path_buf()), lines)
    }

    fn with_past(ring: VecDeque<Arc<Message>>, file: Option<PathBuf>, lines: usize) -> Events {
        Events {
            tx: broadcast::channel(KEEP).0,
            past: Mutex::new(Past { ring, file, lines }),
        }
    }
}

impl Past {
    /// Appends `m` to the file (one write, no fsync: it must survive the daemon's death, not
    /// the host's); at 2*KEEP lines the file is rewritten with the ring.
    fn persist(&mut self, m: &Message) {
        let Some(path) = &self.file else { return };
        let r = if self.lines + 1 >= 2 * KEEP {
            let tmp = path.with_extension("tmp");
            let mut text = Vec::new();
            for e in &self.ring {
                serde_json::to_writer(&mut text, &**e).unwrap_or_default();
                text.push(b'\n');
            }
            std::fs::write(&tmp, &text)
                .and_then(|_| std::fs::rename(&tmp, path))
                .map(|_| self.lines = self.ring.len())
        } else {
            let mut line = serde_json::to_vec(m).unwrap_or_default();
            line.push(b'\n');
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(&line))
                .map(|_| self.lines += 1)
        };
        if let Err(e) = r {
            eprintln!("dockermindd: keep event in {}: {e}", path.display());
        }
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

    /// Publishes a network event (`create`, `destroy`, and `connect`/`disconnect` naming the
    /// container) with docker's attributes name and type (the driver).
    pub fn emit_network(&self, id: &str, name: &str, action: &str, container: Option<&str>) {
        let mut attrs = vec![("name", name), ("type", "bridge")];
        if let Some(c) = container {
            attrs.push(("container", c));
        }
        self.events.emit("network", action, id, &attrs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_past_survives_reopening_and_the_file_stays_bounded() {
        let dir = std::env::temp_dir().join(format!("dm-events-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("events.jsonl");
        let ev = Events::open(&file);
        for i in 0..2 * KEEP + 5 {
            ev.emit("network", "create", &format!("n{i}"), &[("name", "x")]);
        }
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        assert!((KEEP..2 * KEEP).contains(&lines), "{lines} lines");
        // A line cut short by a crash is skipped.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap()
            .write_all(b"{\"Type\":\"netw")
            .unwrap();
        let (_, past) = Events::open(&file).subscribe();
        assert_eq!(past.len(), KEEP);
        assert_eq!(past.last().unwrap().actor.id, format!("n{}", 2 * KEEP + 4));
        assert_eq!(past[0].actor.id, format!("n{}", KEEP + 5));
        assert_eq!(past[0].scope, "local");
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
