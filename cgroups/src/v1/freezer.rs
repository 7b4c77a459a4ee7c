//! v1 freezer: freezer.state, waiting until the kernel reports FROZEN.

use crate::error::{Error, Result};
use crate::sys::{self, CgroupFs};
use crate::write::{get, put};
use std::path::Path;
use std::time::{Duration, Instant};

const FIELD: &str = "freezer.state";

/// The current state (`THAWED`, `FREEZING`, `FROZEN`).
pub(crate) fn state(fs: &dyn CgroupFs, d: &Path) -> Result<String> {
    get(fs, d, "freezer.state")
}

/// Freezes the cgroup and waits (bounded) until every task is frozen; on timeout it thaws
/// again so the container is not left half-frozen.
pub(crate) fn freeze(fs: &dyn CgroupFs, d: &Path) -> Result<()> {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(10);
    let mut n = 0u32;
    loop {
        // Rewriting FROZEN nudges tasks that were forking or in a vfork wait when the first
        // request came.
        if n == 0 || n >= 20 {
            n = 0;
            put(fs, d, "freezer.state", "FROZEN", FIELD)?;
        }
        if state(fs, d)? == "FROZEN" {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let _ = put(fs, d, "freezer.state", "THAWED", FIELD);
            return Err(Error::Timeout(format!(
                "{}: tasks did not freeze within 10s",
                d.display()
            )));
        }
        n += 1;
        sys::pause(Duration::from_millis(
            if start.elapsed() < Duration::from_millis(10) {
                1
            } else {
                10
            },
        ));
    }
}

/// Thaws the cgroup.
pub(crate) fn thaw(fs: &dyn CgroupFs, d: &Path) -> Result<()> {
    put(fs, d, "freezer.state", "THAWED", FIELD)
}
