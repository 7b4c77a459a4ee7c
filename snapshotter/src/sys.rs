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
