//! Container endpoints: create, start, stop, restart, kill, wait, attach, logs, inspect,
//! list, remove.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Query};
use crate::lifecycle::parse_signal;
use crate::record::{CreateRequest, Record};
use crate::stdio::{self, STDERR, STDOUT};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `POST /containers/create?name=`.
pub async fn create(
    d: &Arc<Daemon>,
    q: &Query,
    req: Request<Incoming>,
    version: (u32, u32),
) -> ApiResult<Response<Body>> {
    let mut body: CreateRequest = http::read_json(req).await?;
    // As dockerd: older clients cannot ask for a start interval.
    if version < (1, 44) {
        if let Some(h) = body.config.healthcheck.as_mut() {
            h.start_interval = 0;
        }
    }
    let host = body.host_config.get_or_insert_with(Default::default);
    crate::resources::adapt(host);
    let warnings = crate::resources::verify(host)?;
    let id = d.create(q.get("name"), body).await?;
    Ok(http::json(
        StatusCode::CREATED,
        &json!({"Id": id, "Warnings": warnings}),
    ))
}

/// `POST /containers/{id}/start`.
pub async fn start(d: &Arc<Daemon>, id: &str) -> ApiResult<Response<Body>> {
    let id = d.find(id)?;
    Ok(http::empty(if d.start(&id).await? {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_MODIFIED
    }))
}

/// `POST /containers/{id}/stop?t=`.
pub async fn stop(d: &Arc<Daemon>, id: &str, q: &Query) -> ApiResult<Response<Body>> {
    let id = d.find(id)?;
    let t = q.int("t")?.or(q.int("timeout")?);
    // Read first: a --rm container is gone once stopped.
    let rec = d.record(&id)?;
    Ok(http::empty(if d.stop(&id, t).await? {
        d.emit_container(&rec, "stop", &[]);
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_MODIFIED
    }))
}

/// `POST /containers/{id}/restart?t=`.
pub async fn restart(d: &Arc<Daemon>, id: &str, q: &Query) -> ApiResult<Response<Body>> {
    let id = d.find(id)?;
    let rec = d.record(&id)?;
    if d.stop(&id, q.int("t")?).await? {
        d.emit_container(&rec, "stop", &[]);
    }
    d.start(&id).await?;
    d.emit_container(&rec, "restart", &[]);
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/kill?signal=`.
pub async fn kill(d: &Arc<Daemon>, id: &str, q: &Query) -> ApiResult<Response<Body>> {
    let id = d.find(id)?;
    let sig = parse_signal(
        q.get("signal")
            .filter(|s| !s.is_empty())
            .unwrap_or("SIGKILL"),
    )?;
    d.kill(&id, sig, false).await?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `DELETE /containers/{id}?force=`.
pub async fn remove(d: &Arc<Daemon>, id: &str, q: &Query) -> ApiResult<Response<Body>> {
    let id = d.find(id)?;
    if q.flag("link") {
        return Err(ApiError::bad("links are not supported"));
    }
    let points = d.record(&id)?.mount_points;
    d.remove(&id, q.flag("force")).await?;
    if q.flag("v") {
        d.drop_anonymous_volumes(&points);
    }
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/wait?condition=`: headers at once, the status when it happens.
pub async fn wait(d: &Arc<Daemon>, id: &str, q: &Query) -> ApiResult<Response<Body>> {
    let id = d.find(id)?;
    let cond = q.get("condition").unwrap_or("not-running").to_owned();
    if !matches!(cond.as_str(), "" | "not-running" | "next-exit" | "removed") {
        return Err(ApiError::bad(format!(
            "invalid condition: {cond:?} (not-running, next-exit or removed)"
        )));
    }
    let (mut rx, running, seen) = {
        let ctrs = d.ctrs();
        let en = ctrs
            .get(&id)
            .ok_or_else(|| ApiError::not_found(format!("No such container: {id}")))?;
        (
            en.phase.subscribe(),
            en.rec.state.running || en.rec.state.status == "starting",
            {
                let e = en.phase.borrow().exits;
                e
            },
        )
    };
    let last_code = d.record(&id).map(|r| r.state.exit_code).unwrap_or(0);
    let (resp, tx) = http::streamed(StatusCode::OK, "application/json");
    tokio::spawn(async move {
        let code = match cond.as_str() {
            "removed" => rx.wait_for(|p| p.removed).await.map(|p| p.code).ok(),
            "next-exit" => rx.wait_for(|p| p.exits > seen).await.map(|p| p.code).ok(),
            _ if !running => Some(last_code),
            _ => rx
                .wait_for(|p| p.exits > seen || p.removed)
                .await
                .map(|p| p.code)
                .ok(),
        };
        let body = match code {
            Some(c) => json!({"StatusCode": c, "Error": null}),
            None => {
                json!({"StatusCode": -1, "Error": {"Message": "container was removed before the condition was met"}})
            }
        };
        let _ = tx.send(Bytes::from(format!("{body}\n"))).await;
    });
    Ok(resp)
}

/// The content type of attach and logs streams.
pub fn stream_type(tty: bool, version: (u32, u32)) -> &'static str {
    if !tty && version >= (1, 42) {
        "application/vnd.docker.multiplexed-stream"
    } else {
        "application/vnd.docker.raw-stream"
    }
}

