//! The seam between a container's cgroup and whoever makes it: cgroupfs (dm-cgroups writes
//! the tree itself) or systemd (a transient scope unit, asked for over D-Bus). One file or
//! folder per driver; [`Cgroup`]'s lifecycle methods dispatch here and nowhere else.

pub mod fs;
pub mod systemd;

use crate::error::Result;
use crate::Cgroup;
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Which driver made a cgroup (kept in dm-runc's state.json with the cgroup).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriverKind {
    /// dm-cgroups makes and removes the directories itself.
    #[default]
    Cgroupfs,
    /// A systemd transient scope.
    Systemd(systemd::Unit),
}

/// What differs between drivers in a cgroup's lifecycle; everything else (freezer, stats,
/// kill, pids) works on the directories whoever made them.
pub(crate) trait Driver {
    /// Makes what must exist before the init is cloned.
    fn create(&self, cg: &mut Cgroup) -> Result<()>;
    /// The cgroup2 directory to clone the init straight into, if the driver allows it.
    fn clone_into_dir(&self, cg: &Cgroup) -> Option<PathBuf>;
    /// Puts the just-cloned init `pid` in place; `res` are the resources it starts with.
    fn place_init(&self, cg: &Cgroup, pid: i32, res: Option<&LinuxResources>) -> Result<()>;
    /// Sets `res` (at create, after the rootfs is built, and for `update`).
    fn apply(&self, cg: &Cgroup, res: &LinuxResources) -> Result<()>;
    /// Removes what `create` and `place_init` made.
    fn destroy(&self, cg: &Cgroup) -> Result<()>;
}

/// The driver for `kind`.
pub(crate) fn of(kind: &DriverKind) -> Box<dyn Driver + '_> {
    match kind {
        DriverKind::Cgroupfs => Box::new(fs::Fs),
        DriverKind::Systemd(u) => Box::new(systemd::Systemd(u)),
    }
}
