//! The raw system calls nix does not wrap, in one place.

use nix::errno::Errno;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Forks into new namespaces (`flags` are CLONE_NEW* bits), optionally straight into a cgroup2
/// directory. Returns 0 in the child and the child's pid in the parent, like fork(2).
///
/// No new stack is given: the child continues on a copy of the parent's, which is safe because
/// dm-runc is single-threaded.
pub fn clone_fork(flags: u64, cgroup: Option<BorrowedFd>) -> nix::Result<i32> {
    let mut args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: clone3 with a zero stack behaves like fork; `args` outlives the call and its size
    // is passed; the process is single-threaded so the child's copy of memory is consistent.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if r >= 0 {
        return Ok(r as i32);
    }
    let e = Errno::last();
    if e != Errno::ENOSYS || cgroup.is_some() {
        return Err(e);
    }
    // SAFETY: as above; the legacy clone with a null stack is fork with namespace flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags | libc::SIGCHLD as u64,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    Errno::result(r).map(|r| r as i32)
}

/// setdomainname(2).
pub fn set_domainname(name: &str) -> nix::Result<()> {
    // SAFETY: the pointer and length describe a valid byte buffer for the duration of the call.
    let r = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(r).map(drop)
}

/// personality(2) with a raw persona value.
pub fn set_personality(persona: libc::c_ulong) -> nix::Result<()> {
    // SAFETY: personality takes a plain integer and has no memory effects.
    let r = unsafe { libc::personality(persona) };
    Errno::result(r).map(drop)
}

/// Joins the session keyring named `name`, making it when no searchable one exists.
/// Returns its serial.
pub fn join_session_keyring(name: &str) -> nix::Result<i32> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let name = std::ffi::CString::new(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    Errno::result(r).map(|s| s as i32)
}

/// Sets a key's permission mask (KEYCTL_SETPERM); only its owner may.
pub fn set_key_perm(serial: i32, perm: u32) -> nix::Result<()> {
    const KEYCTL_SETPERM: libc::c_long = 5;
    // SAFETY: plain integer arguments.
    let r = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_SETPERM,
            serial as libc::c_long,
            perm as libc::c_ulong,
        )
    };
    Errno::result(r).map(drop)
}

/// Marks every fd from `from` upwards close-on-exec (close_range with CLOSE_RANGE_CLOEXEC).
pub fn cloexec_from(from: u32) -> nix::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes fd flags of this process.
    let r = unsafe { libc::syscall(libc::SYS_close_range, from, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if r == 0 {
        return Ok(());
    }
    // Old kernels: walk /proc/self/fd instead.
    for e in std::fs::read_dir("/proc/self/fd").map_err(|_| Errno::last())? {
        let fd: i32 = match e.ok().and_then(|e| e.file_name().to_str()?.parse().ok()) {
            Some(fd) => fd,
            None => continue,
        };
        if fd >= from as i32 {
            // SAFETY: setting FD_CLOEXEC on a possibly stale fd number is harmless.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
    Ok(())
}

/// Waits up to `ms` milliseconds for process `pid` to exit (become a zombie or vanish),
/// through a pidfd: no polling loop. True when it has exited.
pub fn wait_pid_exit(pid: i32, ms: i32) -> bool {
    use std::os::fd::{AsFd, FromRawFd, OwnedFd};
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        // ESRCH: already gone.
        return Errno::last() == Errno::ESRCH;
    }
    // SAFETY: the fd was just returned by pidfd_open and is owned here only.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let mut fds = [nix::poll::PollFd::new(
        fd.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let timeout = nix::poll::PollTimeout::try_from(ms).unwrap_or(nix::poll::PollTimeout::MAX);
    loop {
        match nix::poll::poll(&mut fds, timeout) {
            Err(Errno::EINTR) => continue,
            Ok(n) => return n > 0,
            Err(_) => return false,
        }
    }
}

/// A detached copy of the mount tree at `path` (open_tree with OPEN_TREE_CLONE), recursive
/// with `recursive`.
pub fn open_tree_clone(path: &std::path::Path, recursive: bool) -> nix::Result<OwnedFd> {
    let p =
        std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
    let mut flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: `p` is NUL-terminated and outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, p.as_ptr(), flags) };
    // SAFETY: a fresh fd from open_tree, owned here.
    Errno::result(r).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Makes the detached mount `tree` idmapped through the user namespace `userns`.
pub fn mount_setattr_idmap(
    tree: BorrowedFd,
    userns: BorrowedFd,
    recursive: bool,
) -> nix::Result<()> {
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: an empty path with AT_EMPTY_PATH names `tree`; `attr` and its size are passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    Errno::result(r).map(drop)
}

/// Attaches the detached mount `tree` on top of the directory or file `target` (an O_PATH fd).
pub fn move_mount_onto(tree: BorrowedFd, target: BorrowedFd) -> nix::Result<()> {
    let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH;
    // SAFETY: empty paths with the EMPTY_PATH flags name the two fds; nothing else is passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            flags,
        )
    };
    Errno::result(r).map(drop)
}

/// Makes the detached mount `tree` read-only, nosuid and nodev.
pub fn mount_setattr_readonly(tree: BorrowedFd) -> nix::Result<()> {
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: an empty path with AT_EMPTY_PATH names `tree`; `attr` and its size are passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    Errno::result(r).map(drop)
}

/// A close-on-exec memfd that accepts seals (memfd_create with MFD_ALLOW_SEALING).
pub fn memfd_sealable(name: &std::ffi::CStr) -> nix::Result<OwnedFd> {
    // SAFETY: `name` is NUL-terminated and outlives the call.
    let r =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    // SAFETY: a fresh fd from memfd_create, owned here.
    Errno::result(r).map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Replaces this process with the program open at `prog` (execveat with AT_EMPTY_PATH), with
/// `argv` and this process's environment exactly as it is. Returns only on failure.
pub fn reexec(prog: BorrowedFd, argv: &[std::ffi::CString]) -> Errno {
    let mut ptrs: Vec<*mut libc::c_char> = argv.iter().map(|a| a.as_ptr().cast_mut()).collect();
    ptrs.push(std::ptr::null_mut());
    // SAFETY: `ptrs` is a NULL-terminated array of NUL-terminated strings that outlive the
    // call; `environ` is the process's own NULL-terminated environment, which nothing changes
    // concurrently (dm-runc is single-threaded); an empty path with AT_EMPTY_PATH names `prog`.
    unsafe {
        libc::execveat(
            prog.as_raw_fd(),
            c"".as_ptr(),
            ptrs.as_ptr(),
            libc::environ.cast_const(),
            libc::AT_EMPTY_PATH,
        )
    };
    Errno::last()
}
