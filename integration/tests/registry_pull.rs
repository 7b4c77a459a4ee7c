//! A pull from a local docker-registry through both of our proxy plugins at once: containerd
//! 1.6 with its built-in content store disabled, dm-content as its content store and
//! dm-snapshotter as the `dockermind` snapshotter; the pulled image then runs.

use dm_integration::{Containerd, ContainerdOptions, ProxyPlugin, Registry, RUNC_RUNTIME};
use dm_testkit::{require_cmd, require_root, TempDir};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

fn required(test: &str) -> bool {
    require_root(test)
        && ["containerd", "ctr", "runc", "docker-registry", "skopeo"]
            .iter()
            .all(|c| require_cmd(c))
}

/// The tail of a log, for failure messages.
fn tail(log: String) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

#[test]
fn pull_from_a_local_registry_through_dm_content_and_dm_snapshotter_then_run() {
    let test = "pull_from_a_local_registry_through_dm_content_and_dm_snapshotter_then_run";
    if !required(test) {
        return;
    }
    // Declared first so they drop last: containerd and its containers go before their stores.
    let content = ProxyPlugin::start("dm-content");
    let snap = ProxyPlugin::start("dm-snapshotter");
    let mut opts = ContainerdOptions::default();
    // containerd's metadata store takes exactly one content store: ours.
    opts.disabled_plugins
        .push("io.containerd.content.v1.content".into());
    let opts = opts
        .extra(&content.containerd_toml("dockermind-content", "content"))
        .extra(&snap.containerd_toml("dockermind", "snapshot"));
    let ctd = Containerd::start(opts);
    let ctr = ctd.ctr();
    let logs = || {
        format!(
            "--- containerd\n{}\n--- dm-content\n{}\n--- dm-snapshotter\n{}",
            tail(ctd.log()),
            tail(content.log()),
            tail(snap.log())
        )
    };

    let work = TempDir::new("dm-reg-pull");
    let registry = Registry::start(work.path());
    let image = registry.push_oci_archive(ctd.busybox_tar(), "dm/busybox:latest");

    let out = ctr.run(&[
        "image",
        "pull",
        "--plain-http",
        "--snapshotter",
        "dockermind",
        &image,
    ]);
    assert_eq!(out.code, 0, "pull failed: {out:?}\n{}", logs());

    let out = ctr.run(&[
        "run",
        "--rm",
        "--snapshotter",
        "dockermind",
        "--runtime",
        RUNC_RUNTIME,
        &image,
        "pulled",
        "sh",
        "-c",
        "echo hello from the registry; grep ' / / ' /proc/self/mountinfo",
    ]);
    assert_eq!(out.code, 0, "run failed: {out:?}\n{}", logs());
    assert!(
        out.stdout.starts_with("hello from the registry\n"),
        "{out:?}"
    );
    let snapshots_dir = snap.root().join("snapshots");
    assert!(
        out.stdout
            .contains(&format!("upperdir={}", snapshots_dir.display())),
        "the container's / is an overlay from dm-snapshotter's root: {out:?}"
    );

    // Every blob containerd knows is a verified file in dm-content's root, the manifest too.
    let listed: BTreeSet<String> = ctr
        .ok(&["content", "ls", "--quiet"])
        .stdout
        .lines()
        .map(str::to_owned)
        .collect();
    let images = ctr.ok(&["image", "ls"]).stdout;
    let manifest = images
        .lines()
        .find_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.first() == Some(&image.as_str())).then(|| cols[2].to_owned())
        })
        .unwrap_or_else(|| panic!("{image} not in image ls:\n{images}"));
    assert!(listed.contains(&manifest), "{listed:?}");
    // manifest, config and the one layer
    assert_eq!(listed.len(), 3, "{listed:?}");
    for d in &listed {
        let hex = d
            .strip_prefix("sha256:")
            .expect("registry digests are sha256");
        let blob = content.root().join("blobs/sha256").join(hex);
        let data = std::fs::read(&blob)
            .unwrap_or_else(|e| panic!("{d} not in dm-content's root ({}): {e}", blob.display()));
        assert_eq!(format!("sha256:{:x}", Sha256::digest(&data)), *d);
    }
    assert!(!ctd
        .root_dir()
        .join("io.containerd.content.v1.content")
        .exists());

    // The unpacked layer is a committed snapshot of dm-snapshotter, not of the built-in one.
    let ls = ctr
        .ok(&["snapshots", "--snapshotter", "dockermind", "ls"])
        .stdout;
    let committed = ls
        .lines()
        .filter(|l| l.trim_end().ends_with("Committed"))
        .count();
    assert_eq!(committed, 1, "one committed layer after the pull:\n{ls}");
    let dirs = std::fs::read_dir(&snapshots_dir).unwrap().count();
    assert!(dirs >= 1, "no snapshot dirs in {}", snapshots_dir.display());
    let builtin = ctr.ok(&["snapshots", "ls"]).stdout;
    assert_eq!(
        builtin.lines().count(),
        1,
        "built-in overlayfs used:\n{builtin}"
    );
}
