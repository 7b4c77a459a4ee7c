//! `ctr` bound to one private containerd and one namespace.

use dm_testkit::{output, Output};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The `ctr` client for one containerd address and namespace.
#[derive(Clone, Debug)]
pub struct Ctr {
    address: PathBuf,
    namespace: String,
    bin: PathBuf,
}

impl Ctr {
    /// A client for `address` in `namespace`, running the `ctr` on PATH.
    pub fn new(address: PathBuf, namespace: String) -> Ctr {
        Ctr::with_bin(address, namespace, PathBuf::from("ctr"))
    }

    /// A client running the `ctr` binary at `bin` (the one of the containerd it talks to).
    pub fn with_bin(address: PathBuf, namespace: String, bin: PathBuf) -> Ctr {
        Ctr {
            address,
            namespace,
            bin,
        }
    }

    /// The namespace every command runs in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The containerd gRPC address.
    pub fn address(&self) -> &Path {
        &self.address
    }

    /// `ctr --address A --namespace N <args>` with stdin closed.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--address")
            .arg(&self.address)
            .arg("--namespace")
            .arg(&self.namespace)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs `ctr <args>` to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        output(self.cmd(args))
    }

    /// Runs `ctr <args>` and panics (with everything printed) unless it exits 0.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert_eq!(out.code, 0, "ctr {args:?} failed: {out:?}");
        out
    }

    /// Imports the busybox OCI layout tar as `docker.io/library/<name>:latest` and returns
    /// that reference.
    pub fn import_image(&self, tar: &Path, name: &str) -> String {
        let base = format!("docker.io/library/{name}");
        self.ok(&[
            "image",
            "import",
            "--base-name",
            &base,
            tar.to_str().unwrap(),
        ]);
        format!("{base}:latest")
    }

    /// Task ids listed by `ctr task ls -q`.
    pub fn task_ids(&self) -> Vec<String> {
        lines(&self.run(&["task", "ls", "-q"]).stdout)
    }

    /// The pid `ctr task ls` shows for task `id`.
    pub fn task_pid(&self, id: &str) -> i32 {
        let out = self.ok(&["task", "ls"]);
        out.stdout
            .lines()
            .find_map(|l| {
                let c: Vec<&str> = l.split_whitespace().collect();
                (c.first() == Some(&id)).then(|| c[1].parse().unwrap())
            })
            .unwrap_or_else(|| panic!("{id} not in task ls: {out:?}"))
    }

    /// Container ids listed by `ctr container ls -q`.
    pub fn container_ids(&self) -> Vec<String> {
        lines(&self.run(&["container", "ls", "-q"]).stdout)
    }

    /// The status column of `ctr task ls` for `id` (RUNNING, STOPPED, PAUSED...), if listed.
    pub fn task_status(&self, id: &str) -> Option<String> {
        let out = self.run(&["task", "ls"]);
        out.stdout.lines().skip(1).find_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.first() == Some(&id)).then(|| cols.last().unwrap_or(&"").to_string())
        })
    }

    /// Polls until `task ls` shows `id` with `status`, or panics after `limit`.
    pub fn wait_status(&self, id: &str, status: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let now = self.task_status(id);
            if now.as_deref() == Some(status) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "task {id} never reached {status} within {limit:?}; last seen {now:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls until `id` shows `status` or is no longer listed; false after `limit`.
    pub fn wait_status_or_gone(&self, id: &str, status: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            match self.task_status(id) {
                None => return true,
                Some(s) if s == status => return true,
                _ => {}
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `ctr <args>`, killing it after `limit`; None when it had to be killed.
    pub fn run_bounded(&self, args: &[&str], limit: Duration) -> Option<Output> {
        let mut cmd = self.cmd(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().ok()?;
        let deadline = Instant::now() + limit;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
            }
        }
        let out = child.wait_with_output().ok()?;
        Some(Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Best effort, each step bounded: kills and deletes every task, container and image of
    /// this namespace. What a broken runtime leaves behind is removed by the caller's cleanup.
    pub fn remove_everything(&self) {
        let limit = Duration::from_secs(5);
        for id in self.task_ids() {
            let _ = self.run_bounded(&["task", "kill", "--signal", "SIGKILL", &id], limit);
            let _ = self.run_bounded(
                &["task", "kill", "--all", "--signal", "SIGKILL", &id],
                limit,
            );
            let _ = self.wait_status_or_gone(&id, "STOPPED", limit);
            let _ = self.run_bounded(&["task", "delete", "--force", &id], limit);
        }
        for id in self.container_ids() {
            let _ = self.run_bounded(&["container", "delete", &id], limit);
        }
    }
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}
