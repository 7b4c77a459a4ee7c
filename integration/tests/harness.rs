//! The harness itself: a private containerd runs busybox from the offline image with
//! containerd's own runc shim, and leaves nothing behind.

use dm_integration::{Containerd, ContainerdOptions, RUNC_RUNTIME};
use dm_testkit::{require_cmd, require_root, unique_id};

#[test]
fn private_containerd_runs_offline_busybox_and_cleans_up() {
    if !require_root("harness") || !require_cmd("containerd") || !require_cmd("runc") {
        return;
    }
    let ctd = Containerd::start(ContainerdOptions::default());
    let ctr = ctd.ctr();
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
