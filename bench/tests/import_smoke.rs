//! `dm-bench --family import --smoke` end to end: every import row gets a figure from both
//! sides, and the run's cleanup check finds nothing left.

mod common;
use common::{clean_report, measured, row};

/// (scenario, implementations) the family must report.
const ROWS: &[(&str, &[&str])] = &[
    (
        "layer-apply-tar",
        &["tar -x (GNU tar)", "dm-snapshotter apply_layer"],
    ),
    (
        "layer-apply-tar.gz",
        &["tar -x (GNU tar)", "dm-snapshotter apply_layer"],
    ),
    (
        "snapshot-prepare-commit-library",
        &["dm-snapshotter (library)"],
    ),
    ("ctr-import-1x4MB", SIDES),
    ("ctr-import-20-layers-4MB", SIDES),
    ("ctr-import-1x4MB-no-unpack", SIDES),
    ("ctr-import-20-layers-4MB-no-unpack", SIDES),
    ("snapshot-prepare-commit-ctr", SIDES),
];

const SIDES: &[&str] = &[
    "containerd built-in (content + overlayfs)",
    "dockermind proxies (dm-content + dm-snapshotter)",
];

/// The same imports on containerd 1.7 (our side with dm-snapshotter's diff API).
const ROWS_1_7: &[&str] = &[
    "ctr-import-1x4MB-containerd1.7",
    "ctr-import-20-layers-4MB-containerd1.7",
    "ctr-import-1x4MB-containerd1.7-no-unpack",
    "ctr-import-20-layers-4MB-containerd1.7-no-unpack",
];

const SIDES_1_7: &[&str] = &[
    "containerd 1.7 built-in (content + overlayfs + walking differ)",
    "dockermind proxies on containerd 1.7 (dm-content + dm-snapshotter + its diff)",
];

#[test]
fn import_smoke_reports_every_row_and_leaves_nothing_behind() {
    if !dm_testkit::require_root("import smoke run")
        || !dm_testkit::require_cmd("containerd")
        || !dm_testkit::require_cmd("ctr")
    {
        return;
    }
    // The family runs the workspace's proxy binaries; fail with the build hint if missing.
    dm_testkit::workspace_bin("dm-content");
    dm_testkit::workspace_bin("dm-snapshotter");
    let report = clean_report(&["--smoke", "--json", "--only", "runc", "--family", "import"]);
    for (scenario, names) in ROWS {
        for name in *names {
            measured(&report, scenario, name);
        }
    }
    if dm_integration::ContainerdVersion::V1_7.require("import smoke run, containerd 1.7 rows") {
        for scenario in ROWS_1_7 {
            for name in SIDES_1_7 {
                measured(&report, scenario, name);
            }
        }
    }
    // CPU time is counted in clock ticks: a 4 MB import may take none on one side.
    for scenario in ["ctr-import-1x4MB-cpu", "ctr-import-1x4MB-containerd-cpu"] {
        for name in SIDES {
            let row = row(&report, scenario, name);
            assert!(
                row.median.is_some_and(|m| m >= 0.0),
                "{scenario} / {name}: {row:?}"
            );
        }
    }
}
