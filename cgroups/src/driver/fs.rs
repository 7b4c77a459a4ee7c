//! The cgroupfs driver: dm-cgroups makes, fills and removes the directories itself.

use super::Driver;
use crate::error::Result;
use crate::Cgroup;
use oci_spec::runtime::LinuxResources;
use std::path::PathBuf;

/// The cgroupfs driver.
pub(crate) struct Fs;

impl Driver for Fs {
    fn create(&self, cg: &mut Cgroup) -> Result<()> {
        cg.make_dirs_where(|_| true)
    }

    fn clone_into_dir(&self, cg: &Cgroup) -> Option<PathBuf> {
        if cg.mode == crate::Mode::Unified {
            cg.v2.clone()
        } else {
            None
        }
    }

    fn place_init(&self, cg: &Cgroup, pid: i32, _res: Option<&LinuxResources>) -> Result<()> {
        cg.add_task(pid)
    }

    fn apply(&self, cg: &Cgroup, res: &LinuxResources) -> Result<()> {
        cg.check(res)?;
        cg.write_resources(res)
    }

    fn destroy(&self, cg: &Cgroup) -> Result<()> {
        cg.remove_created()
    }
}
