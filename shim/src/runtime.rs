//! Drives a runc-compatible binary (dm-runc, runc, crun) through its CLI, as containerd's runc
//! shim does: `--root R --log <bundle>/log.json --log-format json <subcommand>`.

use crate::error::{io, Error, Result};
use crate::reaper;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Which runtime binary, with which state root and cgroup driver.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Runtime {
    /// The binary (path or name on PATH).
    pub binary: String,
    /// Its `--root` state dir.
    pub root: String,
    /// Pass `--systemd-cgroup`.
    pub systemd_cgroup: bool,
}

/// The three stdio fds a runtime command hands to the container process.
#[derive(Default)]
pub struct ProcStdio {
    /// stdin, or /dev/null.
    pub stdin: Option<OwnedFd>,
    /// stdout, or /dev/null.
    pub stdout: Option<OwnedFd>,
    /// stderr, or /dev/null.
    pub stderr: Option<OwnedFd>,
}

impl Runtime {
    fn base(&self, log: Option<&Path>) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root").arg(&self.root);
        if let Some(log) = log {
            c.arg("--log").arg(log).arg("--log-format").arg("json");
        }
        if self.systemd_cgroup {
            c.arg("--systemd-cgroup");
        }
        c.stdin(Stdio::null()).stdout(Stdio::null());
        c
    }

    /// Runs `<binary> <args>` and returns its stdout; `bundle` locates log.json for errors.
    pub fn run(&self, bundle: &Path, args: &[&str]) -> Result<String> {
        self.exec(bundle, args, None)
    }

    /// Runs a subcommand that starts a container process, which gets `stdio`. What `stdio`
    /// leaves unset is /dev/null: the process outlives the command, so a pipe it inherited
    /// would keep us waiting for EOF (CRI's sandboxes and `ctr run --null-io` have no stdio).
    /// Errors then come from log.json only.
    pub fn run_with(&self, bundle: &Path, args: &[&str], stdio: ProcStdio) -> Result<()> {
        self.exec(bundle, args, Some(stdio)).map(drop)
    }

    fn exec(&self, bundle: &Path, args: &[&str], stdio: Option<ProcStdio>) -> Result<String> {
        let log = bundle.join("log.json");
        let mut c = self.base(Some(&log));
        c.args(args);
        match stdio {
            Some(s) => {
                let null_or = |fd: Option<OwnedFd>| fd.map_or(Stdio::null(), Stdio::from);
                c.stdin(null_or(s.stdin));
                c.stdout(null_or(s.stdout));
                c.stderr(null_or(s.stderr));
            }
            None => {
                c.stdin(Stdio::null());
                c.stdout(Stdio::piped());
                c.stderr(Stdio::piped());
            }
        }
        let action = args.first().copied().unwrap_or_default().to_owned();
        let log_start = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let mut sp = reaper::spawn(&mut c).map_err(|e| Error::Runtime {
            binary: self.binary.clone(),
            action: action.clone(),
            message: format!("cannot run: {e}"),
        })?;
        // Drop our copies of the container's stdio so EOF reaches the readers.
        drop(c);
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut o) = sp.child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        if let Some(mut e) = sp.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let status = sp.wait();
        if status == 0 {
            return Ok(out);
        }
        let message = last_log_error(&log, log_start)
            .or_else(|| {
                let t = err.trim();
                (!t.is_empty()).then(|| t.to_owned())
            })
            .unwrap_or_else(|| format!("exit status {status}"));
        Err(Error::Runtime {
            binary: self.binary.clone(),
            action,
            message,
        })
    }

    /// `delete [--force] <id>`; a container the runtime no longer knows is not an error.
    pub fn delete(&self, bundle: &Path, id: &str, force: bool) -> Result<()> {
        let mut args = vec!["delete"];
        if force {
            args.push("--force");
        }
        args.push(id);
        match self.run(bundle, &args) {
            Ok(_) => Ok(()),
            Err(Error::Runtime { message, .. })
                if message.contains("not exist") || message.contains("not found") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// `ps --format json <id>`: the container's pids.
    pub fn ps(&self, bundle: &Path, id: &str) -> Result<Vec<u32>> {
        let out = self.run(bundle, &["ps", "--format", "json", id])?;
        serde_json::from_str(out.trim()).map_err(|e| Error::Runtime {
            binary: self.binary.clone(),
            action: "ps".into(),
            message: format!("bad JSON {out:?}: {e}"),
        })
    }
}

/// The `msg` of the last JSON line the runtime logged after byte `start` of its log.
fn last_log_error(log: &Path, start: u64) -> Option<String> {
    let bytes = std::fs::read(log).ok()?;
    let text = String::from_utf8_lossy(bytes.get(start as usize..)?);
    text.lines().rev().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        v.get("msg")?.as_str().map(str::to_owned)
    })
}

/// Reads a pid file the runtime wrote.
pub fn read_pid(path: &Path) -> Result<i32> {
    let s = std::fs::read_to_string(path).map_err(io(format!("read {}", path.display())))?;
    s.trim()
        .parse()
        .map_err(|_| Error::InvalidArgument(format!("pid file {}: {s:?}", path.display())))
}

/// The runtime binary to use when no option names one: dm-runc next to the shim, else on PATH.
pub fn default_binary() -> String {
    if let Ok(exe) = std::env::current_exe() {
        let p: PathBuf = exe.with_file_name("dm-runc");
        if p.is_file() {
            return p.to_string_lossy().into_owned();
        }
    }
    "dm-runc".into()
}
