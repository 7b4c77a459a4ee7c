//! dm-snapshotter under real containerd 1.6 as the `dockermind` snapshot proxy plugin.
//!
//! Each test runs its own containerd (private root, state, sockets and namespace) and its own
//! dm-snapshotter, so tests run in parallel without seeing each other.

use dm_testkit::{require_cmd, require_root, unique_id, workspace_bin, TempDir};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// containerd + dm-snapshotter with everything private to one test.
struct Stack {
    dir: TempDir,
    ns: String,
    containerd: Option<Child>,
    snapshotter: Option<Child>,
}

impl Stack {
    fn start() -> Stack {
        let dir = TempDir::new("dm-snapctd");
        let d = dir.path();
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{d}/c.sock"
[ttrpc]
  address = "{d}/c.sock.ttrpc"
[debug]
  level = "debug"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
[proxy_plugins.dockermind]
  type = "snapshot"
  address = "{d}/snap.sock"
"#,
            d = d.display()
        );
        std::fs::write(d.join("config.toml"), config).unwrap();
        let mut s = Stack {
            ns: unique_id("snapns"),
            dir,
            containerd: None,
            snapshotter: None,
        };
        s.start_snapshotter();
        let log = std::fs::File::create(s.dir.path().join("containerd.log")).unwrap();
        s.containerd = Some(
            Command::new("containerd")
                .arg("--config")
                .arg(s.dir.path().join("config.toml"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        wait_for_socket(&s.dir.path().join("c.sock"));
        s
    }

    fn snap_root(&self) -> PathBuf {
        self.dir.path().join("sroot")
    }

    fn start_snapshotter(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("snapshotter.log"))
            .unwrap();
        let sock = self.dir.path().join("snap.sock");
        self.snapshotter = Some(
            Command::new(workspace_bin("dm-snapshotter"))
                .arg("--root")
                .arg(self.snap_root())
                .arg("--address")
                .arg(&sock)
                .args(["--log-level", "debug"])
                .stdin(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        wait_for_socket(&sock);
    }

    fn kill9_snapshotter(&mut self) {
        let mut c = self.snapshotter.take().unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
    }

    /// `ctr` against this containerd and namespace.
    fn ctr(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(self.dir.path().join("c.sock"))
            .args(["-n", &self.ns])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `ctr` that must succeed; returns stdout.
    fn ctr_ok(&self, args: &[&str]) -> String {
        let out = self.ctr(args);
        assert!(
            out.status.success(),
            "ctr {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn snap(&self, args: &[&str]) -> Output {
        let mut full = vec!["snapshots", "--snapshotter", "dockermind"];
        full.extend_from_slice(args);
        self.ctr(&full)
    }

    fn snap_ok(&self, args: &[&str]) -> String {
        let mut full = vec!["snapshots", "--snapshotter", "dockermind"];
        full.extend_from_slice(args);
        self.ctr_ok(&full)
    }

    /// Imports a one-layer busybox image as `docker.io/library/bb:latest`, unpacked through
    /// dm-snapshotter; returns the layer's committed snapshot name (its chain id).
    fn import_busybox(&self) -> String {
        let layout = self.dir.path().join("layout");
        let rootfs = self.dir.path().join("rootfs");
        dm_testkit::build_busybox_rootfs(&rootfs);
        let image = format!("{}:latest", layout.display());
        let rootfs_s = rootfs.to_str().unwrap();
        for args in [
            vec!["init", "--layout", layout.to_str().unwrap()],
            vec!["new", "--image", &image],
            vec!["insert", "--image", &image, rootfs_s, "/"],
            vec!["config", "--image", &image, "--config.cmd", "/bin/sh"],
        ] {
            let out = Command::new("umoci").args(&args).output().unwrap();
            assert!(
                out.status.success(),
                "umoci {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let tar = self.dir.path().join("image.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&layout)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success());
        self.ctr_ok(&[
            "image",
            "import",
            "--base-name",
            "docker.io/library/bb",
            "--snapshotter",
            "dockermind",
            tar.to_str().unwrap(),
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
            "io.containerd.runc.v2",
            "docker.io/library/bb:latest",
            id,
            "sh",
            "-c",
            script,
        ])
    }

    fn logs(&self) -> String {
        let tail = |f: &str| {
            let s = std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(30)..].join("\n")
        };
        format!(
            "--- containerd.log ---\n{}\n--- snapshotter.log ---\n{}",
            tail("containerd.log"),
            tail("snapshotter.log")
        )
    }

    /// Live snapshot directories in dm-snapshotter's root.
    fn snapshot_dirs(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.snap_root().join("snapshots"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Best effort: whatever a failed test left running in our namespace goes first.
        if let Ok(out) = Command::new("ctr")
            .arg("--address")
            .arg(self.dir.path().join("c.sock"))
            .args(["-n", &self.ns, "tasks", "ls", "-q"])
            .output()
        {
            for id in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = self.ctr(&["tasks", "kill", "-s", "9", id]);
                let _ = self.ctr(&["tasks", "delete", "-f", id]);
                let _ = self.ctr(&["containers", "delete", id]);
            }
        }
        for c in [self.containerd.take(), self.snapshotter.take()]
            .into_iter()
            .flatten()
        {
            let mut c = c;
            // SAFETY: kill has no memory preconditions; the pid is our own child's.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
        // Mounts containerd left under our dir would stop the TempDir removal.
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let prefix = self.dir.path().to_string_lossy().into_owned();
        for m in mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&prefix))
        {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
    }
}

fn wait_for_socket(sock: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::os::unix::net::UnixStream::connect(sock).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listening on {}",
            sock.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ready(test: &str) -> bool {
    require_root(test)
        && require_cmd("containerd")
        && require_cmd("ctr")
        && require_cmd("umoci")
        && require_cmd("runc")
}

#[test]
fn snapshotter_runs_busybox_and_containers_do_not_share_writes() {
    if !ready("snapshotter_runs_busybox_and_containers_do_not_share_writes") {
        return;
    }
    let s = Stack::start();
    s.import_busybox();
    let root = s.snap_root().join("snapshots");
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
        !refused.status.success(),
        "a parent cannot be removed while it has children"
    );
    s.snap_ok(&["rm", "done"]);
    let ls = s.snap_ok(&["ls"]);
    assert!(!ls.contains("done"), "{ls}");
    // containerd removes backend snapshots in its garbage collection right after.
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.snapshot_dirs().len() != 1 {
        assert!(
            Instant::now() < deadline,
            "removed snapshot's dir stays: {:?}\n{}",
            s.snapshot_dirs(),
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
    let before = s.snapshot_dirs();
    assert_eq!(before.len(), 2, "{before:?}");
    s.kill9_snapshotter();
    // containerd drops its record while the backend is down, so the backend's snapshot is an
    // orphan; a crash in the middle of Prepare would also leave a temp dir like this one.
    s.snap_ok(&["rm", "half-done"]);
    std::fs::create_dir_all(s.snap_root().join("snapshots/new-999-0/fs")).unwrap();
    s.start_snapshotter();
    // containerd's gRPC client reconnects with backoff; wait until it reaches the new process.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !s.snap(&["ls"]).status.success() {
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
    while s.snapshot_dirs() != before[..1] {
        assert!(
            Instant::now() < deadline,
            "orphans remain: {:?}\n{}",
            s.snapshot_dirs(),
            s.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(s.dir.path().join("snapshotter.log")).unwrap();
    assert!(
        log.contains("cleanup removed orphan"),
        "Cleanup did the removal of the temp dir"
    );
    assert!(
        s.snap_ok(&["ls"]).lines().count() == 2,
        "only the image layer is left"
    );
}
