//! A container without a mount namespace of its own shares the caller's (config-linux.md: an
//! unlisted namespace is inherited). Its mounts then land in the caller's tree, so dm-runc
//! builds them on a private bind of the rootfs that it makes before the clone and detaches,
//! with everything mounted on it, when the container is deleted or its create fails. The
//! caller's own mounts, `/` and the rootfs's parent keep their propagation (runc makes the
//! caller's `/` rslave instead); the init enters the rootfs with chroot, since pivot_root or
//! MS_MOVE would move the caller's root.

use crate::error::{Error, IoContext, Result, SysContext};
use nix::fcntl::OFlag;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// Binds `rootfs` onto itself, private so that nothing mounted on it reaches the caller's
/// peers; returns the bind's mount id (what [`release`] checks before detaching).
pub fn bind_rootfs(rootfs: &Path) -> Result<u64> {
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .sys(|| format!("bind rootfs {}", rootfs.display()))?;
    let made = mount(
        None::<&str>,
        rootfs,
        None::<&str>,
        MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        None::<&str>,
    )
    .sys(|| format!("make the rootfs bind {} private", rootfs.display()))
    .and_then(|()| mount_id(rootfs));
    if made.is_err() {
        let _ = umount2(rootfs, MntFlags::MNT_DETACH);
    }
    made
}

/// Detaches the rootfs bind (and every mount made on it) if it is still the top mount there.
pub fn release(rootfs: &Path, id: u64) -> Result<()> {
    match mount_id(rootfs) {
        Ok(top) if top == id => umount2(rootfs, MntFlags::MNT_DETACH)
            .sys(|| format!("detach the rootfs bind {}", rootfs.display())),
        _ => Ok(()),
    }
}

/// The id of the mount `p` resolves to (the top one at `p`), from /proc/self/fdinfo.
fn mount_id(p: &Path) -> Result<u64> {
    let fd = nix::fcntl::open(
        p,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .sys(|| format!("open {}", p.display()))?;
    // SAFETY: fresh fd from open, owned here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let fdinfo = format!("/proc/self/fdinfo/{}", fd.as_raw_fd());
    let info = std::fs::read_to_string(&fdinfo).io("read", &fdinfo)?;
    info.lines()
        .find_map(|l| l.strip_prefix("mnt_id:")?.trim().parse().ok())
        .ok_or_else(|| Error::State(format!("{fdinfo}: no mnt_id for {}", p.display())))
}

/// Makes `rootfs` the process's root without touching the mount tree.
pub fn enter(rootfs: &Path) -> Result<()> {
    nix::unistd::chdir(rootfs).sys(|| format!("chdir {}", rootfs.display()))?;
    nix::unistd::chroot(".").sys(|| "chroot".into())?;
    nix::unistd::chdir("/").sys(|| "chdir /".into())
}
