//! Helpers for tests on the host's real cgroups: a container cgroup that cleans up after
//! itself (killing what it holds, then destroying) and gated busybox processes, so a process
//! is inside the cgroup before its script starts.

#![allow(dead_code)]

use dm_cgroups::Cgroup;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const BUSYBOX: &str = "/bin/busybox";

/// A created container cgroup plus the processes a test put in it; Drop kills and removes.
pub struct Ctr {
    pub cg: Cgroup,
    pub id: String,
    kids: Vec<Child>,
}

impl Ctr {
    /// A fresh cgroup for a unique id under the caller's own cgroup (`cgroups_path` None) or at
    /// the given path.
    pub fn new(prefix: &str, cgroups_path: Option<&Path>) -> Ctr {
        let id = dm_testkit::unique_id(prefix);
        let cg = Cgroup::new(cgroups_path, &id).unwrap();
        Ctr::from_cgroup(cg, id)
    }

    /// Creates `cg` and takes charge of cleaning it up.
    pub fn from_cgroup(mut cg: Cgroup, id: String) -> Ctr {
        cg.create().unwrap();
        Ctr {
            cg,
            id,
            kids: Vec::new(),
        }
    }

    /// Starts `busybox sh -c` running `script` once released, moved into the cgroup first.
    /// Returns the index for [`Ctr::go`], [`Ctr::pid`], [`Ctr::wait`].
    pub fn spawn(&mut self, script: &str) -> usize {
        let child = Command::new(BUSYBOX)
            .args(["sh", "-c", &format!("read _gate; {script}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        self.kids.push(child);
        self.cg.add_task(pid).unwrap();
        self.kids.len() - 1
    }

    /// Lets process `i` run its script.
    pub fn go(&mut self, i: usize) {
        let stdin = self.kids[i].stdin.as_mut().unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    pub fn pid(&self, i: usize) -> i32 {
        self.kids[i].id() as i32
    }

    /// Waits (bounded) for process `i` to end; returns its status, stdout and stderr.
    pub fn wait(&mut self, i: usize, secs: u64) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let kid = &mut self.kids[i];
        let status = loop {
            if let Some(s) = kid.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "process {} still running after {secs}s",
                kid.id()
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut out = String::new();
        let mut err = String::new();
        kid.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        kid.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        (status, out, err)
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let _ = self.cg.thaw();
        let _ = self.cg.kill_all(libc::SIGKILL);
        for k in &mut self.kids {
            let _ = k.kill();
            let _ = k.wait();
        }
        let res = self.cg.destroy();
        if !std::thread::panicking() {
            res.unwrap();
            for d in &self.cg.created {
                assert!(!d.exists(), "{} left behind", d.display());
            }
        }
    }
}

/// utime + stime of `pid` in clock ticks, from /proc/<pid>/stat.
pub fn cpu_ticks(pid: i32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Polls `cond` every 5ms until it holds or `secs` pass; returns whether it held.
pub fn poll_until(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Checks that a busy process is frozen: its CPU time stays put over 40 reads spread over
/// at least 400ms, long enough for a running busy loop to gain several ticks.
pub fn assert_stays_frozen(pid: i32) {
    let t0 = cpu_ticks(pid);
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(cpu_ticks(pid), t0, "frozen process {pid} used CPU");
    }
}

/// Freeze/thaw check on a busy loop shared by the v1 and v2 tests.
pub fn freeze_and_thaw_busy_loop(ctr: &mut Ctr) {
    let i = ctr.spawn("while :; do :; done");
    ctr.go(i);
    let pid = ctr.pid(i);
    let t0 = cpu_ticks(pid);
    assert!(
        poll_until(20, || cpu_ticks(pid) > t0 + 2),
        "busy loop never ran"
    );
    assert!(!ctr.cg.is_frozen().unwrap());
    ctr.cg.freeze().unwrap();
    assert!(ctr.cg.is_frozen().unwrap());
    assert_stays_frozen(pid);
    let t1 = cpu_ticks(pid);
    ctr.cg.thaw().unwrap();
    assert!(!ctr.cg.is_frozen().unwrap());
    assert!(
        poll_until(20, || cpu_ticks(pid) > t1 + 2),
        "thawed process did not run again"
    );
}

/// Runs a device check script in a cgroup whose rules deny everything but /dev/null.
pub fn only_dev_null_rules() -> oci_spec::runtime::LinuxResources {
    serde_json::from_str(
        r#"{"devices":[{"allow":false,"access":"rwm"},
                       {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]}"#,
    )
    .unwrap()
}

/// Opens /dev/null (allowed) and /dev/zero (denied) from inside `ctr`; asserts EPERM.
pub fn assert_dev_zero_denied(ctr: &mut Ctr) {
    let i = ctr.spawn("cat /dev/null && echo null-ok; head -c 1 /dev/zero; echo zero-rc=$?");
    ctr.go(i);
    let (_, out, err) = ctr.wait(i, 20);
    assert!(
        out.contains("null-ok"),
        "allowed /dev/null failed: {out} {err}"
    );
    assert!(
        out.contains("zero-rc=1"),
        "/dev/zero was readable: {out} {err}"
    );
    assert!(
        err.contains("/dev/zero: Operation not permitted"),
        "stderr: {err}"
    );
}
