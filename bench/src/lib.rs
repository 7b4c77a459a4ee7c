//! dm-bench: side-by-side benchmarks of dm-runc against runc, crun and youki.
//!
//! Every runtime runs the same bundle from a private `--root`, in rounds where the runtimes
//! alternate, inside one private mount namespace that gives them a pure cgroup v1 view.

pub mod build;
pub mod bundle;
pub mod cleanup;
pub mod containerd;
pub mod cri;
pub mod daemon;
pub mod dockerd;
pub mod driver;
pub mod error;
pub mod family;
pub mod image;
pub mod import;
pub mod layer_apply;
pub mod netenv;
pub mod network;
pub mod oci_image;
pub mod parity;
pub mod proxies;
pub mod registry;
pub mod report;
pub mod runner;
pub mod runtime;
pub mod scenario;
pub mod seccomp;
pub mod shim_memory;
pub mod smaps;
pub mod snapshot_latency;
pub mod stats;
pub mod sys;

use error::Result;
use family::{Context, Family, Options};
use report::{Cleanup, Method, Report};
use std::path::Path;
use std::time::Instant;

/// Every family the harness knows, in run order.
pub fn families() -> Vec<Box<dyn Family>> {
    vec![
        Box::new(runner::RuntimeFamily),
        Box::new(shim_memory::ShimMemoryFamily),
        Box::new(import::ImportFamily),
        Box::new(cri::CriFamily),
        Box::new(image::ImageFamily),
        Box::new(registry::RegistryFamily),
        Box::new(build::BuildFamily),
        Box::new(network::NetworkFamily),
        Box::new(daemon::DaemonFamily),
    ]
}

/// The workspace root (for fixtures of other crates and bench/RESULTS.md).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
}

/// Runs the selected families over `runtimes` and assembles the report. The caller has
/// already entered the cgroup view (`sys::enter_v1_view`) before starting any thread.
pub fn run(
    runtimes: Vec<runtime::Runtime>,
    view: sys::CgroupView,
    opts: &Options,
    mut notes: Vec<String>,
) -> Result<Report> {
    let started = Instant::now();
    let loadavg = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let spec_rt = ["runc", "crun", "dm-runc"]
        .iter()
        .find_map(|n| runtimes.iter().find(|r| r.name == *n))
        .or(runtimes.first())
        .ok_or_else(|| error::BenchError::Input {
            what: "runtimes".into(),
            why: "none available (install runc or crun, or pass --runtime NAME=PATH)".into(),
        })?;
    let profile = seccomp::profile(workspace_root())?;
    let dir = bundle::BenchDir::new(spec_rt, &profile.oci)?;
    // main entered a private mount namespace, so this tmpfs is the harness's alone.
    let state = dir.subdir("roots")?;
    sys::mount_tmpfs(&state)?;
    let prefix = format!("dmb-{}-", std::process::id());
    let ids = scenario::Ids::new(&prefix);
    let roots = runtimes
        .iter()
        .map(|r| dir.path().join("roots").join(&r.name))
        .collect();
    let verifier = cleanup::Verifier::new(&prefix, dir.path(), roots, view.cover.clone());
    let mut cleanup = Cleanup::default();
    let mut rows = Vec::new();
    for fam in families() {
        if !opts.families.iter().any(|f| f == fam.name()) {
            continue;
        }
        let mut cx = Context {
            runtimes: &runtimes,
            dir: &dir,
            ids: &ids,
            verifier: &verifier,
            opts,
            cleanup: &mut cleanup,
            notes: &mut notes,
        };
        match fam.run(&mut cx) {
            Ok(r) => rows.extend(r),
            Err(e) => notes.push(format!("family {} failed: {e}", fam.name())),
        }
    }
    Ok(Report {
        date: utc_now(),
        kernel: sys::kernel_release(),
        cgroup: view,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        runtimes,
        method: Method {
            warmup: opts.warmup,
            rounds: opts.rounds,
            parallel_rounds: opts.parallel_rounds,
            parallel_count: opts.parallel_count,
            settle_ms: opts.settle_ms,
            spec_from: dir.spec_from.clone(),
            seccomp_source: profile.source,
            seccomp_rules: profile.rules,
        },
        rows,
        cleanup,
        notes,
        total_seconds: started.elapsed().as_secs_f64(),
        workspace_commit: git_head(),
        loadavg,
    })
}

fn git_head() -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(workspace_root())
        .args(["rev-parse", "--short", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !s.is_empty()).then_some(s)
}

/// The current UTC time as `YYYY-MM-DD HH:MM`.
fn utc_now() -> String {
    let t = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    format!("{} {}", &t[..10], &t[11..16])
}
