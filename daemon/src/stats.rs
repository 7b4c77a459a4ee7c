//! `GET /containers/{id}/stats`: the container's cgroup statistics (read by dm-cgroups, v1 or
//! v2) in docker's shape, one sample (`stream=false`) or one per second.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Query};
use bytes::Bytes;
use dm_cgroups::stats::{BlkioEntry, Stats};
use dm_cgroups::Cgroup;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Docker's sampling interval.
const INTERVAL: Duration = Duration::from_secs(1);

/// One sample: when, the cgroup numbers, the host's CPU time.
struct Sample {
    read: String,
    stats: Stats,
    system: u64,
}

/// The host's CPU time in nanoseconds as docker counts it (the `cpu` line of /proc/stat).
fn system_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = text
        .lines()
        .find(|l| l.starts_with("cpu "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(7)
                .filter_map(|x| x.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * (1_000_000_000 / hz)
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with("MemTotal:"))?;
            l.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib * 1024)
}

fn blkio(list: &[BlkioEntry]) -> Value {
    list.iter()
        .map(|e| json!({"major": e.major, "minor": e.minor, "op": e.op, "value": e.value}))
        .collect()
}

fn cpu(s: Option<&Sample>) -> Value {
    let Some(s) = s else {
        return json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                      "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}});
    };
    let c = &s.stats.cpu;
    let online = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut usage = json!({
        "total_usage": c.usage.total,
        "usage_in_kernelmode": c.usage.kernel,
        "usage_in_usermode": c.usage.user,
    });
    if !c.usage.percpu.is_empty() {
        usage["percpu_usage"] = json!(c.usage.percpu);
    }
    json!({
        "cpu_usage": usage,
        "system_cpu_usage": s.system,
        "online_cpus": online,
        "throttling_data": {"periods": c.throttling.periods, "throttled_periods": c.throttling.throttled_periods,
                            "throttled_time": c.throttling.throttled_time}
    })
}

