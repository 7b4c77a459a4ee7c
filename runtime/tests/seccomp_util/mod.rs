//! Shared helpers of the seccomp tests: build profiles, run code under a filter in a forked child.
#![allow(dead_code)]

pub mod agent;

use std::os::fd::{AsFd, FromRawFd, OwnedFd};

use dm_runtime::seccomp::{compile, Filter};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
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
    // Keep a notify fd open rather than close it: close(2) may itself be a notified syscall,
    // which would wait on the very listener being closed. _exit releases it without a syscall.
    in_child_with_fd(filter, |fd| {
        std::mem::forget(fd);
        body()
    })
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

/// Waits for child `pid` to end; kills it and panics if it has not within 30 s (a filtered
/// child can block for good, e.g. on a notification nobody answers).
pub fn wait(pid: i32) -> Outcome {
    // SAFETY: pidfd_open on our own child; the fd is owned below.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    assert!(
        pidfd >= 0,
        "pidfd_open: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: pidfd_open returned a fresh fd.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    if poll(&mut fds, PollTimeout::from(30_000u16)).expect("poll pidfd") == 0 {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = waitpid(Pid::from_raw(pid), None);
        panic!("child {pid} did not end within 30 s");
    }
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

/// A BPF instruction as (code, jt, jf, k).
pub type Insn = (u16, u8, u8, u32);

/// The filter's program as plain tuples.
pub fn insns(f: &Filter) -> Vec<Insn> {
    f.program()
        .iter()
        .map(|i| (i.code, i.jt, i.jf, i.k))
        .collect()
}

/// Runs a classic-BPF seccomp program on `seccomp_data` (16 words: nr, arch, ip, six 64-bit
/// args low word first); returns (verdict, instructions run). Models the opcodes seccomp
/// filters use; panics on others and on jumps out of the program.
pub fn run_bpf(prog: &[Insn], data: &[u32; 16]) -> (u32, usize) {
    let (mut pc, mut a, mut steps) = (0usize, 0u32, 0usize);
    loop {
        let (code, jt, jf, k) = prog[pc];
        steps += 1;
        pc += 1;
        let cond = |c: bool| if c { jt as usize } else { jf as usize };
        match code {
            0x20 => {
                assert!(k % 4 == 0 && k < 64, "load outside seccomp_data: {k}");
                a = data[k as usize / 4]
            }
            0x54 => a &= k,
            0x05 => pc += k as usize,
            0x15 => pc += cond(a == k),
            0x25 => pc += cond(a > k),
            0x35 => pc += cond(a >= k),
            0x45 => pc += cond(a & k != 0),
            0x06 => return (k, steps),
            _ => panic!("opcode {code:#x} not modelled"),
        }
    }
}
