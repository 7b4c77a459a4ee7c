//! dm-runc's own binary kept out of the containers' reach (CVE-2019-5736).
//!
//! The init and every `exec` process are forks of dm-runc until their execve, and a container
//! script starting `#!/proc/self/exe` makes the kernel run that binary again as a dumpable
//! container process, whose /proc/<pid>/exe another container process can reopen for writing
//! once it has exited. So the commands that spawn container processes first re-execute dm-runc
//! from an inode nobody can write: a read-only detached bind mount of the binary itself (no
//! copy, no mount namespace, nothing left behind once the last process running it is gone),
//! or, where mounting is not allowed (rootless, old kernels), a sealed memfd copy.
//! Seen from outside, readlink(/proc/<pid>/exe) of those processes (and of a created
//! container's init) is then "/" (the detached mount's root) or "/memfd:dm-runc (deleted)";
//! cmdline, environ and comm are unchanged.

use crate::error::{Error, IoContext, Result};
use crate::sys;
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::statvfs::{fstatvfs, FsFlags};
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

const SELF_EXE: &str = "/proc/self/exe";

/// Re-executes dm-runc (same argv, environment, fds and cwd) from a binary no container
/// can write, unless it already runs from one. Returns only when it already does.
pub fn protect() -> Result<()> {
    let mut exe = File::open(SELF_EXE).io("open", SELF_EXE)?;
    if is_protected(&exe) {
        keep_name();
        return Ok(());
    }
    let prog = match read_only_bind() {
        Ok(fd) => fd,
        Err(bind) => sealed_copy(&mut exe).map_err(|e| Error::Sys {
            what: format!(
                "keep dm-runc's binary out of the containers' reach: read-only bind mount: \
                 {bind}; sealed memfd copy"
            ),
            source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })?,
    };
    drop(exe);
    let argv = std::env::args_os()
        .map(|a| CString::new(a.into_vec()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| Error::Arg("an argument contains a NUL byte".into()))?;
    Err(Error::Sys {
        what: "re-execute dm-runc from its read-only binary".into(),
        source: sys::reexec(prog.as_fd(), &argv),
    })
}

/// Names the process after argv[0] again: older kernels (6.18 does not) name a program run
/// through execveat(fd, "") after the fd's number, which `ps -C dm-runc` and `pgrep` miss.
fn keep_name() {
    let Some(arg0) = std::env::args_os().next() else {
        return;
    };
    let base = Path::new(&arg0)
        .file_name()
        .unwrap_or(&arg0)
        .as_encoded_bytes();
    let name = &base[..base.len().min(15)];
    if let Ok(name) = CString::new(name) {
        let _ = nix::sys::prctl::set_name(&name);
    }
}

/// True when the running binary is on a read-only mount or is a write-sealed memfd.
fn is_protected(exe: &File) -> bool {
    fstatvfs(exe).is_ok_and(|s| s.flags().contains(FsFlags::ST_RDONLY))
        || fcntl(exe.as_raw_fd(), FcntlArg::F_GET_SEALS)
            .is_ok_and(|s| SealFlag::from_bits_truncate(s).contains(SealFlag::F_SEAL_WRITE))
}

/// The binary itself, seen through a read-only detached bind mount.
fn read_only_bind() -> nix::Result<OwnedFd> {
    let tree = sys::open_tree_clone(Path::new(SELF_EXE), false)?;
    sys::mount_setattr_readonly(tree.as_fd())?;
    Ok(tree)
}

/// A copy of the binary in a memfd sealed against any change.
fn sealed_copy(exe: &mut File) -> std::io::Result<OwnedFd> {
    let mut copy = File::from(sys::memfd_sealable(c"dm-runc")?);
    std::io::copy(exe, &mut copy)?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(copy.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals))?;
    Ok(copy.into())
}
