//! v2 freezer (cgroup.freeze, confirmed through cgroup.events) and cgroup.kill.

use crate::error::{Error, Result};
use crate::stats::key_values;
use crate::sys::{self, CgroupFs};
use crate::write::{get, put};
use std::path::Path;
use std::time::{Duration, Instant};

/// True when cgroup.events reports the whole subtree frozen.
pub(crate) fn is_frozen(fs: &dyn CgroupFs, d: &Path) -> Result<bool> {
    let ev = key_values(&get(fs, d, "cgroup.events")?);
    Ok(ev.get("frozen") == Some(&1))
}

/// Freezes and waits (bounded) until the kernel reports the cgroup frozen; on timeout it
/// thaws again so the container is not left half-frozen.
pub(crate) fn freeze(fs: &dyn CgroupFs, d: &Path) -> Result<()> {
    put(fs, d, "cgroup.freeze", "1", "cgroup.freeze")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut n = 0u32;
    while !is_frozen(fs, d)? {
        if Instant::now() >= deadline {
            let _ = put(fs, d, "cgroup.freeze", "0", "cgroup.freeze");
            return Err(Error::Timeout(format!(
                "{}: tasks did not freeze within 10s",
                d.display()
            )));
        }
        n += 1;
        sys::pause(Duration::from_millis(if n < 10 { 1 } else { 10 }));
    }
    Ok(())
}

/// Thaws the cgroup.
pub(crate) fn thaw(fs: &dyn CgroupFs, d: &Path) -> Result<()> {
    put(fs, d, "cgroup.freeze", "0", "cgroup.freeze")
}

/// SIGKILLs every process in the subtree through cgroup.kill; `Ok(false)` when the kernel has
/// no cgroup.kill (before 5.14).
pub(crate) fn kill(fs: &dyn CgroupFs, d: &Path) -> Result<bool> {
    if !fs.exists(&d.join("cgroup.kill")) {
        return Ok(false);
    }
    put(fs, d, "cgroup.kill", "1", "cgroup.kill")?;
    Ok(true)
}