/// Docker's stats document from a sample and the one before it.
fn shape(name: &str, id: &str, now: &Sample, pre: Option<&Sample>, v2: bool) -> Value {
    let m = &now.stats.memory;
    let limit = match m.usage.limit {
        0 | u64::MAX => mem_total(),
        l => l.min(mem_total().max(1)),
    };
    let mut memory = json!({"usage": m.usage.usage, "stats": m.raw, "limit": limit});
    if !v2 {
        memory["max_usage"] = json!(m.usage.max);
        memory["failcnt"] = json!(m.usage.failcnt);
    }
    let mut pids = json!({"current": now.stats.pids.current});
    if now.stats.pids.limit > 0 {
        pids["limit"] = json!(now.stats.pids.limit);
    }
    json!({
        "read": now.read,
        "preread": pre.map_or(crate::record::ZERO_TIME, |p| p.read.as_str()),
        "pids_stats": pids,
        "blkio_stats": {
            "io_service_bytes_recursive": blkio(&now.stats.blkio.io_service_bytes_recursive),
            "io_serviced_recursive": blkio(&now.stats.blkio.io_serviced_recursive),
            "io_queue_recursive": null, "io_service_time_recursive": null, "io_wait_time_recursive": null,
            "io_merged_recursive": null, "io_time_recursive": null, "sectors_recursive": null
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu(Some(now)),
        "precpu_stats": cpu(pre),
        "memory_stats": memory,
        "name": format!("/{name}"),
        "id": id,
    })
}

fn sample(cg: &Cgroup) -> ApiResult<Sample> {
    let stats = cg
        .stats()
        .map_err(|e| ApiError::internal(format!("read cgroup statistics: {e}")))?;
    Ok(Sample {
        read: crate::record::now_rfc3339(),
        stats,
        system: system_cpu_ns(),
    })
}

/// `GET /containers/{id}/stats?stream=&one-shot=`.
pub async fn get(d: &Arc<Daemon>, id: &str, q: &Query) -> ApiResult<Response<Body>> {
    let id = d.find(id)?;
    let rec = d.record(&id)?;
    let stream = q.get("stream").is_none_or(|_| q.flag("stream"));
    let one_shot = q.flag("one-shot");
    let (resp, tx) = http::streamed(StatusCode::OK, "application/json");
    let path = PathBuf::from(format!(
        "{}/{}",
        d.cfg.cgroup_parent.trim_end_matches('/'),
        id
    ));
    let cg = Cgroup::new(Some(&path), &id)
        .map_err(|e| ApiError::internal(format!("container {id} cgroup: {e}")))?;
    let v2 = cg.mode == dm_cgroups::Mode::Unified;
    let d = d.clone();
    tokio::spawn(async move {
        let mut pre: Option<Sample> = None;
        loop {
            let running = d.record(&id).is_ok_and(|r| r.state.running);
            // A stopped container has no numbers: docker answers zeros.
            let now = if running {
                sample(&cg).unwrap_or(Sample {
                    read: crate::record::now_rfc3339(),
                    stats: Stats::default(),
                    system: system_cpu_ns(),
                })
            } else {
                Sample {
                    read: ZERO.into(),
                    stats: Stats::default(),
                    system: 0,
                }
            };
            // stream=false without one-shot waits for a second sample, so CPU % has a base.
            if !stream && !one_shot && pre.is_none() && running {
                pre = Some(now);
                tokio::time::sleep(INTERVAL).await;
                continue;
            }
            let name = d
                .record(&id)
                .map(|r| r.name)
                .unwrap_or_else(|_| rec.name.clone());
            let mut line =
                serde_json::to_vec(&shape(&name, &id, &now, pre.as_ref(), v2)).unwrap_or_default();
            line.push(b'\n');
            if tx.send(Bytes::from(line)).await.is_err() || !stream || !running {
                return;
            }
            pre = Some(now);
            tokio::select! {
                _ = tokio::time::sleep(INTERVAL) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Ok(resp)
}

const ZERO: &str = crate::record::ZERO_TIME;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_files_become_docker_numbers() {
        let base = std::env::temp_dir().join(format!("dmd-stats-{}", std::process::id()));
        let dir = base.join("parent/ctr");
        std::fs::create_dir_all(&dir).unwrap();
        let files = [
            ("memory.current", "10485760\n"),
            ("memory.max", "max\n"),
            (
                "memory.stat",
                "anon 8388608\nfile 2097152\ninactive_file 1048576\n",
            ),
            (
                "cpu.stat",
                "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
            ),
            ("pids.current", "3\n"),
            ("pids.max", "100\n"),
            ("io.stat", "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2\n"),
        ];
        for (f, v) in files {
            std::fs::write(dir.join(f), v).unwrap();
        }
        let mountinfo = format!("30 25 0:26 / {} rw - cgroup2 cgroup2 rw\n", base.display());
        let host = dm_cgroups::Host::parse(&mountinfo, "0::/\n").unwrap();
        let cg =
            Cgroup::with_host(&host, Some(std::path::Path::new("/parent/ctr")), "ctr").unwrap();
        let now = sample(&cg).unwrap();
        std::fs::remove_dir_all(&base).unwrap();
        let v = shape("web", "abc", &now, None, true);
        assert_eq!(v["name"], "/web");
        assert_eq!(v["memory_stats"]["usage"], 10485760);
        assert_eq!(v["memory_stats"]["stats"]["inactive_file"], 1048576);
        assert_eq!(v["memory_stats"]["limit"], mem_total());
        assert!(v["memory_stats"].get("max_usage").is_none());
        assert_eq!(v["cpu_stats"]["cpu_usage"]["total_usage"], 1_500_000);
        assert_eq!(v["cpu_stats"]["cpu_usage"]["usage_in_usermode"], 1_000_000);
        assert_eq!(v["pids_stats"], json!({"current": 3, "limit": 100}));
        let io = &v["blkio_stats"]["io_service_bytes_recursive"];
        assert_eq!(
            io[0],
            json!({"major": 8, "minor": 0, "op": "Read", "value": 4096})
        );
        assert_eq!(io[1]["value"], 8192);
        assert_eq!(v["preread"], ZERO);
        assert!(v["cpu_stats"]["system_cpu_usage"].as_u64().unwrap() > 0);
    }
}
