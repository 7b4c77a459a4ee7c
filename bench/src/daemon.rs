//! The `daemon` family (issue 17): the docker workflow's cost through each stack's own CLI.
//! `run --rm --network none busybox true` through the dockermind CLI and dockermindd, Debian's
//! docker CLI 20.10 and a private dockerd 20.10 (with its own containerd), and podman (no
//! daemon; conmon and crun or runc); 20 such runs started at once; idle RSS of the daemons
//! after the runs (dockerd and its containerd, dockermindd).
//!
//! All three run the same busybox image, pulled from one local dm-registry (podman loads the
//! same OCI archive). Sides alternate order every round; ratios are to docker in the same
//! round.

use crate::dockerd::Dockerd;
use crate::error::{BenchError, Result};
use crate::family::{Context, Family};
use crate::import::paired_rows;
use crate::report::Row;
use crate::smaps;
use dm_integration::{DmRegistry, Dockermindd, Podman};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Containers started at once in the parallel scenario.
const PARALLEL: usize = 20;

/// Side names, docker (the baseline of the ratios) first.
const NAMES: [&str; 3] = ["docker 20.10 (dockerd)", "dockermind", "podman"];

/// One stack under test.
enum Side {
    Docker(Dockerd),
    Dockermind(Dockermindd, PathBuf),
    Podman(Podman),
}

impl Side {
    /// The command running `true` in a fresh container removed afterwards.
    fn run_true(&self, image: &str) -> Command {
        let args = ["run", "--rm", "--network", "none", image, "true"];
        match self {
            Side::Docker(d) => d.cli(&args),
            Side::Dockermind(d, cli) => {
                let mut c = Command::new(cli);
                c.arg("-H").arg(d.host()).args(args).stdin(Stdio::null());
                c
            }
            Side::Podman(p) => p.cmd(&[
                "run",
                "--rm",
                "--network=none",
                "--ulimit",
                "nofile=20000:20000",
                "--ulimit",
                "nproc=32768:32768",
                image,
                "true",
            ]),
        }
    }
}

/// Runs `n` copies of the command at once; the wall time until all exited, in ms.
fn timed(side: &Side, image: &str, n: usize) -> Result<f64> {
    let t = Instant::now();
    let children: Vec<_> = (0..n)
        .map(|_| {
            side.run_true(image)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|source| BenchError::Spawn {
                    cmd: "run --rm true".into(),
                    source,
                })
        })
        .collect::<Result<_>>()?;
    let mut failed = None;
    for c in children {
        let out = c.wait_with_output().map_err(BenchError::io("wait"))?;
        if !out.status.success() && failed.is_none() {
            failed = Some(BenchError::Failed {
                cmd: "run --rm --network none busybox true".into(),
                code: out.status.code().unwrap_or(-1),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
    }
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    failed.map_or(Ok(ms), Err)
}

fn ok(mut c: Command, what: &str) -> Result<()> {
    let out = c
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| BenchError::Spawn {
            cmd: what.into(),
            source,
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(BenchError::Failed {
        cmd: what.into(),
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    })
}

fn rss_mb(pid: Option<u32>, what: &str) -> Result<f64> {
    let pid = pid.ok_or_else(|| BenchError::Input {
        what: what.into(),
        why: "not running".into(),
    })?;
    Ok(smaps::of_pid(pid)?.rss_kib as f64 * 1024.0 / 1e6)
}

/// dockermind vs docker vs podman through their CLIs.
pub struct DaemonFamily;

impl Family for DaemonFamily {
    fn name(&self) -> &'static str {
        "daemon"
    }

    fn run(&self, cx: &mut Context) -> Result<Vec<Row>> {
        for cmd in ["skopeo", "dockerd"] {
            if dm_testkit::which(cmd).is_none() {
                cx.notes
                    .push(format!("daemon: skipped, {cmd} not installed"));
                return Ok(Vec::new());
            }
        }
        // The harness types of dm-integration panic on failure: a failure here is a note.
        let rows = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.measure(cx)));
        let rows = match rows {
            Ok(r) => r?,
            Err(p) => {
                let why = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                cx.notes.push(format!("daemon: failed: {why}"));
                Vec::new()
            }
        };
        cx.verify("daemon");
        Ok(rows)
    }
}

