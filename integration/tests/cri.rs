//! Kubernetes' path to dockermind: containerd 1.6's CRI plugin with a runtime handler
//! `dockermind` (what a RuntimeClass names) whose runtime_type is our shim. Driven through the CRI
//! RuntimeService the way a kubelet drives it: pod sandbox, containers, exec, stop, remove.

use dm_integration::cri::{container, host_network_pod, Cri};
use dm_integration::{poll, Containerd, ContainerdOptions, Ctr, DM_RUNTIME};
use dm_testkit::{require_cmd, require_root, unique_id, TempDir};
use std::path::Path;
use std::time::Duration;

/// The handler name a RuntimeClass would carry.
const HANDLER: &str = "dockermind";
/// The pod sandbox ("pause") image: busybox sleeping, imported before CRI needs it.
const PAUSE: &str = "docker.io/library/dm-pause:latest";
const WAIT: Duration = Duration::from_secs(30);

/// containerd's CRI section: runc stays the default, our shim is handler `dockermind`, no CNI (host-network pods), a
/// stream server on a free loopback port, and the sandbox's oom_score_adj clamped to
/// containerd's own (root here cannot lower it).
fn cri_config(dir: &Path) -> String {
    format!(
        r#"[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni-bin"
    conf_dir = "{d}/cni-conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{HANDLER}]
    runtime_type = "{DM_RUNTIME}"
"#,
        d = dir.display()
    )
}

#[test]
fn kubelet_calls_run_a_pod_on_the_dockermind_handler() {
    if !require_root("CRI pod on the dockermind handler")
        || !require_cmd("containerd")
        || !require_cmd("ctr")
    {
        return;
    }
    let dirs = TempDir::new("dm-cri");
    for d in ["cni-bin", "cni-conf", "logs"] {
        std::fs::create_dir_all(dirs.path().join(d)).unwrap();
    }
    let mut opts = ContainerdOptions::with_workspace_bins().extra(&cri_config(dirs.path()));
    opts.disabled_plugins.clear();
    let ctd = Containerd::start(opts);
    // CRI keeps its images in the k8s.io namespace; ctr puts them there as a node image
    // preloader would.
    let k8s = Ctr::new(ctd.address(), "k8s.io".into());
    let pause_tar = dirs.path().join("pause.tar");
    dm_integration::write_busybox_image_tar_with_cmd(
        &pause_tar,
        &dirs.path().join("pause-build"),
        &["sleep", "1000000"],
    );
    assert_eq!(k8s.import_image(&pause_tar, "dm-pause"), PAUSE);
    let busybox = k8s.import_image(ctd.busybox_tar(), "busybox");

    let mut cri = Cri::connect(&ctd.address());
    let v = cri
        .version()
        .unwrap_or_else(|e| panic!("CRI Version: {e}\n{}", ctd.log()));
    assert_eq!(v.runtime_name, "containerd", "{v:?}");

    let name = unique_id("pod");
    let pod_cfg = host_network_pod(&name, &dirs.path().join("logs"));
    let pod = cri
        .run_pod(&pod_cfg, HANDLER)
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", ctd.log()));
    // The sandbox runs under our shim: containerd recorded the handler's runtime type and the
    // task's parent is containerd-shim-dockermind-v2.
    let info = k8s.ok(&["container", "info", &pod]).stdout;
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["Runtime"]["Name"], DM_RUNTIME, "{info:#}");
    let pause_pid: i32 = k8s.task_pid(&pod);
    assert_eq!(parent_comm(pause_pid), "containerd-shim", "pid {pause_pid}");
    assert!(
        std::fs::read_link(format!("/proc/{}/exe", parent_pid(pause_pid)))
            .unwrap()
            .ends_with(dm_integration::DM_SHIM_BIN),
        "the sandbox's parent is not our shim"
    );

    // A container that prints and exits: its exit code and its log reach CRI.
    let once = cri
        .create_container(
            &pod,
            container(
                "once",
                &busybox,
                &["sh", "-c", "echo hello; exit 3"],
                "once.log",
            ),
            &pod_cfg,
        )
        .unwrap_or_else(|e| panic!("CreateContainer: {e}\n{}", ctd.log()));
    cri.start_container(&once)
        .unwrap_or_else(|e| panic!("StartContainer: {e}\n{}", ctd.log()));
    let st = cri.wait_exited(&once, WAIT);
    assert_eq!(st.exit_code, 3, "{st:?}");
    let log = std::fs::read_to_string(dirs.path().join("logs/once.log")).unwrap();
    assert!(log.contains(" stdout F hello"), "CRI log: {log:?}");

    // A long-running container: ExecSync through our shim, and the pod's shared PID namespace
    // (the sandbox's sleep is pid 1 for every container of the pod).
    let long = cri
        .create_container(
            &pod,
            container("long", &busybox, &["sleep", "1000"], "long.log"),
            &pod_cfg,
        )
        .unwrap();
    cri.start_container(&long).unwrap();
    let r = cri
        .exec_sync(&long, &["sh", "-c", "echo $((6*7)); echo err >&2; exit 5"])
        .unwrap_or_else(|e| panic!("ExecSync: {e}\n{}", ctd.log()));
    assert_eq!(
        (r.stdout.as_str(), r.stderr.as_str(), r.exit_code),
        ("42\n", "err\n", 5),
        "{r:?}"
    );
    let r = cri.exec_sync(&long, &["cat", "/proc/1/cmdline"]).unwrap();
    assert_eq!(r.stdout, "sleep\x001000000\x00", "{r:?}");

    cri.stop_container(&long, 0).unwrap();
    let st = cri.wait_exited(&long, WAIT);
    assert_eq!(
        st.exit_code,
        128 + 9,
        "SIGKILL after a zero grace period: {st:?}"
    );
    for c in [&once, &long] {
        cri.remove_container(c).unwrap();
    }
    cri.remove_pod(&pod)
        .unwrap_or_else(|e| panic!("Stop/RemovePodSandbox: {e}\n{}", ctd.log()));
    assert!(cri.pod_ids().unwrap().is_empty());
    poll("the pod's shim to exit", WAIT, || {
        ctd.shim_pids().is_empty().then_some(())
    });
}

fn parent_pid(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    rest.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The parent's comm (the kernel truncates it to 15 bytes).
fn parent_comm(pid: i32) -> String {
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", parent_pid(pid))).unwrap();
    comm.trim().to_owned()
}
