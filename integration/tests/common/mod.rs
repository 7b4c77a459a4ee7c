//! Shared setup for the shim scenarios: a private containerd, a namespace with the busybox
//! image, and the `ctr run` flags selecting our shim (and optionally its runtime binary).

#![allow(dead_code)]

use dm_integration::{Containerd, ContainerdOptions, Ctr, DM_RUNTIME};
use dm_testkit::{require_cmd, require_root, Output, TempDir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long a task may take to reach a state.
pub const STATE_WAIT: Duration = Duration::from_secs(20);

/// Which runtime binary our shim drives in a scenario.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    /// The default: dm-runc next to the shim.
    DmRunc,
    /// runc via the BinaryName option (proves the shim, not the runtime).
    Runc,
}

/// One scenario's world.
pub struct Env {
    /// The private containerd.
    pub ctd: Containerd,
    /// ctr in a fresh namespace.
    pub ctr: Ctr,
    /// The imported busybox reference.
    pub image: String,
    runtime_args: Vec<String>,
    _cfg: TempDir,
}

impl Env {
    /// Sets up, or returns None when the test must skip (outside CI).
    pub fn new(test: &str, backend: Backend) -> Option<Env> {
        if !require_root(test) || !require_cmd("containerd") || !require_cmd("ctr") {
            return None;
        }
        if matches!(backend, Backend::Runc) && !require_cmd("runc") {
            return None;
        }
        let ctd = Containerd::start(ContainerdOptions::with_workspace_bins());
        let ctr = ctd.ctr();
        let image = ctr.import_image(ctd.busybox_tar(), "busybox");
        let cfg = TempDir::new("dm-rtcfg");
        let mut runtime_args = vec!["--runtime".to_owned(), DM_RUNTIME.to_owned()];
        if let Backend::Runc = backend {
            let p = cfg.path().join("runc.toml");
            let runc = dm_testkit::which("runc").unwrap();
            std::fs::write(&p, format!("BinaryName = {:?}\n", runc.to_str().unwrap())).unwrap();
            runtime_args.push("--runtime-config-path".into());
            runtime_args.push(p.to_str().unwrap().into());
        } else {
            // The shim finds dm-runc next to itself; make the failure obvious if it is missing.
            let _ = dm_testkit::workspace_bin("dm-runc");
        }
        Some(Env {
            ctd,
            ctr,
            image,
            runtime_args,
            _cfg: cfg,
        })
    }

    /// `ctr run <runtime flags> <opts> IMAGE ID <cmd>` as a Command.
    pub fn run_cmd(&self, opts: &[&str], id: &str, cmd: &[&str]) -> Command {
        let mut a: Vec<&str> = vec!["run"];
        a.extend(self.runtime_args.iter().map(String::as_str));
        a.extend_from_slice(opts);
        a.push(&self.image);
        a.push(id);
        a.extend_from_slice(cmd);
        self.ctr.cmd(&a)
    }

    /// Runs `ctr run ...` to its end.
    pub fn run(&self, opts: &[&str], id: &str, cmd: &[&str]) -> Output {
        dm_testkit::output(self.run_cmd(opts, id, cmd))
    }

    /// Starts `sleep 1000` detached and waits for RUNNING.
    pub fn run_detached(&self, id: &str) {
        let out = self.run(&["-d"], id, &["sleep", "1000"]);
        assert_eq!(out.code, 0, "ctr run -d: {out:?}\n{}", self.ctd.log());
        self.ctr.wait_status(id, "RUNNING", STATE_WAIT);
    }

    /// The init pid `ctr task ls` shows for `id`.
    pub fn task_pid(&self, id: &str) -> i32 {
        let out = self.ctr.ok(&["task", "ls"]);
        out.stdout
            .lines()
            .find_map(|l| {
                let c: Vec<&str> = l.split_whitespace().collect();
                (c.first() == Some(&id)).then(|| c[1].parse().unwrap())
            })
            .unwrap_or_else(|| panic!("{id} not in task ls: {out:?}"))
    }

    /// Kills and deletes task and container `id`.
    pub fn remove(&self, id: &str) {
        let _ = self.ctr.run(&["task", "kill", "-s", "SIGKILL", id]);
        let _ = self.ctr.wait_status_or_gone(id, "STOPPED", STATE_WAIT);
        self.ctr.ok(&["task", "delete", id]);
        self.ctr.ok(&["container", "delete", id]);
    }
}

/// Runs `cmd` under a pseudo-terminal (ctr -t needs one), returning what the terminal showed.
pub fn under_pty(cmd: &Command) -> Output {
    let mut line = shell_quote(cmd.get_program());
    for a in cmd.get_args() {
        line.push(' ');
        line.push_str(&shell_quote(a));
    }
    let mut c = Command::new("script");
    c.args(["-qefc", &line, "/dev/null"]);
    dm_testkit::output(c)
}

fn shell_quote(s: &std::ffi::OsStr) -> String {
    format!("'{}'", s.to_string_lossy().replace('\'', "'\\''"))
}

/// The shim binary.
pub fn shim_bin() -> PathBuf {
    dm_testkit::workspace_bin(dm_integration::DM_SHIM_BIN)
}

/// A cgroup v1 file of task `id` in namespace `ns` (ctr's cgroupsPath is /<ns>/<id>).
pub fn cgroup_file(controller: &str, ns: &str, id: &str, file: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(ns)
        .join(id)
        .join(file)
}
