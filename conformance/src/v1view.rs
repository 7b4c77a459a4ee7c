//! `--v1-view`: a private mount namespace in which an empty tmpfs covers
//! /sys/fs/cgroup/unified, so runtimes that refuse hybrid cgroup hosts (crun 1.8) see pure v1.

use crate::error::{Error, Result};
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// Moves this process into a mount namespace of its own, with every mount's propagation as it
/// was: mounts still come and go with the host's, but a runtime that changes the propagation
/// of its caller's `/` (runc 1.1 makes it rslave for a container without a mount namespace,
/// scenario `namespaces-none`) changes only this copy. Call before starting any thread.
pub fn own_mount_namespace() -> Result<()> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(|source| Error::Sys {
        what: "unshare(CLONE_NEWNS)",
        source,
    })
}

/// Moves this process into a new mount namespace (mounts made there never reach the host's) and
/// hides the unified hierarchy. Call before starting any thread.
pub fn enter() -> Result<()> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(|source| Error::Sys {
        what: "unshare(CLONE_NEWNS)",
        source,
    })?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(|source| Error::Sys {
        what: "make / rslave",
        source,
    })?;
    if std::path::Path::new(UNIFIED).is_dir() {
        // Not size-limited: crun still writes cgroup.procs for the /proc/self/cgroup `0::` line
        // into directories it makes here, which must succeed as plain files.
        mount(
            Some("tmpfs"),
            UNIFIED,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .map_err(|source| Error::Sys {
            what: "mount tmpfs on /sys/fs/cgroup/unified",
            source,
        })?;
    }
    Ok(())
}
