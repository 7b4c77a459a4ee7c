//! Entering the rootfs: pivot_root without a temp dir, or MS_MOVE + chroot (`--no-pivot`).

use crate::error::{Result, SysContext};
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, fchdir, pivot_root};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// Makes `rootfs` the process's `/` and detaches the old root.
pub fn enter(rootfs: &Path, no_pivot: bool) -> Result<()> {
    if no_pivot {
        chdir(rootfs).sys(|| format!("chdir {}", rootfs.display()))?;
        mount(
            Some(rootfs),
            "/",
            None::<&str>,
            MsFlags::MS_MOVE,
            None::<&str>,
        )
        .sys(|| "move rootfs to /".into())?;
        nix::unistd::chroot(".").sys(|| "chroot".into())?;
        return chdir("/").sys(|| "chdir /".into());
    }
    let dir = |p: &Path| -> Result<OwnedFd> {
        let fd = open(
            p,
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .sys(|| format!("open {}", p.display()))?;
        // SAFETY: fresh fd from open that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    };
    let old = dir(Path::new("/"))?;
    let new = dir(rootfs)?;
    fchdir(new.as_raw_fd()).sys(|| "fchdir rootfs".into())?;
    // pivot_root(".", ".") stacks the old root on top of the new one; unmounting "." after
    // stepping back into it removes the old root without needing a directory for it.
    pivot_root(".", ".").sys(|| "pivot_root".into())?;
    fchdir(old.as_raw_fd()).sys(|| "fchdir old root".into())?;
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .sys(|| "make old root rslave".into())?;
    umount2(".", MntFlags::MNT_DETACH).sys(|| "unmount old root".into())?;
    chdir("/").sys(|| "chdir /".into())
}
