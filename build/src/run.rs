//! A RUN step: the command in a dm-runc container whose root is the step's mounted snapshot,
//! from the config `dm-runc spec` prints (its default capabilities and namespaces, including a
//! new network namespace with only `lo`), with the build's env, user and working directory.

use crate::error::{BuildError, Result};
use crate::users::Ids;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Lines of a failing command's output shown in its error.
const TAIL_LINES: usize = 10;

/// What to run.
pub struct Process<'a> {
    /// The runtime binary.
    pub runtime: &'a Path,
    /// The mounted root.
    pub rootfs: &'a Path,
    /// argv.
    pub args: &'a [String],
    /// `K=V` entries.
    pub env: &'a [String],
    /// Working directory (absolute).
    pub cwd: &'a str,
    /// The user.
    pub user: Ids,
    /// Its supplementary groups.
    pub groups: Vec<u32>,
    /// Extra OCI mounts (RUN --mount).
    pub mounts: &'a [serde_json::Value],
}

/// Runs `p` in `scratch` (a fresh directory for the bundle); returns its output, or the
/// error naming the command (`line`, `text`) with its exit code and last lines.
pub fn run(p: &Process, scratch: &Path, line: usize, text: &str) -> Result<String> {
    std::fs::create_dir_all(scratch).map_err(io("create", scratch))?;
    let st = Command::new(p.runtime)
        .arg("spec")
        .current_dir(scratch)
        .stdin(Stdio::null())
        .output()
        .map_err(io("run", p.runtime))?;
    if !st.status.success() {
        return Err(BuildError::io(
            "spec",
            p.runtime,
            std::io::Error::other(String::from_utf8_lossy(&st.stderr).into_owned()),
        ));
    }
    let cfg_path = scratch.join("config.json");
    let text_cfg = std::fs::read(&cfg_path).map_err(io("read", &cfg_path))?;
    let mut spec: serde_json::Value = serde_json::from_slice(&text_cfg)
        .map_err(|e| BuildError::io("parse", &cfg_path, std::io::Error::other(e)))?;
    spec["root"] = serde_json::json!({"path": p.rootfs, "readonly": false});
    if let Some(list) = spec["mounts"].as_array_mut() {
        list.extend(p.mounts.iter().cloned());
    }
    let proc_ = &mut spec["process"];
    proc_["terminal"] = false.into();
    proc_["args"] = serde_json::json!(p.args);
    proc_["env"] = serde_json::json!(p.env);
    proc_["cwd"] = p.cwd.into();
    proc_["user"] =
        serde_json::json!({"uid": p.user.uid, "gid": p.user.gid, "additionalGids": p.groups});
    std::fs::write(&cfg_path, serde_json::to_vec(&spec).unwrap_or_default())
        .map_err(io("write", &cfg_path))?;
    let id = format!(
        "dm-build-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let state: PathBuf = scratch.join("state");
    let out = Command::new(p.runtime)
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle"])
        .arg(scratch)
        .arg(&id)
        .stdin(Stdio::null())
        .output()
        .map_err(io("run", p.runtime))?;
    let mut all = String::from_utf8_lossy(&out.stdout).into_owned();
    all.push_str(&String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        return Ok(all);
    }
    let lines: Vec<&str> = all.lines().collect();
    let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    Err(BuildError::Run {
        line,
        command: text.to_owned(),
        code: out.status.code().unwrap_or(-1),
        output: tail,
    })
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> BuildError + 'a {
    move |e| BuildError::io(op, path, e)
}
