//! Syscall wrappers for the snapshot side: overlay mounts and filesystem identification.

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::Path;

/// Mounts overlay with `options` on `target`.
pub fn mount_overlay(options: &str, target: &Path) -> nix::Result<()> {
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(options),
    )
}

/// Unmounts `target`, detaching lazily if it is busy.
pub fn unmount(target: &Path) -> nix::Result<()> {
    umount2(target, MntFlags::empty()).or_else(|_| umount2(target, MntFlags::MNT_DETACH))
}

/// A readable name for the filesystem holding `path` (for error messages).
pub fn fs_type_name(path: &Path) -> String {
    use nix::sys::statfs::{statfs, OVERLAYFS_SUPER_MAGIC, PROC_SUPER_MAGIC, TMPFS_MAGIC};
    match statfs(path) {
        Ok(s) => match s.filesystem_type() {
            OVERLAYFS_SUPER_MAGIC => "overlay".into(),
            TMPFS_MAGIC => "tmpfs".into(),
            PROC_SUPER_MAGIC => "proc".into(),
            t => format!("type {:#x}", t.0),
        },
        Err(e) => format!("unknown: {e}"),
    }
}

/// True when the kernel's overlay takes the `index=` option (so we can turn it off, as
/// containerd does, to let many snapshots share lower dirs).
pub fn overlay_has_index_option() -> bool {
    Path::new("/sys/module/overlay/parameters/index").exists()
}

// --- layer application: everything works relative to directory fds, never by host path. ---

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{Gid, Uid};
use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// Opens directory `rel` below `dir`; resolution (symlinks included) must stay beneath `dir`,
/// else EXDEV.
pub fn open_dir_beneath(dir: BorrowedFd, rel: &OsStr) -> nix::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = openat2(dir.as_raw_fd(), rel, how)?;
    // SAFETY: openat2 returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the host directory `path` as the root of a layer application.
pub fn open_dir(path: &Path) -> nix::Result<OwnedFd> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: open returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Creates regular file `name` in `dir` (never following or reusing an existing node).
pub fn create_file(dir: BorrowedFd, name: &OsStr) -> nix::Result<std::fs::File> {
    let fd = nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )?;
    // SAFETY: openat returned a fresh descriptor that nothing else owns.
    Ok(unsafe { std::fs::File::from_raw_fd(fd) })
}

