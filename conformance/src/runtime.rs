//! Driving the runtime under test: a bundle with its rootfs and a private `--root`, commands run
//! with bounded waits, output collected through files (a detached container keeps pipes open).

use crate::context::{Context, BIND_MARK, CONFIG_IN_CONTAINER, CONTEXT_IN_CONTAINER};
use crate::error::{io, Result};
use dm_testkit::{build_busybox_rootfs, unique_id, Output, TempDir};
use serde_json::Value;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long any single runtime command may take before the case counts as failed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// The runtime binary under test and the checker binary copied into every rootfs.
#[derive(Clone, Debug)]
pub struct Runtime {
    /// The runtime binary.
    pub path: PathBuf,
    /// Column name in reports: the binary's file name.
    pub name: String,
    /// The static checker binary.
    pub checker: PathBuf,
}

impl Runtime {
    /// A runtime at `path`, named after its file name.
    pub fn new(path: &Path, checker: &Path) -> Runtime {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Runtime {
            path: path.to_owned(),
            name,
            checker: checker.to_owned(),
        }
    }

    /// The first line of `<runtime> --version`.
    pub fn version(&self) -> String {
        Command::new(&self.path)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "unknown version".into())
    }
}

/// One bundle (busybox rootfs + checker + a shared dir) with a private state root and id.
pub struct Sandbox {
    bundle: TempDir,
    state_root: TempDir,
    runtime: PathBuf,
    /// The container id.
    pub id: String,
    /// The checker's path on the host (inside the rootfs).
    pub host_checker: PathBuf,
    seq: std::cell::Cell<u32>,
}

impl Sandbox {
    /// Builds the rootfs, copies the checker to /dm-conformance/checker and makes `shared/`.
    pub fn new(rt: &Runtime) -> Result<Sandbox> {
        let bundle = TempDir::new("dmc-bundle");
        let rootfs = bundle.path().join("rootfs");
        build_busybox_rootfs(&rootfs);
        let dir = rootfs.join("dm-conformance");
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let host_checker = dir.join("checker");
        std::fs::copy(&rt.checker, &host_checker).map_err(io("copy checker to", &host_checker))?;
        std::fs::set_permissions(&host_checker, PermissionsExt::from_mode(0o755))
            .map_err(io("chmod", &host_checker))?;
        let sb = Sandbox {
            bundle,
            state_root: TempDir::new("dmc-state"),
            runtime: rt.path.clone(),
            id: unique_id("dmc"),
            host_checker,
            seq: std::cell::Cell::new(0),
        };
        sb.shared_dir("shared")?;
        Ok(sb)
    }

    /// The bundle directory.
    pub fn bundle(&self) -> &Path {
        self.bundle.path()
    }

    /// The rootfs directory.
    pub fn rootfs(&self) -> PathBuf {
        self.bundle.path().join("rootfs")
    }

    /// A world-writable directory `name` in the bundle holding a [`BIND_MARK`] file; returns its
    /// path and the mark's `dev:ino`.
    pub fn shared_dir(&self, name: &str) -> Result<(PathBuf, String)> {
        let d = self.bundle.path().join(name);
        std::fs::create_dir_all(&d).map_err(io("create", &d))?;
        std::fs::set_permissions(&d, PermissionsExt::from_mode(0o777)).map_err(io("chmod", &d))?;
        let mark = d.join(BIND_MARK);
        std::fs::write(&mark, b"dm-conformance\n").map_err(io("write", &mark))?;
        let md = std::fs::metadata(&mark).map_err(io("stat", &mark))?;
        Ok((d, format!("{}:{}", md.dev(), md.ino())))
    }

    /// Writes config.json to the bundle, and config.json + context.json into the rootfs.
    pub fn write(&self, spec: &Value, ctx: &Context) -> Result<()> {
        let text = serde_json::to_vec_pretty(spec).expect("JSON values serialize");
        let p = self.bundle.path().join("config.json");
        std::fs::write(&p, &text).map_err(io("write", &p))?;
        let inside = |c: &str| self.rootfs().join(c.trim_start_matches('/'));
        std::fs::write(inside(CONFIG_IN_CONTAINER), &text)
            .map_err(io("write", inside(CONFIG_IN_CONTAINER)))?;
        let ctx = serde_json::to_vec_pretty(ctx).expect("context serializes");
        std::fs::write(inside(CONTEXT_IN_CONTAINER), ctx)
            .map_err(io("write", inside(CONTEXT_IN_CONTAINER)))
    }

