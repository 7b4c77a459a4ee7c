//! cgroup v1 and v2 drivers: placement, resources, freezer, stats, OOM events.
//!
//! CONTRACT used by dm-runc and the shim (task metrics through `Cgroup::of_pid`); every call is
//! synchronous and starts no thread, so single-threaded dm-runc can use all of it:
//! - `Cgroup::new(cgroups_path, id)` resolves `linux.cgroupsPath` for every hierarchy without
//!   creating anything: absolute = from each hierarchy's root; relative = under the caller's
//!   own cgroup (/proc/self/cgroup); empty = `<own cgroup>/<id>`. `slice:prefix:name` is
//!   rejected there; `Cgroup::systemd` takes it (the systemd driver, see [`driver`]). On hybrid hosts the cgroup2 mount (e.g. /sys/fs/cgroup/unified) gets a
//!   directory too, as runc 1.1 does.
//! - `create` makes the directories (remembering which it made in `created`), `add_task` moves
//!   a pid in everywhere, `clone_into_dir` gives the CLONE_INTO_CGROUP target on unified hosts,
//!   `pids` lists every process, `destroy` removes only what `create` made (deepest first,
//!   retrying while busy).
//! - `Cgroup::validate(&LinuxResources)` checks values before any cgroup exists; `check` adds
//!   what this host's driver and controllers support; `apply` runs `check`, then writes
//!   (create and update). Nothing is written when a check fails. Errors name the field:
//!   `linux.resources.memory.limit: ...`.
//! - `freeze`/`thaw`/`is_frozen` (pause/resume), `kill_all(signal)` (kill --all, delete
//!   --force), `stats()` (runc's `events --stats` data), `oom_watcher()` (a pollable fd plus a
//!   non-blocking `check()` counting OOM kills), `hierarchies()` (mount name + host dir per
//!   hierarchy for the container's /sys/fs/cgroup; "" = cgroup2).
//! - `Cgroup` is serde-serializable: dm-runc stores it in its state.json and reloads it for
//!   kill/delete/pause/ps/update/events.
//!
//! - The driver ([`DriverKind`], stored with the cgroup) decides how `create`, `place_init`,
//!   `apply` and `destroy` happen: cgroupfs writes the tree itself; systemd asks for a transient
//!   scope over D-Bus (a blocking, thread-free client in `driver::systemd::dbus`).
//!
//! Layout: `host` detects mounts and mode, `placement` resolves paths, `validate` checks
//! resources, `v1`/`v2` are the drivers, `sys` holds every file operation and system call
//! (behind [`sys::CgroupFs`] so drivers run against a fake tree in tests).

#![warn(missing_docs)]

mod cgroup;
pub mod devices;
pub mod driver;
mod error;
pub mod host;
mod oom;
pub mod placement;
pub mod stats;
pub mod sys;
pub mod v1;
pub mod v2;
mod validate;
mod write;

pub use cgroup::{Cgroup, V2_MARKER};
pub use driver::DriverKind;
pub use error::{Error, Result};
pub use host::{Host, Mode};
pub use oom::OomWatcher;
pub use stats::Stats;
pub use v1::V1Dir;
pub use validate::{validate, Driver};

/// Drivers exposed for tests against a fake tree: apply `res` to a v2 directory through `fs`
/// (no eBPF device program).
pub fn apply_v2_with(
    fs: &dyn sys::CgroupFs,
    dir: &std::path::Path,
    res: &oci_spec::runtime::LinuxResources,
) -> Result<()> {
    validate::validate(res, Some(Driver::V2), None)?;
    v2::apply(fs, dir, res, false)
}

/// As [`apply_v2_with`] for the v1 driver over `dirs`.
pub fn apply_v1_with(
    fs: &dyn sys::CgroupFs,
    dirs: &[V1Dir],
    res: &oci_spec::runtime::LinuxResources,
) -> Result<()> {
    let ctrls: Vec<String> = dirs.iter().flat_map(|d| d.controllers.clone()).collect();
    validate::validate(res, Some(Driver::V1), Some(&ctrls))?;
    v1::precheck(fs, dirs, res)?;
    v1::apply(fs, dirs, res)
}
