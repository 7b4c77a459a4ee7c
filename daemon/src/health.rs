//! Healthchecks as dockerd runs them: the probe (the image's HEALTHCHECK or `--health-*`) runs
//! through the shim's exec every interval (every start interval while a container with a start
//! period is still starting, API 1.44+); results go to `State.Health` (status, failing streak,
//! the last five results) and status changes to `health_status: X` events.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::exec;
use crate::record::{now_rfc3339, Record};
use crate::stdio::{self, Fifos};
use containerd_shim_protos::api::ExecProcessRequest;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: i64 = 3;
/// dockerd's start interval when a start period is set without one.
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
/// Results kept in `Health.Log`.
const KEEP: usize = 5;
/// Output kept per result.
const MAX_OUTPUT: usize = 4096;

/// `Config.Healthcheck` (durations in nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", args..]` or `["CMD-SHELL", command]` (empty: inherit).
    pub test: Option<Vec<String>>,
    /// Between probes.
    pub interval: i64,
    /// A probe's limit.
    pub timeout: i64,
    /// Failures during it do not count.
    pub start_period: i64,
    /// Failures in a row that make it unhealthy.
    pub retries: i64,
    /// Between probes during the start period (API 1.44+).
    pub start_interval: i64,
}

/// One probe's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Probe {
    /// When it started.
    pub start: String,
    /// When it ended.
    pub end: String,
    /// Its exit code (-1: timed out or could not run).
    pub exit_code: i64,
    /// Its output, cut at 4 KiB.
    pub output: String,
}

/// `State.Health`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// starting, healthy or unhealthy.
    pub status: String,
    /// Failures in a row.
    pub failing_streak: i64,
    /// The last results, oldest first.
    pub log: Vec<Probe>,
}

/// The request's healthcheck over the image's, as dockerd merges them; checked.
pub fn merge(
    req: Option<HealthConfig>,
    img: Option<HealthConfig>,
) -> ApiResult<Option<HealthConfig>> {
    let mut h = match (req, img) {
        (None, i) => i,
        (Some(r), None) => Some(r),
        (Some(mut r), Some(i)) => {
            if r.test.as_ref().is_none_or(Vec::is_empty) {
                r.test = i.test;
            }
            for (a, b) in [
                (&mut r.interval, i.interval),
                (&mut r.timeout, i.timeout),
                (&mut r.start_period, i.start_period),
                (&mut r.retries, i.retries),
                (&mut r.start_interval, i.start_interval),
            ] {
                if *a == 0 {
                    *a = b;
                }
            }
            Some(r)
        }
    };
    if let Some(h) = &mut h {
        for (name, v) in [
            ("Interval", h.interval),
            ("Timeout", h.timeout),
            ("StartPeriod", h.start_period),
            ("StartInterval", h.start_interval),
        ] {
            if v != 0 && v < 1_000_000 {
                return Err(ApiError::bad(format!(
                    "{name} in Healthcheck cannot be less than 1ms"
                )));
            }
        }
        if h.retries < 0 {
            return Err(ApiError::bad("Retries in Healthcheck cannot be negative"));
        }
    }
    Ok(h)
}

/// The probe's argv, None when there is no healthcheck.
fn argv(h: &HealthConfig) -> Option<Vec<String>> {
    let t = h.test.as_ref()?;
    match t.first().map(String::as_str) {
        Some("CMD") if t.len() > 1 => Some(t[1..].to_vec()),
        Some("CMD-SHELL") if t.len() > 1 => {
            Some(vec!["/bin/sh".into(), "-c".into(), t[1..].join(" ")])
        }
        _ => None,
    }
}

fn dur(ns: i64, default: Duration) -> Duration {
    if ns > 0 {
        Duration::from_nanos(ns as u64)
    } else {
        default
    }
}

/// The initial health of a run of `rec` (None without a healthcheck).
pub fn initial(rec: &Record) -> Option<Health> {
    rec.config.healthcheck.as_ref().and_then(argv)?;
    Some(Health {
        status: "starting".into(),
        failing_streak: 0,
        log: rec
            .state
            .health
            .as_ref()
            .map(|h| h.log.clone())
            .unwrap_or_default(),
    })
}

impl Daemon {
    /// Runs the container's probes while this run (`started_at`) lasts.
    pub fn monitor_health(self: &Arc<Self>, id: &str) {
        let Ok(rec) = self.record(id) else { return };
        let Some(h) = rec.config.healthcheck.clone() else {
            return;
        };
        let Some(cmd) = argv(&h) else { return };
        let run = rec.state.started_at.clone();
        let (d, id) = (self.clone(), id.to_owned());
        tokio::spawn(async move {
            let interval = dur(h.interval, DEFAULT_INTERVAL);
            let timeout = dur(h.timeout, DEFAULT_TIMEOUT);
            let start_period = Duration::from_nanos(h.start_period.max(0) as u64);
            let start_interval = dur(h.start_interval, DEFAULT_START_INTERVAL);
            let retries = if h.retries > 0 {
                h.retries
            } else {
                DEFAULT_RETRIES
            };
            let began = std::time::Instant::now();
            let mut starting = true;
            loop {
                // As dockerd: while in its start period and still starting, the start interval.
                let wait = if starting && began.elapsed() < start_period {
                    start_interval
                } else {
                    interval
                };
                tokio::time::sleep(wait).await;
                let live = |d: &Daemon| {
                    d.record(&id).is_ok_and(|r| {
                        r.state.running && !r.state.restarting && r.state.started_at == run
                    })
                };
                if !live(&d) {
                    return;
                }
                let probe_began = began.elapsed();
                let probe = d.probe(&id, &cmd, timeout).await;
                let mut ctrs = d.ctrs();
                let Some(en) = ctrs.get_mut(&id) else { return };
                if !en.rec.state.running || en.rec.state.started_at != run {
                    return;
                }
                let Some(health) = en.rec.state.health.as_mut() else {
                    return;
                };
                let old = health.status.clone();
                if probe.exit_code == 0 {
                    health.failing_streak = 0;
                    health.status = "healthy".into();
                } else if !(health.status == "starting" && probe_began < start_period) {
                    health.failing_streak += 1;
                    if health.failing_streak >= retries {
                        health.status = "unhealthy".into();
                    }
                }
                starting = health.status == "starting";
                health.log.push(probe);
                let n = health.log.len();
                health.log.drain(..n.saturating_sub(KEEP));
                let new = health.status.clone();
                d.save(&en.rec);
                if new != old {
                    d.emit_container(&en.rec, &format!("health_status: {new}"), &[]);
                }
            }
        });
    }

