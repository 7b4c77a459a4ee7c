//! Mounting a snapshot's mounts at a directory (a container's rootfs) and unmounting it.

use dm_snapshotter::Mount;
use nix::mount::{mount as sys_mount, umount2, MntFlags, MsFlags};
use std::path::{Path, PathBuf};

/// A mount that failed.
#[derive(Debug, thiserror::Error)]
#[error("{op} {target}: {source}")]
pub struct MountError {
    /// mount or unmount.
    pub op: &'static str,
    /// The directory.
    pub target: PathBuf,
    /// The OS error.
    pub source: nix::Error,
}

/// The kernel copies at most one page of mount(2)'s data; longer overlay options (an image
/// of ~90 layers or more) take the relative-path route of [`crate::deepmount`].
const PAGE_LIMIT: usize = 4096;

/// Mounts `mounts` (as a snapshotter returns them: one bind or overlay) at `target`.
pub fn mount(mounts: &[Mount], target: &Path) -> Result<(), MountError> {
    let err = |source| MountError {
        op: "mount",
        target: target.to_owned(),
        source,
    };
    for m in mounts {
        if m.kind == "bind" {
            sys_mount(
                Some(m.source.as_str()),
                target,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(err)?;
            if m.options.iter().any(|o| o == "ro") {
                let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
                sys_mount(None::<&str>, target, None::<&str>, flags, None::<&str>).map_err(err)?;
            }
        } else {
            let data = m.options.join(",");
            if data.len() < PAGE_LIMIT || m.kind != "overlay" {
                sys_mount(
                    Some(m.source.as_str()),
                    target,
                    Some(m.kind.as_str()),
                    MsFlags::empty(),
                    Some(data.as_str()),
                )
                .map_err(err)?;
            } else {
                crate::deepmount::mount_overlay(&m.options, target).map_err(err)?;
            }
        }
    }
    Ok(())
}

/// Unmounts `target` (lazily if busy, so a stuck user cannot pin the snapshot forever).
pub fn unmount(target: &Path) -> Result<(), MountError> {
    umount2(target, MntFlags::empty())
        .or_else(|e| {
            if e == nix::errno::Errno::EBUSY {
                umount2(target, MntFlags::MNT_DETACH)
            } else {
                Err(e)
            }
        })
        .map_err(|source| MountError {
            op: "unmount",
            target: target.to_owned(),
            source,
        })
}