impl DaemonFamily {
    fn measure(&self, cx: &mut Context) -> Result<Vec<Row>> {
        let cli = dm_testkit::workspace_bin("dockermind");
        let registry = DmRegistry::start(&[]);
        let image = format!("{}:latest", registry.push_busybox());
        let work = cx.dir.subdir("daemon")?;
        let prefix = cx.ids.prefix().to_owned();
        let mut sides: Vec<std::result::Result<Side, String>> = Vec::new();
        sides.push(
            Dockerd::start(&work.join("docker"), &format!("{prefix}docker"))
                .and_then(|d| {
                    ok(d.cli(&["pull", "-q", &image]), "docker pull")?;
                    Ok(Side::Docker(d))
                })
                .map_err(|e| e.to_string()),
        );
        let dmd = Dockermindd::start();
        let mut pull = Command::new(&cli);
        pull.arg("-H").arg(dmd.host()).args(["pull", &image]);
        sides.push(
            ok(pull, "dockermind pull")
                .map(|_| Side::Dockermind(dmd, cli.clone()))
                .map_err(|e| e.to_string()),
        );
        let runtime = dm_testkit::which("crun").or_else(|| dm_testkit::which("runc"));
        let podman_image;
        match (dm_testkit::which("podman"), &runtime) {
            (Some(_), Some(rt)) => {
                let p = Podman::new(rt);
                let tar = p.scratch().join("busybox.tar");
                let w = p.scratch().join("busybox");
                std::fs::create_dir_all(&w).map_err(BenchError::io(&w))?;
                dm_integration::write_busybox_image_tar(&tar, &w);
                podman_image = p.load_image(&tar, "busybox");
                sides.push(Ok(Side::Podman(p)));
            }
            _ => {
                podman_image = String::new();
                sides.push(Err("podman or crun/runc not installed".into()));
            }
        }
        let image_of = |i: usize| {
            if i == 2 {
                podman_image.as_str()
            } else {
                image.as_str()
            }
        };
        let mut errors: Vec<Option<String>> =
            sides.iter().map(|s| s.as_ref().err().cloned()).collect();
        let mut single = vec![Vec::new(); 3];
        let mut parallel = vec![Vec::new(); 3];
        let warmup = cx.opts.warmup.max(1);
        let rounds = cx.opts.rounds.max(1);
        let par_rounds = cx.opts.parallel_rounds.max(1);
        for round in 0..warmup + rounds + par_rounds {
            for k in 0..3 {
                let i = (round + k) % 3;
                let (Ok(side), None) = (&sides[i], &errors[i]) else {
                    continue;
                };
                let n = if round < warmup + rounds { 1 } else { PARALLEL };
                match timed(side, image_of(i), n) {
                    Ok(_) if round < warmup => {}
                    Ok(ms) if n == 1 => single[i].push(ms),
                    Ok(ms) => parallel[i].push(ms),
                    Err(e) => errors[i] = Some(e.to_string()),
                }
                std::thread::sleep(Duration::from_millis(cx.opts.settle_ms));
            }
        }
        let mut rows = paired_rows(
            "daemon",
            "run-rm-true",
            "ms",
            &NAMES,
            single,
            errors.clone(),
        );
        rows.extend(paired_rows(
            "daemon",
            &format!("run-rm-true-{PARALLEL}-parallel"),
            "ms",
            &NAMES,
            parallel,
            errors.clone(),
        ));
        // Idle: every container is gone; give deferred work a moment to finish.
        std::thread::sleep(Duration::from_millis(500));
        let (docker, dm) = (&sides[0], &sides[1]);
        let gone = |e: &Option<String>| Err(e.clone().unwrap_or_default());
        let idle: [std::result::Result<f64, String>; 3] = match (docker, dm) {
            (Ok(Side::Docker(d)), _) => [
                rss_mb(d.pid(), "dockerd").map_err(|e| e.to_string()),
                rss_mb(d.containerd_pid(), "dockerd's containerd").map_err(|e| e.to_string()),
                Ok(0.0),
            ],
            _ => [gone(&errors[0]), gone(&errors[0]), Ok(0.0)],
        };
        let [a, b, _] = idle;
        let c = match dm {
            Ok(Side::Dockermind(d, _)) => {
                rss_mb(Some(d.pid()), "dockermindd").map_err(|e| e.to_string())
            }
            _ => gone(&errors[1]),
        };
        let (rss, rss_err): (Vec<Vec<f64>>, Vec<Option<String>>) = [a, b, c]
            .into_iter()
            .map(|r| match r {
                Ok(x) => (vec![x], None),
                Err(e) => (vec![], Some(e)),
            })
            .unzip();
        rows.extend(paired_rows(
            "daemon",
            "idle-rss",
            "MB",
            &["dockerd", "containerd (dockerd's)", "dockermindd"],
            rss,
            rss_err,
        ));
        cx.notes.push(format!(
            "daemon: `run --rm --network none <busybox> true` through each CLI ({} rounds, \
             sides rotating; {PARALLEL} at once for {} rounds): docker = /usr/bin/docker 20.10 \
             against a private dockerd 20.10 (--ip-forward=false --iptables=false --bridge=none, \
             overlay2, its own managed containerd, runc); dockermind = {} against dockermindd \
             (containerd-shim-dockermind-v2, dm-runc); podman = {} (overlay, cgroupfs, no \
             daemon). Idle RSS after the runs; vs_runc column = ratio to docker (idle-rss: to \
             dockerd)",
            rounds,
            par_rounds,
            cli.display(),
            runtime.map_or("-".into(), |r| format!("podman with {}", r.display()))
        ));
        drop(sides);
        let _ = std::fs::remove_dir_all(&work);
        Ok(rows)
    }
}
