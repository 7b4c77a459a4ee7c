//! A bundle (rootfs + config.json) plus a private state root, driven through a runtime's runc CLI.

use crate::env::{unique_id, TempDir};
use crate::rootfs::build_busybox_rootfs;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What a runtime command printed and how it exited.
#[derive(Debug)]
pub struct Output {
    /// Exit code (128+signal when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Panics with everything printed unless the command exited 0.
    pub fn ok(self) -> Output {
        assert_eq!(self.code, 0, "command failed: {self:?}");
        self
    }
}

/// A busybox bundle with its own container id and private `--root` state dir.
pub struct Bundle {
    dir: TempDir,
    state_root: TempDir,
    runtime: PathBuf,
    /// The container id tests use for this bundle.
    pub id: String,
    /// config.json as JSON; edit it, then call [`Bundle::write`].
    pub spec: Value,
    /// Extra environment for every runtime command (e.g. a private D-Bus address).
    pub env: Vec<(String, String)>,
}

impl Bundle {
    /// Builds a rootfs and the config `<runtime> spec` prints, with terminal off and
    /// args `["true"]`, and writes it.
    pub fn new(runtime: &Path) -> Bundle {
        let dir = TempDir::new("dm-bundle");
        build_busybox_rootfs(&dir.path().join("rootfs"));
        let st = Command::new(runtime)
            .arg("spec")
            .current_dir(dir.path())
            .status()
            .unwrap_or_else(|e| panic!("run {} spec: {e}", runtime.display()));
        assert!(st.success(), "{} spec failed", runtime.display());
        let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        let mut spec: Value = serde_json::from_str(&text).unwrap();
        spec["process"]["terminal"] = Value::Bool(false);
        spec["process"]["args"] = serde_json::json!(["true"]);
        let b = Bundle {
            dir,
            state_root: TempDir::new("dm-state"),
            runtime: runtime.to_owned(),
            id: unique_id("ct"),
            spec,
            env: Vec::new(),
        };
        b.write();
        b
    }

    /// The bundle directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The rootfs directory.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// The private state root passed as `--root`.
    pub fn state_root(&self) -> &Path {
        self.state_root.path()
    }

    /// The runtime binary this bundle is driven with.
    pub fn runtime(&self) -> &Path {
        &self.runtime
    }

    /// Sets process.args.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.spec["process"]["args"] = serde_json::json!(args);
        self.write();
        self
    }

    /// Copies the static `dm-probe` helper into the rootfs as /bin/dm-probe.
    pub fn install_probe(&self) {
        let dst = self.rootfs().join("bin/dm-probe");
        std::fs::copy(crate::env::workspace_bin("dm-probe"), &dst)
            .unwrap_or_else(|e| panic!("copy dm-probe to {}: {e}", dst.display()));
    }

    /// Writes [`Bundle::spec`] to config.json.
    pub fn write(&self) {
        std::fs::write(
            self.dir.path().join("config.json"),
            serde_json::to_vec_pretty(&self.spec).unwrap(),
        )
        .unwrap();
    }

    /// A runtime command with `--root` set to this bundle's private state dir.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.runtime);
        c.arg("--root").arg(self.state_root.path()).args(args);
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c.stdin(Stdio::null());
        c
    }

    /// Runs the runtime with `args` and collects its output.
    pub fn run(&self, args: &[&str]) -> Output {
        output(self.cmd(args))
    }

    /// Like [`Bundle::run`] but with stdout/stderr going to files: needed for `create`,
    /// whose init keeps the caller's stdio (waiting for pipe EOF would wait for the container).
    pub fn run_detached(&self, args: &[&str]) -> Output {
        let out_path = self.dir.path().join(format!(".out-{}", unique_id("o")));
        let err_path = self.dir.path().join(format!(".err-{}", unique_id("e")));
        let mut cmd = self.cmd(args);
        cmd.stdout(std::fs::File::create(&out_path).unwrap());
        cmd.stderr(std::fs::File::create(&err_path).unwrap());
        let st = cmd
            .status()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        use std::os::unix::process::ExitStatusExt;
        let code = st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0));
        let read = |p: &Path| {
            let s = std::fs::read_to_string(p).unwrap_or_default();
            let _ = std::fs::remove_file(p);
            s
        };
        Output {
            code,
            stdout: read(&out_path),
            stderr: read(&err_path),
        }
    }

    /// `run --bundle <dir> <id>`: runs the container to its end.
    pub fn run_container(&self) -> Output {
        let b = self.path().to_str().unwrap().to_owned();
        self.run(&["run", "--bundle", &b, &self.id])
    }

    /// `create --bundle <dir> <id>`.
    pub fn create(&self) -> Output {
        let b = self.path().to_str().unwrap().to_owned();
        self.run_detached(&["create", "--bundle", &b, &self.id])
    }

    /// `state <id>` parsed as JSON.
    pub fn state(&self) -> Value {
        let out = self.run(&["state", &self.id]).ok();
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("state JSON: {e}: {out:?}"))
    }
}

/// Runs `cmd` to its end and collects exit code and output.
pub fn output(mut cmd: Command) -> Output {
    use std::os::unix::process::ExitStatusExt;
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let code = out
        .status
        .code()
        .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0));
    Output {
        code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // Best effort so a failed test leaves no process or state behind.
        let _ = self
            .cmd(&["delete", "--force", &self.id])
            .stderr(Stdio::null())
            .status();
    }
}
