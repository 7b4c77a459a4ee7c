//! `dm-bench --family registry --smoke` end to end: both registries get every figure, and the
//! run's cleanup check finds nothing left.

mod common;
use common::{clean_report, measured};

const SIDES: &[&str] = &["docker-registry (distribution)", "dm-registry"];

#[test]
fn registry_smoke_reports_every_row_for_both_registries() {
    if !dm_testkit::require_root("registry smoke run")
        || !dm_testkit::require_cmd("skopeo")
        || !dm_testkit::require_cmd("docker-registry")
    {
        return;
    }
    // The family runs the workspace's dm-registry; fail with the build hint if missing.
    dm_testkit::workspace_bin("dm-registry");
    let report = clean_report(&[
        "--smoke", "--json", "--only", "runc", "--family", "registry",
    ]);
    for scenario in [
        "push-4MB",
        "pull-4MB",
        "manifest-get-p99-50-concurrent",
        "idle-rss",
    ] {
        for name in SIDES {
            measured(&report, scenario, name);
        }
    }
}
