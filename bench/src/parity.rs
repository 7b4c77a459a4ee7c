//! Checks that a runtime does the same work as the others before its times are compared:
//! a created container must sit in a cgroup of its own in every hierarchy.

use crate::bundle::{BenchDir, Variant};
use crate::driver::Driver;
use crate::scenario::Ids;

/// Creates one sleeper container, reads its cgroup membership and deletes it again.
/// Returns a remark when the container's cgroups are not named after its id (a runtime that
/// skips cgroup setup would look faster than it is).
pub fn cgroup_remark(d: &Driver, dir: &BenchDir, ids: &Ids) -> Option<String> {
    let id = ids.next();
    let pid_file = dir.path().join(format!("{id}.pid"));
    let bundle = dir.bundle(Variant::Sleeper);
    let created = d.call(&[
        "create",
        "--bundle",
        bundle.to_str().unwrap_or_default(),
        "--pid-file",
        pid_file.to_str().unwrap_or_default(),
        &id,
    ]);
    let remark = match created {
        Err(e) => Some(format!(
            "{}: cgroup check could not create a container: {e}",
            d.rt.name
        )),
        Ok(_) => {
            let pid = std::fs::read_to_string(&pid_file).unwrap_or_default();
            let text =
                std::fs::read_to_string(format!("/proc/{}/cgroup", pid.trim())).unwrap_or_default();
            let missing: Vec<String> = text
                .lines()
                .filter_map(|l| {
                    let mut f = l.splitn(3, ':');
                    let (_, ctrl, path) = (f.next()?, f.next()?, f.next()?);
                    // The v2 line ("0::/") is hidden by the tmpfs cover in the v1 view.
                    (!ctrl.is_empty() && !path.contains(&id)).then(|| ctrl.to_owned())
                })
                .collect();
            (!missing.is_empty()).then(|| {
                format!(
                    "{}: the container got no cgroup of its own in {} (its figures leave out \
                     the cgroup work the others do)",
                    d.rt.name,
                    missing.join(", ")
                )
            })
        }
    };
    d.call_quietly(&["delete", "--force", &id]);
    let _ = std::fs::remove_file(&pid_file);
    remark
}