    /// Runs `<runtime> --root <private> args...` with a bounded wait.
    pub fn rt(&self, args: &[&str]) -> Output {
        let mut c = Command::new(&self.runtime);
        c.arg("--root").arg(self.state_root.path()).args(args);
        self.bounded(c)
    }

    /// `create --bundle <bundle> [extra...] <id>`.
    pub fn create(&self, extra: &[&str]) -> Output {
        let b = self.bundle().to_string_lossy().into_owned();
        let mut args = vec!["create", "--bundle", &b];
        args.extend_from_slice(extra);
        args.push(&self.id);
        self.rt(&args)
    }

    /// `run --bundle <bundle> <id>`: runs the container to its end.
    pub fn run(&self) -> Output {
        let b = self.bundle().to_string_lossy().into_owned();
        self.rt(&["run", "--bundle", &b, &self.id])
    }

    /// `state <id>` parsed, or None when it fails or prints no JSON.
    pub fn state(&self) -> Option<Value> {
        let o = self.rt(&["state", &self.id]);
        (o.code == 0)
            .then(|| serde_json::from_str(&o.stdout).ok())
            .flatten()
    }

    /// The state's status, or `"(no state)"` when state fails.
    pub fn status(&self) -> String {
        self.state()
            .and_then(|s| s["status"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "(no state)".into())
    }

    /// Polls `state` until the status is `want` or the deadline passes; returns the last status.
    pub fn wait_status(&self, want: &str, within: Duration) -> String {
        let end = Instant::now() + within;
        loop {
            let s = self.status();
            if s == want || Instant::now() > end {
                return s;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `cmd` with stdin from /dev/null and stdout/stderr into files, killing it after
    /// [`COMMAND_TIMEOUT`].
    fn bounded(&self, mut cmd: Command) -> Output {
        let n = self.seq.get();
        self.seq.set(n + 1);
        let (op, ep) = (
            self.bundle.path().join(format!(".out{n}")),
            self.bundle.path().join(format!(".err{n}")),
        );
        let files = std::fs::File::create(&op).and_then(|o| Ok((o, std::fs::File::create(&ep)?)));
        let (o, e) = match files {
            Ok(f) => f,
            Err(e) => return fail_output(format!("create output files: {e}")),
        };
        cmd.stdin(Stdio::null()).stdout(o).stderr(e);
        let code = match cmd.spawn() {
            Err(e) => return fail_output(format!("spawn {cmd:?}: {e}")),
            Ok(child) => wait_bounded(child, COMMAND_TIMEOUT),
        };
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let mut stderr = read(&ep);
        if code == TIMED_OUT {
            stderr.push_str(&format!(
                "\n(dm-conformance: killed after {COMMAND_TIMEOUT:?})"
            ));
        }
        Output {
            code,
            stdout: read(&op),
            stderr,
        }
    }
}

/// Exit code reported for a command that had to be killed.
pub const TIMED_OUT: i32 = -1;

fn fail_output(msg: String) -> Output {
    Output {
        code: TIMED_OUT,
        stdout: String::new(),
        stderr: msg,
    }
}

/// Waits for `child` at most `limit`, killing it past that; returns its exit code
/// (128+signal when signalled, [`TIMED_OUT`] when killed here).
pub fn wait_bounded(mut child: std::process::Child, limit: Duration) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    let end = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)),
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return TIMED_OUT;
            }
        }
    }
}

impl Sandbox {
    /// Mount points at or below the bundle in our mount namespace, deepest last: what a runtime
    /// left of a container without a mount namespace of its own.
    pub fn mounts_left(&self) -> Vec<PathBuf> {
        let dir = std::fs::canonicalize(self.bundle()).unwrap_or_else(|_| self.bundle().into());
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        info.lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(|p| PathBuf::from(unescape_mountinfo(p)))
            .filter(|p| p.starts_with(&dir))
            .collect()
    }
}

/// mountinfo writes space, tab, newline and backslash in paths as octal escapes.
fn unescape_mountinfo(p: &str) -> String {
    let b = p.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], oct) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Leave no process or state behind, whatever the case did.
        let _ = self.rt(&["delete", "--force", &self.id]);
        // Nor mounts, which a runtime may leave in our namespace (runc does, for a container
        // without a mount namespace); before the bundle is removed through them.
        for m in self.mounts_left().iter().rev() {
            let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}
