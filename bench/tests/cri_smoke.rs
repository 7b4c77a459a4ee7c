//! `dm-bench --family cri --smoke` end to end: both runtime handlers start and tear down a pod
//! through containerd's CRI plugin, every row gets a figure, and nothing is left behind.

mod common;
use common::{clean_report, measured};

#[test]
fn cri_smoke_reports_both_handlers_and_leaves_nothing_behind() {
    if !dm_testkit::require_root("cri smoke run")
        || !dm_testkit::require_cmd("containerd")
        || !dm_testkit::require_cmd("ctr")
    {
        return;
    }
    dm_testkit::workspace_bin("containerd-shim-dockermind-v2");
    let report = clean_report(&["--smoke", "--json", "--only", "runc", "--family", "cri"]);
    for scenario in ["cri-pod-start", "cri-pod-teardown"] {
        for name in [
            "runc handler (Go shim + runc)",
            "dockermind handler (our shim + dm-runc)",
        ] {
            let row = measured(&report, scenario, name);
            assert_eq!(row.family, "cri");
        }
    }
    assert!(
        !report.notes.iter().any(|n| n.contains("left behind")),
        "{:?}",
        report.notes
    );
}
