//! The `cri` family: a Kubernetes pod's start and teardown through containerd's CRI plugin, the
//! calls a kubelet makes (RunPodSandbox, CreateContainer, StartContainer; StopContainer,
//! RemoveContainer, StopPodSandbox, RemovePodSandbox), on runtime handler `runc` (containerd's Go
//! shim with runc, Kubernetes' default) versus `dockermind` (our shim with dm-runc). Rounds
//! alternate the handlers (order rotating) under one containerd.

use crate::containerd::{Config, Containerd};
use crate::error::{BenchError, Result};
use crate::family::{Context, Family};
use crate::import::paired_rows;
use crate::report::Row;
use dm_integration::cri::{container, host_network_pod, Cri};
use std::time::Instant;

/// (table name, CRI runtime handler, runtime_type).
const HANDLERS: &[(&str, &str, &str)] = &[
    (
        "runc handler (Go shim + runc)",
        "runc",
        "io.containerd.runc.v2",
    ),
    (
        "dockermind handler (our shim + dm-runc)",
        "dockermind",
        "io.containerd.dockermind.v2",
    ),
];
const PAUSE: &str = "docker.io/library/dm-pause:latest";

/// Pod start and teardown latency through CRI.
pub struct CriFamily;

impl Family for CriFamily {
    fn name(&self) -> &'static str {
        "cri"
    }

    fn run(&self, cx: &mut Context) -> Result<Vec<Row>> {
        if dm_testkit::which("containerd").is_none() || dm_testkit::which("ctr").is_none() {
            cx.notes
                .push("cri: skipped, containerd or ctr not installed".into());
            return Ok(Vec::new());
        }
        let Some(shim_dir) = crate::shim_memory::shim_dirs()
            .into_iter()
            .find(|d| d.join("containerd-shim-dockermind-v2").exists())
        else {
            cx.notes
                .push("cri: skipped, containerd-shim-dockermind-v2 not built".into());
            return Ok(Vec::new());
        };
        let dir = cx.dir.subdir("cri")?;
        for d in ["cni-conf", "cni-bin", "logs", "images"] {
            std::fs::create_dir_all(dir.join(d)).map_err(BenchError::io(&dir))?;
        }
        let mut extra = format!(
            "[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"{PAUSE}\"\n  \
             stream_server_address = \"127.0.0.1\"\n  stream_server_port = \"0\"\n  \
             restrict_oom_score_adj = true\n  netns_mounts_under_state_dir = true\n\
             [plugins.\"io.containerd.grpc.v1.cri\".cni]\n  bin_dir = \"{d}/cni-bin\"\n  \
             conf_dir = \"{d}/cni-conf\"\n\
             [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  default_runtime_name = \"runc\"\n",
            d = dir.display()
        );
        for (_, handler, runtime_type) in HANDLERS {
            extra.push_str(&format!(
                "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.{handler}]\n  \
                 runtime_type = \"{runtime_type}\"\n"
            ));
        }
        let cfg = Config {
            path_dir: Some(shim_dir.clone()),
            cri: true,
            extra_toml: extra,
            ..Config::default()
        };
        let ctd = Containerd::start(cx.dir.subdir("cri-containerd")?, &cfg, "k8s.io".into())?;
        let pause = dir.join("images/pause.tar");
        let busybox = dir.join("images/busybox.tar");
        let build = dir.join("images/build");
        dm_integration::write_busybox_image_tar_with_cmd(
            &pause,
            &build.join("p"),
            &["sleep", "1000000"],
        );
        dm_integration::write_busybox_image_tar(&busybox, &build.join("b"));
        for (tar, name) in [(&pause, "dm-pause"), (&busybox, "busybox")] {
            let base = format!("docker.io/library/{name}");
            ctd.ctr(&[
                "image",
                "import",
                "--base-name",
                &base,
                &tar.display().to_string(),
            ])?;
        }
        let mut cri = Cri::connect(&ctd.socket());
        let rounds = cx.opts.rounds.clamp(1, 15);
        let warmup = cx.opts.warmup.min(1);
        let mut start = vec![Vec::new(); HANDLERS.len()];
        let mut teardown = vec![Vec::new(); HANDLERS.len()];
        let mut errors: Vec<Option<String>> = vec![None; HANDLERS.len()];
        for round in 0..warmup + rounds {
            for k in 0..HANDLERS.len() {
                let i = (round + k) % HANDLERS.len();
                if errors[i].is_some() {
                    continue;
                }
                match pod_once(&mut cri, HANDLERS[i].1, &cx.ids.next(), &dir) {
                    Ok((s, t)) if round >= warmup => {
                        start[i].push(s);
                        teardown[i].push(t);
                    }
                    Ok(_) => {}
                    Err(e) => errors[i] = Some(e),
                }
            }
        }
        let left = cri.pod_ids().map(|p| p.len()).unwrap_or(usize::MAX);
        drop(cri);
        drop(ctd);
        cx.verify("cri");
        if left != 0 {
            cx.notes.push(format!("cri: {left} pods left behind"));
        }
        cx.notes.push(
            "cri: pod-start = RunPodSandbox (host network, busybox `sleep` as the sandbox image) + \
             CreateContainer + StartContainer of busybox `sleep`; pod-teardown = StopContainer \
             (grace 0) + RemoveContainer + StopPodSandbox + RemovePodSandbox; one containerd \
             1.6 with both handlers, rounds alternating; vs_runc = ratio to the runc handler in \
             the same round"
                .into(),
        );
        let names: Vec<&str> = HANDLERS.iter().map(|h| h.0).collect();
        let mut rows = paired_rows("cri", "cri-pod-start", "ms", &names, start, errors.clone());
        rows.extend(paired_rows(
            "cri",
            "cri-pod-teardown",
            "ms",
            &names,
            teardown,
            errors,
        ));
        Ok(rows)
    }
}

/// One pod with one container, started then torn down: (start ms, teardown ms).
fn pod_once(
    cri: &mut Cri,
    handler: &str,
    name: &str,
    dir: &std::path::Path,
) -> std::result::Result<(f64, f64), String> {
    let e = |what: &str| {
        let what = what.to_owned();
        move |s: tonic::Status| format!("{what}: {}", s.message())
    };
    let pod_cfg = host_network_pod(name, &dir.join("logs"), "");
    let cfg = container(
        "app",
        "docker.io/library/busybox:latest",
        &["sleep", "1000"],
        &format!("{name}.log"),
    );
    let t = Instant::now();
    let pod = cri.run_pod(&pod_cfg, handler).map_err(e("RunPodSandbox"))?;
    let id = cri
        .create_container(&pod, cfg, &pod_cfg)
        .map_err(e("CreateContainer"))?;
    cri.start_container(&id).map_err(e("StartContainer"))?;
    let started = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    cri.stop_container(&id, 0).map_err(e("StopContainer"))?;
    cri.remove_container(&id).map_err(e("RemoveContainer"))?;
    cri.remove_pod(&pod).map_err(e("Stop/RemovePodSandbox"))?;
    Ok((started, t.elapsed().as_secs_f64() * 1000.0))
}
