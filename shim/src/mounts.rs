//! The task's rootfs: mounts from the Create request onto `<bundle>/rootfs`, and their removal.

use crate::error::{io, Result};
use containerd_shim::protos::types::mount::Mount;
use std::path::Path;

/// Mounts every entry of `mounts` onto `target` in order (overlay option lists that exceed a
/// page are handled by the containerd-shim helper).
pub fn mount_rootfs(mounts: &[Mount], target: &Path) -> Result<()> {
    std::fs::create_dir_all(target).map_err(io(format!("create {}", target.display())))?;
    for (i, m) in mounts.iter().enumerate() {
        let r = containerd_shim::mount::mount_rootfs(
            Some(m.type_.as_str()),
            Some(m.source.as_str()),
            &m.options,
            target,
        );
        if let Err(e) = r {
            if i > 0 {
                unmount_rootfs(target);
            }
            return Err(e.into());
        }
    }
    Ok(())
}

/// Unmounts everything at or below `target`, best effort.
pub fn unmount_rootfs(target: &Path) {
    if let Some(t) = target.to_str() {
        let _ = containerd_shim::mount::umount_recursive(Some(t), libc::MNT_DETACH);
    }
}
