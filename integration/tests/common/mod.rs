//! Shared setup for the shim scenarios: a private containerd, a namespace with the busybox
//! image, and the `ctr run` flags selecting our shim (and optionally its runtime binary).

#![allow(dead_code)]

use dm_integration::{Containerd, ContainerdOptions, Ctr, DM_RUNTIME};
use dm_testkit::{require_cmd, require_root, Output, TempDir};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
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
    /// dm-runc behind a wrapper (BinaryName) whose `start` (of containers named `held-*`) and
    /// `exec` return only after the process they started has been reaped by the shim: the exit
    /// then always reaches the shim while the start call is still running.
    ReapedBeforeStart,
}

/// The `ReapedBeforeStart` wrapper; `@DM_RUNC@` is replaced by the dm-runc path.
const REAPED_BEFORE_START: &str = r#"#!/bin/sh
"@DM_RUNC@" "$@" || exit $?
sub= log= pidfile= prev= id=
for a in "$@"; do
  case $prev in --log) log=$a ;; --pid-file) pidfile=$a ;; esac
  if [ -z "$sub" ]; then case $a in start|exec) sub=$a ;; esac; fi
  prev=$a id=$a
done
case $sub/$id in
  start/held-*) pidfile=$(dirname "$log")/init.pid ;;
  exec/*) ;;
  *) exit 0 ;;
esac
pid=$(cat "$pidfile") || exit 0
# A zombie keeps its /proc entry: gone means the shim has reaped it (bounded: 20 s).
i=0
while [ -e "/proc/$pid" ] && [ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done
"#;

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
        let binary = match backend {
            Backend::Runc => Some(dm_testkit::which("runc").unwrap()),
            Backend::ReapedBeforeStart => {
                let dm_runc = dm_testkit::workspace_bin("dm-runc");
                let script = cfg.path().join("reaped-before-start");
                let text = REAPED_BEFORE_START.replace("@DM_RUNC@", dm_runc.to_str().unwrap());
                std::fs::write(&script, text).unwrap();
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
                Some(script)
            }
            // The shim finds dm-runc next to itself; make the failure obvious if it is missing.
            Backend::DmRunc => {
                let _ = dm_testkit::workspace_bin("dm-runc");
                None
            }
        };
        if let Some(binary) = binary {
            let p = cfg.path().join("runtime.toml");
            std::fs::write(&p, format!("BinaryName = {:?}\n", binary.to_str().unwrap())).unwrap();
            runtime_args.push("--runtime-config-path".into());
            runtime_args.push(p.to_str().unwrap().into());
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
        self.ctr.task_pid(id)
    }

    /// Kills and deletes task and container `id`.
    pub fn remove(&self, id: &str) {
        let _ = self.ctr.run(&["task", "kill", "-s", "SIGKILL", id]);
        let _ = self.ctr.wait_status_or_gone(id, "STOPPED", STATE_WAIT);
        self.ctr.ok(&["task", "delete", id]);
        self.ctr.ok(&["container", "delete", id]);
    }
}

/// `ctr events` running in the background, its lines collected.
pub struct EventLog {
    child: std::process::Child,
    reader: Option<std::thread::JoinHandle<()>>,
    seen: Arc<Mutex<String>>,
}

impl Env {
    /// Starts collecting containerd's events.
    pub fn listen_events(&self) -> EventLog {
        let mut cmd = self.ctr.cmd(&["events"]);
        cmd.stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let seen = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let sink = seen.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        EventLog {
            child,
            reader: Some(reader),
            seen,
        }
    }
}

impl EventLog {
    /// Waits (bounded) until `topic` was seen for task `id`, stops listening, returns every line.
    pub fn until(mut self, id: &str, topic: &str) -> String {
        let deadline = std::time::Instant::now() + STATE_WAIT;
        loop {
            let t = self.seen.lock().unwrap().clone();
            if topics_of(&t, id).iter().any(|x| x == topic) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {topic} for {id}:\n{t}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        let text = self.seen.lock().unwrap().clone();
        text
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The /tasks/* topics `ctr events` printed for task `id`, in order.
pub fn topics_of(text: &str, id: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.contains(&format!("\"{id}\"")) && l.contains("/tasks/"))
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("/tasks/")))
        .map(str::to_owned)
        .collect()
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
