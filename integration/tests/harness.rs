//! The harness itself: a private containerd (1.6 and 1.7) runs busybox from the offline image
//! with that containerd's own runc shim, and leaves nothing behind.

use dm_integration::{Containerd, ContainerdOptions, ContainerdVersion, RUNC_RUNTIME};
use dm_testkit::{require_cmd, require_root, unique_id};

#[test]
fn private_containerd_1_6_runs_offline_busybox_and_cleans_up() {
    if !require_root("harness") || !require_cmd("containerd") || !require_cmd("runc") {
        return;
    }
    runs_offline_busybox_and_cleans_up(ContainerdVersion::V1_6, "1.6.");
}

#[test]
fn private_containerd_1_7_runs_offline_busybox_and_cleans_up() {
    let test = "private_containerd_1_7_runs_offline_busybox_and_cleans_up";
    if !require_root(test) || !require_cmd("runc") || !ContainerdVersion::V1_7.require(test) {
        return;
    }
    runs_offline_busybox_and_cleans_up(ContainerdVersion::V1_7, "1.7.");
}

fn runs_offline_busybox_and_cleans_up(version: ContainerdVersion, release: &str) {
    let ctd = Containerd::start(ContainerdOptions::default().on(version));
    let ctr = ctd.ctr();
    let v = ctr.ok(&["version"]).stdout;
    let server = v.split("Server:").nth(1).unwrap_or_default();
    assert!(
        server.contains(&format!("Version:  {release}")),
        "containerd {version} asked for, got: {v}"
    );
    assert!(
        v.split("Server:").next().unwrap().contains(release),
        "ctr of the same release: {v}"
    );
    let image = ctr.import_image(ctd.busybox_tar(), "busybox");
    let id = unique_id("c");
    let out = ctr.run(&[
        "run",
        "--rm",
        "--runtime",
        RUNC_RUNTIME,
        &image,
        &id,
        "sh",
        "-c",
        "echo hi; exit 3",
    ]);
    assert_eq!(out.stdout, "hi\n", "{out:?}\n{}", ctd.log());
    assert_eq!(out.code, 3, "{out:?}");
    assert!(ctr.container_ids().is_empty());
    // The runc shim is this release's, not the system's.
    let id = unique_id("c");
    ctr.ok(&[
        "run",
        "-d",
        "--runtime",
        RUNC_RUNTIME,
        &image,
        &id,
        "sleep",
        "60",
    ]);
    let shims = ctd.shim_pids();
    assert_eq!(shims.len(), 1, "{shims:?}");
    let exe = std::fs::read_link(format!("/proc/{}/exe", shims[0])).unwrap();
    let want = version.bin("containerd-shim-runc-v2");
    let want = dm_testkit::which(want.to_str().unwrap()).unwrap_or(want);
    assert_eq!(exe, want, "shim of containerd {version}");
    ctr.ok(&["task", "kill", "--signal", "SIGKILL", &id]);
    ctr.wait_status(&id, "STOPPED", std::time::Duration::from_secs(10));
    ctr.ok(&["task", "delete", &id]);
    ctr.ok(&["container", "delete", &id]);
    let dir = ctd.scratch().to_owned();
    let ns = ctr.namespace().to_owned();
    drop(ctd);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(!std::path::Path::new("/run/containerd/runc")
        .join(&ns)
        .exists());
    assert!(!std::path::Path::new("/sys/fs/cgroup/pids")
        .join(&ns)
        .exists());
}

#[test]
fn private_podman_runs_offline_busybox() {
    if !require_root("harness podman") || !require_cmd("podman") || !require_cmd("runc") {
        return;
    }
    let tar_dir = dm_testkit::TempDir::new("dm-img");
    let tar = tar_dir.path().join("busybox.tar");
    dm_integration::write_busybox_image_tar(&tar, &tar_dir.path().join("work"));
    let podman = dm_integration::Podman::new(&dm_testkit::which("runc").unwrap());
    let image = podman.load_image(&tar, "busybox");
    let out = podman.run_rm(&image, &[], &["sh", "-c", "echo hi; exit 4"]);
    assert_eq!(out.stdout, "hi\n", "{out:?}");
    assert_eq!(out.code, 4, "{out:?}");
    let dir = podman.scratch().to_owned();
    drop(podman);
    assert!(!dir.exists(), "{} left behind", dir.display());
}