    /// Runs one probe through the shim's exec, killing it at `timeout`.
    async fn probe(self: &Arc<Self>, id: &str, cmd: &[String], timeout: Duration) -> Probe {
        let start = now_rfc3339();
        let (exit_code, output) = match self.probe_exec(id, cmd, timeout).await {
            Ok(r) => r,
            Err(e) => (-1, e),
        };
        Probe {
            start,
            end: now_rfc3339(),
            exit_code,
            output,
        }
    }

    async fn probe_exec(
        self: &Arc<Self>,
        id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<(i64, String), String> {
        let (rec, shim) = {
            let ctrs = self.ctrs();
            let en = ctrs.get(id).ok_or("container gone")?;
            (
                en.rec.clone(),
                en.shim.clone().ok_or("container not running")?,
            )
        };
        let eid = crate::daemon::random_id();
        let bundle = self.bundle(id);
        let fifos = Fifos::paths(&bundle, &format!("health-{}", &eid[..12]), false, false);
        let spec = crate::spec::exec_process(&rec, cmd, &[], "", "", false, &bundle.join("rootfs"))
            .map_err(|e| e.message)?;
        fifos.make().map_err(|e| e.to_string())?;
        let (done_tx, mut done) = tokio::sync::watch::channel(None);
        self.execs.lock().unwrap().insert(
            eid.clone(),
            crate::exec::ExecEntry {
                container: id.to_owned(),
                config: Default::default(),
                started: true,
                pid: 0,
                done: done_tx,
            },
        );
        let req = ExecProcessRequest {
            id: id.to_owned(),
            exec_id: eid.clone(),
            stdout: fifos.stdout.to_string_lossy().into_owned(),
            stderr: Fifos::field(&fifos.stderr),
            spec: exec::process_any(&spec),
            ..Default::default()
        };
        let result = async {
            let s = shim.clone();
            tokio::task::spawn_blocking(move || s.exec(req))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.message())?;
            let mut out = stdio::open_reader(&fifos.stdout).map_err(|e| e.to_string())?;
            let mut err = match &fifos.stderr {
                Some(p) => Some(stdio::open_reader(p).map_err(|e| e.to_string())?),
                None => None,
            };
            let (s, c, e) = (shim.clone(), id.to_owned(), eid.clone());
            tokio::task::spawn_blocking(move || s.start(&c, &e))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.message())?;
            let collect = async {
                let mut a = vec![];
                let mut b = vec![];
                let _ = tokio::join!(out.read_to_end(&mut a), async {
                    if let Some(r) = err.as_mut() {
                        let _ = r.read_to_end(&mut b).await;
                    }
                });
                a.extend_from_slice(&b);
                let code = done.wait_for(Option::is_some).await.ok().and_then(|c| *c);
                (code.unwrap_or(-1), a)
            };
            match tokio::time::timeout(timeout, collect).await {
                Ok((code, mut a)) => {
                    a.truncate(MAX_OUTPUT);
                    Ok((code as i64, String::from_utf8_lossy(&a).into_owned()))
                }
                Err(_) => {
                    let (s, c, e) = (shim.clone(), id.to_owned(), eid.clone());
                    let _ = tokio::task::spawn_blocking(move || s.kill(&c, &e, 9, false)).await;
                    Ok((
                        -1,
                        format!(
                            "Health check exceeded timeout ({})",
                            humantime::format_duration(timeout)
                        ),
                    ))
                }
            }
        }
        .await;
        self.execs.lock().unwrap().remove(&eid);
        for p in std::iter::once(&fifos.stdout).chain(fifos.stderr.iter()) {
            let _ = std::fs::remove_file(p);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthchecks_merge_over_the_image_and_are_checked() {
        let img = HealthConfig {
            test: Some(vec!["CMD-SHELL".into(), "true".into()]),
            interval: 5_000_000_000,
            retries: 2,
            ..Default::default()
        };
        let req = HealthConfig {
            interval: 1_000_000_000,
            ..Default::default()
        };
        let m = merge(Some(req), Some(img.clone())).unwrap().unwrap();
        assert_eq!(m.test, img.test);
        assert_eq!((m.interval, m.retries), (1_000_000_000, 2));
        assert_eq!(argv(&m).unwrap(), ["/bin/sh", "-c", "true"]);
        let none = HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        };
        assert!(argv(&merge(Some(none), Some(img)).unwrap().unwrap()).is_none());
        let bad = HealthConfig {
            interval: 10,
            ..Default::default()
        };
        assert!(merge(Some(bad), None).unwrap_err().message.contains("1ms"));
        let bad = HealthConfig {
            start_interval: 10,
            ..Default::default()
        };
        assert_eq!(
            merge(Some(bad), None).unwrap_err().message,
            "StartInterval in Healthcheck cannot be less than 1ms"
        );
    }
}
