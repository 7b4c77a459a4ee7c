//! `dm-bench --family build --smoke` end to end: every row gets a figure from dm-build and
//! buildah, and the run's cleanup check finds nothing left.

mod common;
use common::{clean_report, measured};

#[test]
fn build_smoke_reports_every_row_and_leaves_nothing_behind() {
    if !dm_testkit::require_root("build smoke run")
        || !["buildah", "runc"]
            .iter()
            .all(|c| dm_testkit::require_cmd(c))
    {
        return;
    }
    for bin in ["dm-build", "dm-image", "dm-runc"] {
        dm_testkit::workspace_bin(bin);
    }
    let report = clean_report(&["--smoke", "--json", "--only", "runc", "--family", "build"]);
    for scenario in [
        "build-cold-multistage",
        "rebuild-unchanged",
        "rebuild-one-file",
    ] {
        for name in ["buildah bud (overlay, runc)", "dm-build"] {
            measured(&report, scenario, name);
        }
    }
}
