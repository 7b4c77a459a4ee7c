//! The `shim-memory` family (issue 6): RSS and PSS of the shim process per running container,
//! under a private containerd, for every shim available (containerd's Go runc-v2 shim, and
//! containerd-shim-dockermind-v2 once built).

use crate::containerd::{Config, Containerd};
use crate::error::{BenchError, Result};
use crate::family::{Context, Family};
use crate::report::Row;
use crate::smaps::{self, MemUse};
use crate::stats;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A containerd runtime v2 shim to measure.
struct Shim {
    name: &'static str,
    runtime_type: &'static str,
    binary: &'static str,
}

const SHIMS: &[Shim] = &[
    Shim {
        name: "runc-v2 (Go)",
        runtime_type: "io.containerd.runc.v2",
        binary: "containerd-shim-runc-v2",
    },
    Shim {
        name: "dockermind",
        runtime_type: "io.containerd.dockermind.v2",
        binary: "containerd-shim-dockermind-v2",
    },
];

/// Shim memory per running container.
pub struct ShimMemoryFamily;

impl Family for ShimMemoryFamily {
    fn name(&self) -> &'static str {
        "shim-memory"
    }

    fn run(&self, cx: &mut Context) -> Result<Vec<Row>> {
        if dm_testkit::which("containerd").is_none() || dm_testkit::which("ctr").is_none() {
            cx.notes
                .push("shim-memory skipped: containerd or ctr not installed".into());
            return Ok(Vec::new());
        }
        let bin_dirs = shim_dirs();
        let mut rows = Vec::new();
        let mut present = Vec::new();
        for shim in SHIMS {
            let Some(dir) = bin_dirs.iter().find(|d| d.join(shim.binary).exists()) else {
                cx.notes
                    .push(format!("shim-memory: {} not found, skipped", shim.binary));
                continue;
            };
            present.push((shim, dir.clone()));
        }
        for (shim, dir) in &present {
            let state = cx.dir.subdir(&format!("containerd-{}", shim.binary))?;
            // The namespace carries the run prefix: its cgroup is checked like any other.
            let cfg = Config {
                path_dir: Some(dir.clone()),
                ..Config::default()
            };
            let d = Containerd::start(state, &cfg, format!("{}ns", cx.ids.prefix()))?;
            for &count in &cx.opts.shim_containers.clone() {
                let measured = d.measure(shim, cx, count);
                let mems = match measured {
                    Ok(m) => m,
                    Err(e) => {
                        rows.push(row(
                            shim.name,
                            &format!("shim-rss-per-container@{count}"),
                            &[],
                            Some(e.to_string()),
                        ));
                        continue;
                    }
                };
                let mb = |f: fn(&MemUse) -> u64| -> Vec<f64> {
                    mems.iter().map(|m| f(m) as f64 * 1024.0 / 1e6).collect()
                };
                rows.push(row(
                    shim.name,
                    &format!("shim-rss-per-container@{count}"),
                    &mb(|m| m.rss_kib),
                    None,
                ));
                rows.push(row(
                    shim.name,
                    &format!("shim-pss-per-container@{count}"),
                    &mb(|m| m.pss_kib),
                    None,
                ));
            }
            // containerd's namespace cgroup goes with the containerd, so check after it.
            drop(d);
            cx.verify(&format!("shim-memory {}", shim.name));
        }
        if present.len() == SHIMS.len() {
            rows.extend(run_rm_latency(cx, &present)?);
        }
        cx.notes.push(format!(
            "shim-memory: {:?} sleeping containers per shim under a private containerd \
             (`ctr run -d --rootfs`); PSS shrinks as more shims share the binary's pages; \
             ctr-run-rm: `ctr run --rm --rootfs … /bin/true` per shim, the shims alternating \
             within each round, one private containerd serving both",
            cx.opts.shim_containers
        ));
        Ok(rows)
    }
}

fn row(shim: &str, scenario: &str, vals: &[f64], error: Option<String>) -> Row {
    Row {
        family: "shim-memory".into(),
        scenario: scenario.into(),
        runtime: shim.into(),
        unit: "MB".into(),
        rounds: vals.len(),
        median: stats::median(vals),
        min: stats::min(vals),
        max: stats::max(vals),
        vs_crun: None,
        vs_runc: None,
        error,
    }
}

