//! `start`, `kill`, `delete`, `pause`, `resume`: moving a created container through its life.

use crate::error::{Error, Result, SysContext};
use crate::state::{self, State, Status};
use nix::sys::signal::Signal;
use std::os::fd::AsFd;
use std::path::Path;

/// Releases a created container's init and runs poststart hooks.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let st = State::load(root, id)?;
    match st.status(root) {
        Status::Created => {}
        Status::Stopped => {
            return Err(Error::State(
                "cannot start a container that has stopped".into(),
            ))
        }
        Status::Running | Status::Paused => {
            return Err(Error::State(
                "cannot start an already running container".into(),
            ))
        }
    }
    release(root, &st)?;
    if let Some(h) = st
        .config
        .hooks()
        .as_ref()
        .and_then(|h| h.poststart().as_ref())
    {
        let s = state::hook_state(id, st.pid, "running", &st.bundle, &st.config);
        crate::hooks::run_logged("poststart", h, &s);
    }
    Ok(())
}

/// Opens the exec fifo for reading (so the init's blocked open returns), reads its byte, and
/// removes the fifo; "running" from then on. Gives up if the init dies meanwhile.
fn release(root: &Path, st: &State) -> Result<()> {
    use nix::fcntl::OFlag;
    let path = state::fifo_path(root, &st.id);
    let fd = nix::fcntl::open(
        &path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .sys(|| "open exec fifo".into())?;
    // SAFETY: fresh fd from open, owned here.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let mut buf = [0u8; 1];
    loop {
        let mut pfd = [nix::poll::PollFd::new(
            fd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(100u16)) {
            Ok(n) if n > 0 => {
                match nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&fd), &mut buf) {
                    Ok(1) => break,
                    Ok(_) | Err(nix::errno::Errno::EAGAIN) => {}
                    Err(e) => return Err(e).sys(|| "read exec fifo".into()),
                }
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).sys(|| "poll exec fifo".into()),
        }
        if !st.init_alive() {
            let _ = std::fs::remove_file(&path);
            return Err(Error::State("container init exited before start".into()));
        }
    }
    std::fs::remove_file(&path).map_err(|e| Error::State(format!("remove exec fifo: {e}")))
}

/// Parses a signal given by name (`TERM`, `SIGTERM`) or number.
pub fn parse_signal(s: &str) -> Result<Signal> {
    let bad = || Error::Arg(format!("unknown signal {s:?}"));
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<Signal>().map_err(|_| bad())
}

/// Sends a signal to the init, or with `all` to every process in the cgroup.
pub fn kill(root: &Path, id: &str, signal: Option<&str>, all: bool) -> Result<()> {
    let sig = parse_signal(signal.unwrap_or("SIGTERM"))?;
    let st = State::load(root, id)?;
    if st.status(root) == Status::Stopped {
        return Err(Error::State("container not running".into()));
    }
    if all {
        st.cgroup.kill_all(sig as i32)?;
        return Ok(());
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(st.pid), sig)
        .sys(|| format!("kill {}", st.pid))
}

/// Deletes a container: refuses a live one unless forced, then removes cgroup and state and
/// runs poststop hooks.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let st = match State::load(root, id) {
        Ok(st) => st,
        Err(Error::NotExist) => {
            // A create that died before writing state.json may leave its directory.
            state::validate_id(id)?;
            let _ = std::fs::remove_dir_all(state::dir(root, id));
            return if force { Ok(()) } else { Err(Error::NotExist) };
        }
        Err(e) => return Err(e),
    };
    match st.status(root) {
        Status::Stopped => {}
        Status::Created => kill_and_wait(&st)?,
        s if force => {
            if s == Status::Paused {
                let _ = st.cgroup.thaw();
            }
            kill_and_wait(&st)?;
        }
        s => {
            return Err(Error::State(format!(
                "cannot delete container {id} that is not stopped: {}",
                s.as_str()
            )))
        }
    }
    destroy(root, &st)
}

/// Removes cgroup, the rootfs bind (no mount namespace) and state dir, then runs poststop
/// hooks.
pub fn destroy(root: &Path, st: &State) -> Result<()> {
    st.cgroup.destroy()?;
    if let Some(id) = st.rootfs_mount {
        crate::rootfs::shared::release(&st.rootfs, id)?;
    }
    let _ = std::fs::remove_dir_all(state::dir(root, &st.id));
    if let Some(h) = st
        .config
        .hooks()
        .as_ref()
        .and_then(|h| h.poststop().as_ref())
    {
        let s = state::hook_state(&st.id, 0, "stopped", &st.bundle, &st.config);
        crate::hooks::run_logged("poststop", h, &s);
    }
    Ok(())
}

/// SIGKILLs every process of the container and waits (bounded) until the init is gone.
fn kill_and_wait(st: &State) -> Result<()> {
    let _ = st.cgroup.kill_all(libc::SIGKILL);
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(st.pid), Signal::SIGKILL);
    // Exit (zombie or gone) is what matters; its parent (the shim, or `run`) reaps it.
    let dead = crate::sys::wait_pid_exit(st.pid, 10_000);
    let _ = nix::sys::wait::waitpid(
        nix::unistd::Pid::from_raw(st.pid),
        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
    );
    if dead || !st.init_alive() {
        return Ok(());
    }
    Err(Error::State(format!(
        "container init {} did not die after SIGKILL",
        st.pid
    )))
}

/// Freezes a running container.
pub fn pause(root: &Path, id: &str) -> Result<()> {
    let st = State::load(root, id)?;
    if st.status(root) != Status::Running {
        return Err(Error::State("container not running".into()));
    }
    Ok(st.cgroup.freeze()?)
}

/// Thaws a paused container.
pub fn resume(root: &Path, id: &str) -> Result<()> {
    let st = State::load(root, id)?;
    if st.status(root) != Status::Paused {
        return Err(Error::State("container not paused".into()));
    }
    Ok(st.cgroup.thaw()?)
}
