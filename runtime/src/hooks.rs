//! Lifecycle hooks: each run with its args and env, the state JSON on stdin, and its timeout.

use crate::error::{Error, Result};
use oci_spec::runtime::Hook;
use std::io::Write;
use std::process::{Command, Stdio};

/// The status in the state that hooks run during create and start (prestart, createRuntime,
/// createContainer, startContainer) read. state.md: `creating` is step 2 of the lifecycle
/// (building the environment), `created` comes after step 2; these hooks are steps 3 to 7, and
/// the user program has not run yet. crun and runtime-tools read it so too; runc 1.1 passes
/// `creating` to the first three.
pub const CREATED: &str = "created";

/// Runs `hooks` (of kind `kind`, e.g. "createRuntime") in order; the first failure stops them.
pub fn run(kind: &str, hooks: &[Hook], state: &[u8]) -> Result<()> {
    for (i, h) in hooks.iter().enumerate() {
        run_one(h, state)
            .map_err(|e| Error::Hook(format!("error running {kind} hook #{i}: {e}")))?;
    }
    Ok(())
}

/// Whether the spec has hooks that run in the runtime namespace while the container is being
/// created (prestart, createRuntime): only then does the init stop for them.
pub fn has_create_runtime_hooks(spec: &oci_spec::runtime::Spec) -> bool {
    spec.hooks().as_ref().is_some_and(|h| {
        h.prestart().as_ref().is_some_and(|v| !v.is_empty())
            || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
    })
}

/// Runs hooks where failures must only be logged (poststart, poststop).
pub fn run_logged(kind: &str, hooks: &[Hook], state: &[u8]) {
    for (i, h) in hooks.iter().enumerate() {
        if let Err(e) = run_one(h, state) {
            crate::log::warn(&format!("error running {kind} hook #{i}: {e}"));
        }
    }
}

fn run_one(h: &Hook, state: &[u8]) -> std::result::Result<(), String> {
    let args = h.args().clone().unwrap_or_default();
    let mut cmd = Command::new(h.path());
    if let Some(arg0) = args.first() {
        use std::os::unix::process::CommandExt;
        cmd.arg0(arg0);
    }
    cmd.args(args.iter().skip(1)).env_clear();
    for kv in h.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{}: {e}", h.path().display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its stdin; that is not an error.
        let _ = stdin.write_all(state);
    }
    if let Some(secs) = h.timeout() {
        if secs <= 0 {
            return Err(format!("timeout must be positive, got {secs}"));
        }
        if !crate::sys::wait_pid_exit(child.id() as i32, secs as i32 * 1000) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {secs}s"));
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}, stdout: {}, stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
