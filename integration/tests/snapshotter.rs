//! dm-snapshotter under real containerd 1.6 as the `dockermind` snapshot proxy plugin.
//!
//! Each test runs its own containerd (dm_integration's private harness, own namespace) and its
//! own dm-snapshotter (private root and socket), so tests run in parallel without seeing each
//! other.

use dm_integration::{Containerd, ContainerdOptions, Ctr, ProxyPlugin, RUNC_RUNTIME};
use dm_testkit::{require_cmd, require_root};
use std::path::Path;
use std::time::{Duration, Instant};

/// Live snapshot directories in dm-snapshotter's root, sorted.
fn snapshot_dirs(snap: &ProxyPlugin) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(snap.root().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// containerd with the `dockermind` proxy plugin pointing at our snapshotter. Fields drop in
/// order: containerd (and its containers) goes before the snapshotter serving their rootfs.
struct Stack {
    ctd: Containerd,
    ctr: Ctr,
    snap: ProxyPlugin,
}

impl Stack {
    fn start() -> Stack {
        let snap = ProxyPlugin::start("dm-snapshotter");
        let toml = snap.containerd_toml("dockermind", "snapshot");
        let ctd = Containerd::start(ContainerdOptions::default().extra(&toml));
        let ctr = ctd.ctr();
        Stack { ctd, ctr, snap }
    }

    fn ctr_ok(&self, args: &[&str]) -> String {
        let out = self.ctr.run(args);
        assert!(
            out.code == 0,
            "ctr {args:?} failed: {out:?}\n{}",
            self.logs()
        );
        out.stdout
    }

    fn snap(&self, args: &[&str]) -> dm_testkit::Output {
        let mut full = vec!["snapshots", "--snapshotter", "dockermind"];
        full.extend_from_slice(args);
        self.ctr.run(&full)
    }

    fn snap_ok(&self, args: &[&str]) -> String {
        let mut full = vec!["snapshots", "--snapshotter", "dockermind"];
        full.extend_from_slice(args);
        self.ctr_ok(&full)
    }

    /// Imports the harness's busybox image as `docker.io/library/bb:latest`, unpacked through
    /// dm-snapshotter; returns the layer's committed snapshot name (its chain id).
    fn import_busybox(&self) -> String {
        let tar = self.ctd.busybox_tar().to_str().unwrap().to_owned();
        self.ctr_ok(&[
            "image",
            "import",
            "--base-name",
            "docker.io/library/bb",
            "--snapshotter",
            "dockermind",
            &tar,
        ]);
        let ls = self.snap_ok(&["ls"]);
        let committed: Vec<&str> = ls
            .lines()
            .skip(1)
            .filter(|l| l.trim_end().ends_with("Committed"))
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(
            committed.len(),
            1,
            "one committed layer after import:\n{ls}"
        );
        committed[0].to_owned()
    }

    fn run(&self, id: &str, script: &str) -> String {
        self.ctr_ok(&[
            "run",
            "--rm",
            "--snapshotter",
            "dockermind",
            "--runtime",
            RUNC_RUNTIME,
            "docker.io/library/bb:latest",
            id,
            "sh",
            "-c",
            script,
        ])
    }

    fn logs(&self) -> String {
        let tail = |s: String| {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(30)..].join("\n")
        };
        format!(
            "--- containerd log ---\n{}\n--- dm-snapshotter log ---\n{}",
            tail(self.ctd.log()),
            tail(self.snap.log())
        )
    }
}

fn ready(test: &str) -> bool {
    require_root(test) && require_cmd("containerd") && require_cmd("ctr") && require_cmd("runc")
}

#[test]
fn snapshotter_runs_busybox_and_containers_do_not_share_writes() {
    if !ready("snapshotter_runs_busybox_and_containers_do_not_share_writes") {
        return;
    }
    let s = Stack::start();
    s.import_busybox();
    let root = s.snap.root().join("snapshots");
    let out = s.run(
        "writer",
        "echo written > /newfile && cat /newfile && grep ' / / ' /proc/self/mountinfo",
    );
    assert!(out.starts_with("written\n"), "{out}");
    assert!(
        out.contains("overlay") && out.contains(&format!("upperdir={}", root.display())),
        "the container's / is an overlay from dm-snapshotter's root: {out}"
    );
    let out = s.run(
        "reader",
        "test -e /newfile && echo SEEN || echo clean; cat /bin/busybox >/dev/null && echo ok",
    );
    assert_eq!(
        out, "clean\nok\n",
        "second container from the same image sees no write"
    );
}