/// Interleaved `ctr run --rm` latency, every shim in each round (order rotating), under one
/// containerd whose PATH holds every shim.
fn run_rm_latency(cx: &mut Context, shims: &[(&Shim, PathBuf)]) -> Result<Vec<Row>> {
    let state = cx.dir.subdir("containerd-latency")?;
    let path_dirs: Vec<String> = shims.iter().map(|(_, d)| d.display().to_string()).collect();
    let cfg = Config {
        path_dir: Some(PathBuf::from(path_dirs.join(":"))),
        ..Config::default()
    };
    let d = Containerd::start(state, &cfg, format!("{}lat", cx.ids.prefix()))?;
    let rootfs = cx.dir.path().join("rootfs").display().to_string();
    let rounds = cx.opts.rounds.clamp(1, 15);
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); shims.len()];
    for round in 0..rounds + 1 {
        for k in 0..shims.len() {
            let i = (round + k) % shims.len();
            let id = cx.ids.next();
            let t = Instant::now();
            d.ctr(&[
                "run",
                "--rm",
                "--runtime",
                shims[i].0.runtime_type,
                "--rootfs",
                &rootfs,
                &id,
                "/bin/true",
            ])?;
            // Round 0 warms both shims up and is not counted.
            if round > 0 {
                times[i].push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
    drop(d);
    cx.verify("shim ctr-run-rm");
    let go = 0;
    let mut rows = Vec::new();
    for (i, (shim, _)) in shims.iter().enumerate() {
        let ratios: Vec<f64> = times[i]
            .iter()
            .zip(&times[go])
            .map(|(a, b)| a / b)
            .collect();
        let mut r = row(shim.name, "ctr-run-rm", &times[i], None);
        r.unit = "ms".into();
        r.vs_runc = stats::median(&ratios);
        rows.push(r);
    }
    Ok(rows)
}

/// containerd's own PATH first, then this workspace's release and debug builds.
pub(crate) fn shim_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let target = crate::workspace_root().join("target/x86_64-unknown-linux-gnu");
    dirs.push(target.join("release"));
    dirs.push(target.join("debug"));
    dirs
}

/// The shim-memory measurements a private containerd runs.
impl Containerd {
    /// Starts `shim_containers` sleeping containers, reads every shim's smaps_rollup, tears
    /// them down.
    fn measure(&self, shim: &Shim, cx: &Context, count: usize) -> Result<Vec<MemUse>> {
        let rootfs = cx.dir.path().join("rootfs");
        let rootfs = rootfs.to_str().unwrap_or_default();
        let ids: Vec<String> = (0..count).map(|_| cx.ids.next()).collect();
        let mut started = Vec::new();
        let mut result = Ok(());
        for id in &ids {
            let r = self.ctr(&[
                // --rootfs is a switch: the "image" argument is then the rootfs path.
                "run",
                "-d",
                "--runtime",
                shim.runtime_type,
                "--rootfs",
                rootfs,
                id,
                "/bin/sleep",
                "3600",
            ]);
            if let Err(e) = r {
                result = Err(e);
                break;
            }
            started.push(id.clone());
        }
        let mems = result.and_then(|_| self.shim_memory(&started));
        for id in &started {
            let _ = self.ctr(&["task", "kill", "-s", "SIGKILL", id]);
        }
        for id in &started {
            // The task must have exited before it can be deleted; poll briefly.
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.ctr(&["task", "delete", id]).is_err() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.ctr(&["container", "delete", id]);
        }
        mems
    }

    /// smaps_rollup of each shim serving this containerd's namespace.
    fn shim_memory(&self, ids: &[String]) -> Result<Vec<MemUse>> {
        let sock = self.dir.join("c.sock").display().to_string();
        let mut out = Vec::new();
        for name in std::fs::read_dir("/proc").map_err(BenchError::io("/proc"))? {
            let Ok(pid) = name.map(|e| e.file_name().to_string_lossy().into_owned()) else {
                continue;
            };
            let Ok(pid) = pid.parse::<u32>() else {
                continue;
            };
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<String> = cmd
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let is_ours = args.first().is_some_and(|a| a.contains("containerd-shim"))
                && args.contains(&sock)
                && args.contains(&self.namespace);
            if is_ours {
                out.push(smaps::of_pid(pid)?);
            }
        }
        if out.len() != ids.len() {
            return Err(BenchError::Input {
                what: "shim processes".into(),
                why: format!(
                    "{} containers running but {} shims found",
                    ids.len(),
                    out.len()
                ),
            });
        }
        Ok(out)
    }
}