/// Opens existing directory `name` in `dir` without following a symlink.
pub fn open_child_dir(dir: BorrowedFd, name: &OsStr) -> nix::Result<OwnedFd> {
    let fd = nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        name,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: openat returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// mkdirat.
pub fn mkdir_at(dir: BorrowedFd, name: &OsStr, mode: u32) -> nix::Result<()> {
    nix::sys::stat::mkdirat(Some(dir.as_raw_fd()), name, Mode::from_bits_truncate(mode))
}

/// The file type of `name` in `dir` (not following symlinks), or None if absent.
pub fn lstat_at(dir: BorrowedFd, name: &OsStr) -> nix::Result<Option<SFlag>> {
    match nix::sys::stat::fstatat(
        Some(dir.as_raw_fd()),
        name,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    ) {
        Ok(st) => Ok(Some(SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT))),
        Err(nix::errno::Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes non-directory `name` from `dir`.
pub fn unlink_at(dir: BorrowedFd, name: &OsStr) -> nix::Result<()> {
    nix::unistd::unlinkat(
        Some(dir.as_raw_fd()),
        name,
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    )
}

/// Removes directory `name` in `dir` with everything below it, never following symlinks.
pub fn remove_tree_at(dir: BorrowedFd, name: &OsStr) -> std::io::Result<()> {
    // std's remove_dir_all opens each level with O_NOFOLLOW relative to its parent, so a path
    // through our own fd link is as safe as the fd itself.
    let p = Path::new("/proc/self/fd")
        .join(dir.as_raw_fd().to_string())
        .join(name);
    std::fs::remove_dir_all(p)
}

/// mknodat for char/block devices and fifos.
pub fn mknod_at(
    dir: BorrowedFd,
    name: &OsStr,
    kind: SFlag,
    mode: u32,
    major: u64,
    minor: u64,
) -> nix::Result<()> {
    let dev = nix::sys::stat::makedev(major, minor);
    nix::sys::stat::mknodat(
        Some(dir.as_raw_fd()),
        name,
        kind,
        Mode::from_bits_truncate(mode),
        dev,
    )
}

/// symlinkat.
pub fn symlink_at(target: &OsStr, dir: BorrowedFd, name: &OsStr) -> nix::Result<()> {
    nix::unistd::symlinkat(target, Some(dir.as_raw_fd()), name)
}

/// Hard-links `old_name` in `old_dir` as `name` in `dir`; a symlink is linked, not followed.
pub fn link_at(
    old_dir: BorrowedFd,
    old_name: &OsStr,
    dir: BorrowedFd,
    name: &OsStr,
) -> nix::Result<()> {
    nix::unistd::linkat(
        Some(old_dir.as_raw_fd()),
        old_name,
        Some(dir.as_raw_fd()),
        name,
        nix::fcntl::AtFlags::empty(),
    )
}

/// lchown of `name` in `dir`.
pub fn chown_at(dir: BorrowedFd, name: &OsStr, uid: u32, gid: u32) -> nix::Result<()> {
    nix::unistd::fchownat(
        Some(dir.as_raw_fd()),
        name,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
}

/// chmod of `name` in `dir` (never a symlink: Linux has no lchmod).
pub fn chmod_at(dir: BorrowedFd, name: &OsStr, mode: u32) -> nix::Result<()> {
    nix::sys::stat::fchmodat(
        Some(dir.as_raw_fd()),
        name,
        Mode::from_bits_truncate(mode),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
}

/// Sets atime and mtime of `name` in `dir`, not following a symlink.
pub fn set_times_at(dir: BorrowedFd, name: &OsStr, secs: i64) -> nix::Result<()> {
    let t = nix::sys::time::TimeSpec::new(secs, 0);
    nix::sys::stat::utimensat(
        Some(dir.as_raw_fd()),
        name,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
}

/// Sets xattr `key` on `name` in `dir` without following a symlink.
pub fn set_xattr_at(dir: BorrowedFd, name: &OsStr, key: &[u8], value: &[u8]) -> nix::Result<()> {
    let path = Path::new("/proc/self/fd")
        .join(dir.as_raw_fd().to_string())
        .join(name);
    let path = CString::new(path.as_os_str().as_bytes()).map_err(|_| nix::errno::Errno::EINVAL)?;
    let key = CString::new(key).map_err(|_| nix::errno::Errno::EINVAL)?;
    // SAFETY: both strings are NUL-terminated and outlive the call; value's pointer and length
    // describe a live slice.
    let r = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    nix::errno::Errno::result(r).map(drop)
}

/// Sets xattr `key` on the open file or directory `fd`.
pub fn set_xattr_fd(fd: BorrowedFd, key: &[u8], value: &[u8]) -> nix::Result<()> {
    let key = CString::new(key).map_err(|_| nix::errno::Errno::EINVAL)?;
    // SAFETY: key is NUL-terminated and outlives the call; value's pointer and length describe
    // a live slice; fd is open for the duration of the borrow.
    let r = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    nix::errno::Errno::result(r).map(drop)
}

/// fchown + fchmod + futimens on an open file or directory.
pub fn set_owner_mode_times_fd(
    fd: BorrowedFd,
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: Option<i64>,
) -> nix::Result<()> {
    nix::unistd::fchown(
        fd.as_raw_fd(),
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
    )?;
    // After chown: chown clears set-id bits, so the mode goes on second.
    nix::sys::stat::fchmod(fd.as_raw_fd(), Mode::from_bits_truncate(mode))?;
    if let Some(secs) = mtime {
        let t = nix::sys::time::TimeSpec::new(secs, 0);
        nix::sys::stat::futimens(fd.as_raw_fd(), &t, &t)?;
    }
    Ok(())
}
