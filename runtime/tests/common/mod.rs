//! Shared helpers for dm-runc's root integration tests.
#![allow(dead_code)]

pub use dm_testkit::{Bundle, Output};
use std::path::{Path, PathBuf};

/// The dm-runc binary under test.
pub fn runc() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dm-runc"))
}

/// A fresh busybox bundle for dm-runc, or None (loud skip) when not root outside CI.
pub fn bundle(test: &str) -> Option<Bundle> {
    dm_testkit::require_root(test).then(|| Bundle::new(&runc()))
}

/// Runs `sh -c script` in a fresh container and returns its output.
pub fn sh(b: &mut Bundle, script: &str) -> Output {
    b.args(&["sh", "-c", script]);
    b.run_container()
}

/// Asserts that no process has its root inside `rootfs` and no state dir is left for `id`.
pub fn assert_nothing_left(b: &Bundle) {
    assert!(
        !b.state_root().join(&b.id).exists(),
        "state dir left behind for {}",
        b.id
    );
    let rootfs = std::fs::canonicalize(b.rootfs()).unwrap();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let root = e.path().join("root");
        if let Ok(r) = std::fs::read_link(&root) {
            assert_ne!(
                r,
                rootfs,
                "process {:?} still runs in the container",
                e.file_name()
            );
        }
    }
}

/// Sets a JSON pointer in the bundle's spec and writes it.
pub fn set(b: &mut Bundle, pointer: &str, v: serde_json::Value) {
    let mut cur = &mut b.spec;
    for part in pointer.trim_start_matches('/').split('/') {
        if cur.get(part).is_none() {
            cur[part] = serde_json::json!({});
        }
        cur = &mut cur[part];
    }
    *cur = v;
    b.write();
}

/// Polls `f` until it returns true or `secs` pass; returns whether it did.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    f()
}

/// Reads a file, empty when missing.
pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Spawns `run` for the bundle with stdout piped and waits for the first line, which must be
/// `ready`; returns the running `dm-runc run` and the rest of its stdout.
pub fn spawn_run_ready(
    b: &Bundle,
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStdout>,
) {
    let bp = b.path().to_str().unwrap().to_owned();
    let mut child = b
        .cmd(&["run", "--bundle", &bp, &b.id])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "ready\n");
    (child, out)
}

/// Creates and starts the bundle's container running `sleep 1000`.
pub fn start_sleeping(b: &mut Bundle) {
    b.args(&["sleep", "1000"]);
    b.create().ok();
    b.run(&["start", &b.id]).ok();
}

/// Every cgroup directory of `pid` ("self" for the test itself), one per hierarchy (v1
/// controllers, named hierarchies, the cgroup2 mount).
pub fn all_cgroup_dirs(pid: impl std::fmt::Display) -> Vec<PathBuf> {
    read(Path::new(&format!("/proc/{pid}/cgroup")))
        .lines()
        .map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctl, path) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            let base = match ctl {
                "" => "/sys/fs/cgroup/unified".to_owned(),
                c if c.starts_with("name=") => format!("/sys/fs/cgroup/{}", &c[5..]),
                c => format!("/sys/fs/cgroup/{}", c.split(',').next().unwrap()),
            };
            PathBuf::from(format!("{base}{path}"))
        })
        .collect()
}
