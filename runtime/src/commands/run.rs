//! `run`: create + start + wait, forwarding signals and the terminal; deletes on exit.

use crate::cli::RunArgs;
use crate::commands::{create, lifecycle};
use crate::error::Result;
use crate::process::forward;
use std::path::Path;

/// Runs the container; returns the exit code dm-runc should exit with.
pub fn run(root: &Path, a: &RunArgs, systemd: bool) -> Result<i32> {
    let mut sfd = if a.detach {
        None
    } else {
        Some(forward::block_signals()?)
    };
    // Without -d and without a console socket we are the terminal's other end.
    let created = create::create(root, &a.create, !a.detach, systemd)?;
    let st = created.state;
    if let Err(e) = lifecycle::start(root, &st.id) {
        let _ = lifecycle::delete(root, &st.id, true);
        return Err(e);
    }
    let Some(sfd) = sfd.as_mut() else {
        return Ok(0);
    };
    let pty = match &created.console {
        Some(s) => Some(forward::recv_fd(s)?),
        None => None,
    };
    let code = forward::wait(st.pid, sfd, pty)?;
    if !a.keep {
        let _ = st.cgroup.kill_all(libc::SIGKILL);
        lifecycle::destroy(root, &st)?;
    }
    Ok(code)
}