#[test]
fn snapshotter_serves_ctr_snapshots_ls_info_usage_rm() {
    if !ready("snapshotter_serves_ctr_snapshots_ls_info_usage_rm") {
        return;
    }
    let s = Stack::start();
    let layer = s.import_busybox();
    s.snap_ok(&["prepare", "work", &layer]);
    let mount = s.snap_ok(&["mounts", "/mnt", "work"]);
    let upper = mount
        .split([',', ' '])
        .find_map(|o| o.strip_prefix("upperdir="))
        .unwrap_or_else(|| panic!("overlay mount with an upperdir: {mount}"))
        .trim()
        .to_owned();
    std::fs::write(Path::new(&upper).join("blob"), vec![7u8; 3 << 20]).unwrap();

    let info: serde_json::Value = serde_json::from_str(&s.snap_ok(&["info", "work"])).unwrap();
    assert_eq!(info["Kind"], "Active");
    assert_eq!(info["Parent"], layer.as_str());
    let usage = s.snap_ok(&["usage", "work"]);
    let row = usage.lines().nth(1).unwrap_or_default().to_owned();
    assert!(
        row.starts_with("work") && row.contains("MiB"),
        "usage counts the 3 MiB write: {usage}"
    );

    s.snap_ok(&["commit", "done", "work"]);
    let ls = s.snap_ok(&["ls"]);
    assert!(
        ls.lines()
            .any(|l| l.starts_with("done") && l.contains(&layer) && l.contains("Committed")),
        "{ls}"
    );
    assert!(!ls.lines().any(|l| l.starts_with("work ")), "{ls}");

    let refused = s.snap(&["rm", &layer]);
    assert!(
        refused.code != 0,
        "a parent cannot be removed while it has children"
    );
    s.snap_ok(&["rm", "done"]);
    let ls = s.snap_ok(&["ls"]);
    assert!(!ls.contains("done"), "{ls}");
    // containerd removes backend snapshots in its garbage collection right after.
    let deadline = Instant::now() + Duration::from_secs(20);
    while snapshot_dirs(&s.snap).len() != 1 {
        assert!(
            Instant::now() < deadline,
            "removed snapshot's dir stays: {:?}\n{}",
            snapshot_dirs(&s.snap),
            s.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn snapshotter_killed_between_prepare_and_commit_is_cleaned_after_restart() {
    if !ready("snapshotter_killed_between_prepare_and_commit_is_cleaned_after_restart") {
        return;
    }
    let mut s = Stack::start();
    let layer = s.import_busybox();
    s.snap_ok(&["prepare", "half-done", &layer]);
    let before = snapshot_dirs(&s.snap);
    assert_eq!(before.len(), 2, "{before:?}");
    s.snap.kill9();
    // containerd drops its record while the backend is down, so the backend's snapshot is an
    // orphan; a crash in the middle of Prepare would also leave a temp dir like this one.
    s.snap_ok(&["rm", "half-done"]);
    std::fs::create_dir_all(s.snap.root().join("snapshots/new-999-0/fs")).unwrap();
    s.snap.restart();
    // containerd's gRPC client reconnects with backoff; wait until it reaches the new process.
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.snap(&["ls"]).code != 0 {
        assert!(
            Instant::now() < deadline,
            "containerd never reconnected\n{}",
            s.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // containerd's next garbage collection removes what it does not know and calls Cleanup.
    s.run("trigger-gc", "true");
    let deadline = Instant::now() + Duration::from_secs(20);
    while snapshot_dirs(&s.snap) != before[..1] {
        assert!(
            Instant::now() < deadline,
            "orphans remain: {:?}\n{}",
            snapshot_dirs(&s.snap),
            s.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = s.snap.log();
    assert!(
        log.contains("cleanup removed orphan"),
        "Cleanup did the removal of the temp dir"
    );
    assert!(
        s.snap_ok(&["ls"]).lines().count() == 2,
        "only the image layer is left"
    );
}
