//! Shared helpers of the seccomp tests: build profiles, run code under a filter in a forked child.
#![allow(dead_code)]

use std::os::fd::OwnedFd;

use dm_runtime::seccomp::{compile, Filter};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxSeccomp;

/// Exit code of a child whose filter failed to install.
pub const INSTALL_FAILED: i32 = 250;

/// Parses a `linux.seccomp` object.
pub fn profile(v: serde_json::Value) -> LinuxSeccomp {
    serde_json::from_value(v).expect("test profile parses")
}

/// Parses and compiles a `linux.seccomp` object.
pub fn filter(v: serde_json::Value) -> Filter {
    compile(&profile(v)).expect("test profile compiles")
}

/// How a child ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exited with this code.
    Exited(i32),
    /// Killed by this signal.
    Signaled(Signal),
}

/// Forks; the child sets no_new_privs, installs `filter`, runs `body` and exits with its result.
/// Only raw syscalls may run in `body` (the test process is multi-threaded).
pub fn in_child(filter: &Filter, body: impl FnOnce() -> i32) -> Outcome {
    in_child_with_fd(filter, |_| body())
}

/// Like [`in_child`], and `body` gets what `install` returned (the notify fd, if any).
pub fn in_child_with_fd(filter: &Filter, body: impl FnOnce(Option<OwnedFd>) -> i32) -> Outcome {
    // SAFETY: the child only makes raw syscalls (prctl, seccomp, the body's) and _exits.
    match unsafe { libc::fork() } {
        -1 => panic!("fork: {}", std::io::Error::last_os_error()),
        0 => {
            // SAFETY: plain prctl and _exit in the forked child.
            unsafe {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    libc::_exit(INSTALL_FAILED);
                }
                match filter.install() {
                    Ok(fd) => libc::_exit(body(fd)),
                    Err(_) => libc::_exit(INSTALL_FAILED),
                }
            }
        }
        pid => wait(pid),
    }
}

/// Waits for child `pid` to end.
pub fn wait(pid: i32) -> Outcome {
    match waitpid(Pid::from_raw(pid), None).expect("waitpid") {
        WaitStatus::Exited(_, c) => Outcome::Exited(c),
        WaitStatus::Signaled(_, s, _) => Outcome::Signaled(s),
        other => panic!("unexpected wait status {other:?}"),
    }
}

/// errno of the last failed call (0 if `r` is not negative).
pub fn errno_if_failed(r: libc::c_long) -> i32 {
    if r < 0 {
        // SAFETY: reads this thread's errno.
        unsafe { *libc::__errno_location() }
    } else {
        0
    }
}

/// Calls syscall `nr` with six arguments; 0 on success, else errno.
pub fn sys6(nr: libc::c_long, a: [u64; 6]) -> i32 {
    // SAFETY: the callers use syscalls whose arguments are plain integers (getpid, getppid...).
    let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
    errno_if_failed(r)
}

/// Calls syscall `nr` without arguments; 0 on success, else errno.
pub fn sys0(nr: libc::c_long) -> i32 {
    sys6(nr, [0; 6])
}
