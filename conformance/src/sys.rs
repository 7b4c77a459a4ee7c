//! The raw system calls the checker makes (everything else goes through nix or std).

/// Calls syscall `nr` with two arguments; returns its result or the errno it failed with.
pub fn raw_syscall2(nr: i64, a0: u64, a1: u64) -> Result<i64, i32> {
    // SAFETY: only called with the read-only query syscalls listed in plan::SECCOMP_PROBES
    // (getpriority, getpgid, getsid, getppid), which take integers and touch no memory.
    let r = unsafe { libc::syscall(nr, a0, a1) };
    if r == -1 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(r)
    }
}
