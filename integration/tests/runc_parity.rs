//! dm-runc as a drop-in runc: under containerd's own Go shim (`io.containerd.runc.v2` with
//! `--runc-binary`) and under podman + conmon (the path CRI-O uses). Each test also runs with
//! runc itself, so a failure points at dm-runc rather than at the test.

use dm_integration::{
    write_busybox_image_tar, Containerd, ContainerdOptions, Podman, RUNC_RUNTIME,
};
use dm_testkit::{require_cmd, require_root, unique_id, which, workspace_bin, TempDir};
use std::path::PathBuf;
use std::time::Duration;

fn dm_runc() -> PathBuf {
    workspace_bin("dm-runc")
}

fn runc() -> Option<PathBuf> {
    require_cmd("runc").then(|| which("runc").unwrap())
}

fn containerd_runc_shim(binary: PathBuf) {
    if !require_root("containerd_runc_shim") || !require_cmd("containerd") {
        return;
    }
    let ctd = Containerd::start(ContainerdOptions::default());
    let ctr = ctd.ctr();
    let image = ctr.import_image(ctd.busybox_tar(), "busybox");
    let bin = binary.to_str().unwrap();
    let base = ["run", "--runtime", RUNC_RUNTIME, "--runc-binary", bin];

    let id = unique_id("c");
    let mut args = base.to_vec();
    args.extend([
        "--rm",
        &image,
        &id,
        "sh",
        "-c",
        "echo hello from busybox; exit 3",
    ]);
    let out = ctr.run(&args);
    assert_eq!(out.stdout, "hello from busybox\n", "{out:?}\n{}", ctd.log());
    assert_eq!(out.code, 3, "{out:?}");

    let id = unique_id("c");
    let mut args = base.to_vec();
    args.extend(["-d", &image, &id, "sleep", "1000"]);
    ctr.ok(&args);
    ctr.wait_status(&id, "RUNNING", Duration::from_secs(20));
    let out = ctr.run(&[
        "task",
        "exec",
        "--exec-id",
        "x",
        &id,
        "sh",
        "-c",
        "echo in exec; exit 5",
    ]);
    assert_eq!(out.stdout, "in exec\n", "{out:?}");
    assert_eq!(out.code, 5, "{out:?}");
    // pause/resume and metrics go through the runtime binary and the cgroup it made.
    ctr.ok(&["task", "pause", &id]);
    ctr.wait_status(&id, "PAUSED", Duration::from_secs(20));
    ctr.ok(&["task", "resume", &id]);
    ctr.wait_status(&id, "RUNNING", Duration::from_secs(20));
    let m = ctr.ok(&["task", "metrics", "--format", "json", &id]).stdout;
    let v: serde_json::Value = serde_json::from_str(&m).unwrap_or_else(|e| panic!("{e}: {m}"));
    let usage = v["memory"]["usage"]["usage"].as_u64().unwrap_or(0);
    assert!(usage > 0, "no memory usage in metrics: {m}");
    assert!(v["pids"]["current"].as_u64().unwrap_or(0) >= 1, "{m}");
    let ps = ctr.ok(&["task", "ps", &id]).stdout;
    assert!(ps.lines().count() >= 2, "{ps}");
    ctr.ok(&["task", "kill", "-s", "SIGKILL", &id]);
    ctr.wait_status(&id, "STOPPED", Duration::from_secs(20));
    ctr.ok(&["task", "delete", &id]);
    ctr.ok(&["container", "delete", &id]);
}

fn podman_with_runtime(binary: PathBuf) {
    if !require_root("podman_with_runtime") || !require_cmd("podman") || !require_cmd("conmon") {
        return;
    }
    let img = TempDir::new("dm-img");
    let tar = img.path().join("busybox.tar");
    write_busybox_image_tar(&tar, &img.path().join("work"));
    let podman = Podman::new(&binary);
    let image = podman.load_image(&tar, "busybox");

    let out = podman.run_rm(
        &image,
        &[],
        &["sh", "-c", "echo hello from busybox; exit 3"],
    );
    assert_eq!(out.stdout, "hello from busybox\n", "{out:?}");
    assert_eq!(out.code, 3, "{out:?}");

    let name = unique_id("p");
    let out = podman.run(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network=none",
        "--ulimit",
        "nofile=20000:20000",
        "--ulimit",
        "nproc=32768:32768",
        &image,
        "sleep",
        "1000",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = podman.run(&["exec", &name, "sh", "-c", "echo in exec; exit 5"]);
    assert_eq!(out.stdout, "in exec\n", "{out:?}");
    assert_eq!(out.code, 5, "{out:?}");
    let out = podman.run(&["rm", "--force", "--time", "0", &name]);
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn containerd_runc_shim_with_dm_runc() {
    containerd_runc_shim(dm_runc());
}

#[test]
fn containerd_runc_shim_with_runc() {
    if let Some(r) = runc() {
        containerd_runc_shim(r);
    }
}

#[test]
fn podman_with_dm_runc() {
    podman_with_runtime(dm_runc());
}

#[test]
fn podman_with_runc() {
    if let Some(r) = runc() {
        podman_with_runtime(r);
    }
}
