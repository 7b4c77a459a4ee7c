//! cgroup v1 and v2 drivers: placement, resources, freezer, stats.
//!
//! CONTRACT used by dm-runc (keep these signatures; add more as needed):
//! - `Cgroup::new(cgroups_path, id)` resolves paths without touching the filesystem.
//! - `create` makes the directories (remembering which it made), `add_task` moves a pid in,
//!   `destroy` removes only what `create` made.
//! - `Cgroup` is serde-serializable: dm-runc stores it in its state.json and reloads it for
//!   kill/delete/pause/ps/update/events.
//!
//! PLACEHOLDER: this file is the interface only; the drivers are being written (issue 3).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Errors from cgroup operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory operation failed.
    #[error("cgroup {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Invalid input, naming the field.
    #[error("{0}")]
    Invalid(String),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// A container's cgroup(s) on this host.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Cgroup {
    /// Directories `create` made, deepest last.
    pub created: Vec<PathBuf>,
}

impl Cgroup {
    /// Resolves `linux.cgroupsPath` (absolute, relative or empty) for container `id`.
    pub fn new(_cgroups_path: Option<&Path>, _id: &str) -> Result<Cgroup> {
        Ok(Cgroup::default())
    }
    /// Makes the cgroup directories.
    pub fn create(&mut self) -> Result<()> {
        Ok(())
    }
    /// Moves `pid` into the container's cgroup(s).
    pub fn add_task(&self, _pid: i32) -> Result<()> {
        Ok(())
    }
    /// The pure-v2 directory to clone into (CLONE_INTO_CGROUP), if the host is unified.
    pub fn clone_into_dir(&self) -> Option<PathBuf> {
        None
    }
    /// Every pid in the container's cgroup.
    pub fn pids(&self) -> Result<Vec<i32>> {
        Ok(vec![])
    }
    /// Checks resources without writing anything.
    pub fn validate(_r: &oci_spec::runtime::LinuxResources) -> Result<()> {
        Ok(())
    }
    /// Applies resources.
    pub fn apply(&self, _r: &oci_spec::runtime::LinuxResources) -> Result<()> {
        Ok(())
    }
    /// Freezes every process.
    pub fn freeze(&self) -> Result<()> {
        Err(Error::Invalid("freezer: not implemented yet".into()))
    }
    /// Thaws every process.
    pub fn thaw(&self) -> Result<()> {
        Err(Error::Invalid("freezer: not implemented yet".into()))
    }
    /// Whether the cgroup is frozen.
    pub fn is_frozen(&self) -> Result<bool> {
        Ok(false)
    }
    /// Signals every process.
    pub fn kill_all(&self, _sig: i32) -> Result<()> {
        Ok(())
    }
    /// (mount name, host dir) per hierarchy; "" names a cgroup2 hierarchy.
    pub fn hierarchies(&self) -> Vec<(String, PathBuf)> {
        vec![]
    }
    /// Removes what `create` made.
    pub fn destroy(&self) -> Result<()> {
        Ok(())
    }
}