/// `POST /containers/{id}/attach`: hijacks the connection; output framed unless tty.
pub async fn attach(
    d: &Arc<Daemon>,
    id: &str,
    q: &Query,
    req: Request<Incoming>,
    version: (u32, u32),
) -> ApiResult<Response<Body>> {
    let id = d.find(id)?;
    let (rx, mut stdin_rx, tty, stdin_once, open_stdin) = {
        let mut ctrs = d.ctrs();
        let en = ctrs
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found(format!("No such container: {id}")))?;
        // Subscribed before answering: output from a start that follows is not missed.
        let rx = en.hub.get_or_insert_with(stdio::hub).subscribe();
        let c = &en.rec.config;
        (rx, en.stdin.subscribe(), c.tty, c.stdin_once, c.open_stdin)
    };
    let want = (q.flag("stdout"), q.flag("stderr"));
    let stdin_wanted = q.flag("stdin") && open_stdin;
    let upgrade = hyper::upgrade::on(req);
    let d = d.clone();
    tokio::spawn(async move {
        let Ok(up) = upgrade.await else { return };
        let (mut r, mut w) = tokio::io::split(hyper_util::rt::TokioIo::new(up));
        if stdin_wanted {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                loop {
                    let n = r.read(&mut buf).await.unwrap_or(0);
                    // The fifo opens at start, which `docker run` asks for after attaching.
                    let Ok(s) = stdin_rx.wait_for(Option::is_some).await.map(|s| s.clone()) else {
                        break;
                    };
                    let Some(s) = s else { break };
                    let mut g = s.lock().await;
                    if n == 0 {
                        if stdin_once {
                            *g = None;
                            d.close_stdin(&id, "").await;
                        }
                        break;
                    }
                    if let Some(p) = g.as_mut() {
                        if p.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            });
        }
        let mut rx = rx;
        loop {
            match rx.recv().await {
                Ok((s, data)) => {
                    if (s == STDOUT && !want.0) || (s == STDERR && !want.1) {
                        continue;
                    }
                    let b = if tty { data } else { stdio::frame(s, &data) };
                    if w.write_all(&b).await.is_err() {
                        break;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
        let _ = w.shutdown().await;
    });
    Ok(crate::exec::hijacked(tty, version))
}

/// `GET /containers/{id}/logs`: the json-file log (then live output with follow).
pub async fn logs(
    d: &Arc<Daemon>,
    id: &str,
    q: &Query,
    version: (u32, u32),
) -> ApiResult<Response<Body>> {
    let id = d.find(id)?;
    let (want_out, want_err) = (q.flag("stdout"), q.flag("stderr"));
    if !want_out && !want_err {
        return Err(ApiError::bad("you must choose at least one stream"));
    }
    let stamps = q.flag("timestamps");
    let tail = match q.get("tail") {
        None | Some("all") | Some("") => None,
        Some(t) => Some(
            t.parse::<usize>()
                .map_err(|_| ApiError::bad(format!("invalid value for tail: {t:?}")))?,
        ),
    };
    let (rec, live) = {
        let mut ctrs = d.ctrs();
        let en = ctrs
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found(format!("No such container: {id}")))?;
        let live = (q.flag("follow") && en.rec.state.running)
            .then(|| en.hub.get_or_insert_with(stdio::hub).subscribe());
        (en.rec.clone(), live)
    };
    let tty = rec.config.tty;
    let mut entries: Vec<_> = crate::jsonlog::read(&d.log_path(&id))
        .into_iter()
        .filter(|(s, _, _)| (*s == STDOUT && want_out) || (*s == STDERR && want_err))
        .collect();
    if let Some(n) = tail {
        entries = entries.split_off(entries.len().saturating_sub(n));
    }
    let (resp, tx) = http::streamed(StatusCode::OK, stream_type(tty, version));
    let enc = move |s: u8, data: &[u8], time: Option<&str>| -> Bytes {
        let mut v = Vec::new();
        if let Some(t) = time.filter(|_| stamps) {
            v.extend_from_slice(t.as_bytes());
            v.push(b' ');
        }
        v.extend_from_slice(data);
        if tty {
            Bytes::from(v)
        } else {
            stdio::frame(s, &v)
        }
    };
    tokio::spawn(async move {
        for (s, data, time) in entries {
            if tx.send(enc(s, &data, Some(&time))).await.is_err() {
                return;
            }
        }
        if let Some(mut rx) = live {
            loop {
                match rx.recv().await {
                    Ok((s, data)) if (s == STDOUT && want_out) || (s == STDERR && want_err) => {
                        let now = crate::record::now_rfc3339();
                        if tx.send(enc(s, &data, Some(&now))).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                }
            }
        }
    });
    Ok(resp)
}

fn unix_secs(rfc3339: &str) -> i64 {
    humantime::parse_rfc3339_weak(
        rfc3339
            .trim_end_matches('Z')
            .split('.')
            .next()
            .unwrap_or_default(),
    )
    .ok()
    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
    .map_or(0, |d| d.as_secs() as i64)
}

fn ago(rfc3339: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let s = (now - unix_secs(rfc3339)).max(0);
    match s {
        0 => "Less than a second".into(),
        1..=59 => format!("{s} seconds"),
        60..=3599 => format!("{} minutes", s / 60),
        _ => format!("{} hours", s / 3600),
    }
}

fn status_text(r: &Record) -> String {
    match r.state.status.as_str() {
        "running" => match r.state.health.as_ref().map(|h| h.status.as_str()) {
            Some("starting") => format!("Up {} (health: starting)", ago(&r.state.started_at)),
            Some(h) => format!("Up {} ({h})", ago(&r.state.started_at)),
            None => format!("Up {}", ago(&r.state.started_at)),
        },
        "paused" => format!("Up {} (Paused)", ago(&r.state.started_at)),
        "exited" => format!(
            "Exited ({}) {} ago",
            r.state.exit_code,
            ago(&r.state.finished_at)
        ),
        "created" => "Created".into(),
        "restarting" => format!(
            "Restarting ({}) {} ago",
            r.state.exit_code,
            ago(&r.state.finished_at)
        ),
        other => other.to_owned(),
    }
}

fn image_name(d: &Daemon, r: &Record) -> String {
    if r.config.image.is_empty() {
        r.image_id.clone()
    } else {
        let _ = d;
        r.config.image.clone()
    }
}

/// Docker's filters parameter: `{"name":{"x":true}}` or the older `{"name":["x"]}`.
fn filters(q: &Query) -> ApiResult<Vec<(String, String)>> {
    let Some(raw) = q.get("filters").filter(|f| !f.is_empty()) else {
        return Ok(vec![]);
    };
    let v: Value =
        serde_json::from_str(raw).map_err(|e| ApiError::bad(format!("invalid filters: {e}")))?;
    let mut out = vec![];
    for (k, vals) in v.as_object().into_iter().flatten() {
        match vals {
            Value::Object(m) => out.extend(m.keys().map(|x| (k.clone(), x.clone()))),
            Value::Array(a) => out.extend(
                a.iter()
                    .filter_map(|x| x.as_str())
                    .map(|x| (k.clone(), x.to_owned())),
            ),
            _ => return Err(ApiError::bad(format!("invalid filter {k:?}"))),
        }
    }
    Ok(out)
}

fn matches(r: &Record, fs: &[(String, String)]) -> ApiResult<bool> {
    let mut by_key: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (k, v) in fs {
        by_key.entry(k.as_str()).or_default().push(v.as_str());
    }
    for (k, vals) in by_key {
        let ok = match k {
            "name" => vals
                .iter()
                .any(|v| r.name.contains(v.trim_start_matches('/'))),
            "id" => vals.iter().any(|v| r.id.starts_with(v)),
            "status" => vals.iter().any(|v| *v == r.state.status),
            "health" => vals.iter().any(|v| {
                *v == r
                    .state
                    .health
                    .as_ref()
                    .filter(|_| r.state.running)
                    .map_or("none", |h| h.status.as_str())
            }),
            "label" => vals.iter().all(|v| {
                let (lk, lv) = v.split_once('=').map_or((*v, None), |(a, b)| (a, Some(b)));
                r.config
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(lk))
                    .is_some_and(|x| lv.is_none_or(|lv| lv == x))
            }),
            other => return Err(ApiError::bad(format!("invalid filter '{other}'"))),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `GET /containers/json?all=&filters=&limit=`.
pub fn list(d: &Arc<Daemon>, q: &Query) -> ApiResult<Response<Body>> {
    let all = q.flag("all");
    let fs = filters(q)?;
    let mut recs: Vec<Record> = d.ctrs().values().map(|e| e.rec.clone()).collect();
    recs.sort_by(|a, b| b.created.cmp(&a.created));
    let mut out = vec![];
    for r in recs {
        if (!all && !r.state.running) || !matches(&r, &fs)? {
            continue;
        }
        out.push(json!({
            "Id": r.id,
            "Names": [format!("/{}", r.name)],
            "Image": image_name(d, &r),
            "ImageID": r.image_id,
            "Command": r.command(),
            "Created": unix_secs(&r.created),
            "Ports": d.net_ps_ports(&r),
            "Labels": r.config.labels.clone().unwrap_or_default(),
            "State": r.state.status,
            "Status": status_text(&r),
            "HostConfig": {"NetworkMode": if r.host_config.network_mode.is_empty() { "default" } else { &r.host_config.network_mode }},
            "NetworkSettings": {"Networks": d.net_settings(&r)["Networks"]},
            "Mounts": crate::mounts::inspect(&r.mount_points)
        }));
    }
    if let Some(n) = q.int("limit")?.filter(|n| *n > 0) {
        out.truncate(n as usize);
    }
    Ok(http::json(StatusCode::OK, &out))
}

/// `GET /containers/{id}/json`.
pub fn inspect(d: &Arc<Daemon>, id: &str) -> ApiResult<Response<Body>> {
    let id = d.find(id)?;
    let r = d.record(&id)?;
    let mounts = crate::mounts::inspect(&r.mount_points);
    let s = &r.state;
    let mut v = json!({
        "Id": r.id,
        "Created": r.created,
        "Path": r.path,
        "Args": r.args,
        "State": {
            "Status": s.status, "Running": s.running, "Paused": s.status == "paused", "Restarting": s.restarting,
            "OOMKilled": false, "Dead": false, "Pid": s.pid, "ExitCode": s.exit_code,
            "Error": s.error, "StartedAt": s.started_at, "FinishedAt": s.finished_at,
            "Health": s.health
        },
        "Image": r.image_id,
        "ResolvConfPath": d.container_dir(&r.id).join("resolv.conf"),
        "HostnamePath": d.container_dir(&r.id).join("hostname"),
        "HostsPath": d.container_dir(&r.id).join("hosts"),
        "LogPath": d.log_path(&r.id),
        "Name": format!("/{}", r.name),
        "RestartCount": r.restart_count,
        "Driver": "overlayfs",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": null,
        "HostConfig": {
            "Binds": r.host_config.binds,
            "Mounts": r.host_config.mounts,
            "Tmpfs": r.host_config.tmpfs,
            "VolumesFrom": r.host_config.volumes_from,
            "NetworkMode": if r.host_config.network_mode.is_empty() { "default" } else { &r.host_config.network_mode },
            "AutoRemove": r.host_config.auto_remove,
            "Memory": r.host_config.memory,
            "NanoCpus": r.host_config.nano_cpus,
            "PidsLimit": r.host_config.pids_limit,
            "MemorySwap": r.host_config.memory_swap,
            "MemoryReservation": r.host_config.memory_reservation,
            "CpuShares": r.host_config.cpu_shares,
            "CpuPeriod": r.host_config.cpu_period,
            "CpuQuota": r.host_config.cpu_quota,
            "CpusetCpus": r.host_config.cpuset_cpus,
            "CpusetMems": r.host_config.cpuset_mems,
            "BlkioWeight": r.host_config.blkio_weight,
            "PortBindings": r.host_config.port_bindings,
            "PublishAllPorts": r.host_config.publish_all_ports,
            "Dns": r.host_config.dns,
            "ExtraHosts": r.host_config.extra_hosts,
            "LogConfig": {
                "Type": "json-file",
                "Config": r.host_config.log_config.as_ref().map(|c| c.config.clone()).unwrap_or_default(),
            },
            "RestartPolicy": r.host_config.restart_policy.clone().filter(|p| !p.is_none()).unwrap_or_else(|| crate::restart::RestartPolicy {
                name: "no".into(),
                maximum_retry_count: 0,
            })
        },
        "GraphDriver": {"Name": "overlayfs", "Data": {}},
        "Mounts": mounts,
        "Config": r.config,
        "NetworkSettings": d.net_settings(&r)
    });
    // As dockerd: no Health without a healthcheck.
    if r.state.health.is_none() {
        if let Some(st) = v["State"].as_object_mut() {
            st.remove("Health");
        }
    }
    Ok(http::json(StatusCode::OK, &v))
}
