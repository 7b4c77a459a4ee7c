//! Raw seccomp(2) calls: the only unsafe code of the seccomp module.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use libc::{c_ulong, sock_filter, sock_fprog};

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`; returns the listener fd with
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`.
pub fn set_mode_filter(flags: c_ulong, prog: &[sock_filter]) -> io::Result<Option<OwnedFd>> {
    let fprog = sock_fprog {
        len: u16::try_from(prog.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?,
        filter: prog.as_ptr() as *mut sock_filter,
    };
    // SAFETY: `fprog` points at `prog`, which outlives the call; the kernel copies the program
    // and does not keep the pointer.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &fprog as *const sock_fprog,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
        // SAFETY: with NEW_LISTENER the kernel returns a fresh fd that nothing else owns.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(r as i32) }));
    }
    Ok(None)
}

/// Whether the running kernel knows the filter flags `flags`: the kernel validates flags
/// before it reads the program, so a NULL program yields EFAULT for known flags and EINVAL
/// for unknown ones (the probe libseccomp uses too). Installs nothing.
pub fn flags_supported(flags: c_ulong) -> bool {
    // SAFETY: a NULL program pointer is never dereferenced by us; the kernel faults it safely.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            std::ptr::null::<sock_fprog>(),
        )
    };
    r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_probe_tells_known_from_unknown_flags() {
        // Every kernel this runs on (4.14+) has LOG; bit 30 is no flag at all.
        assert!(flags_supported(libc::SECCOMP_FILTER_FLAG_LOG));
        assert!(!flags_supported(1 << 30));
        // WAIT_KILLABLE_RECV alone is invalid: it needs NEW_LISTENER.
        assert!(!flags_supported(
            libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
        ));
    }
}
