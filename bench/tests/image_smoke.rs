//! `dm-bench --family image --smoke` end to end: every row gets a figure from every tool
//! installed, and the run's cleanup check finds nothing left.

mod common;
use common::{clean_report, measured};

const PULLERS: &[&str] = &[
    "ctr image pull (containerd 1.6, overlayfs)",
    "podman pull (overlay)",
    "dm-image pull",
];

#[test]
fn image_smoke_reports_every_row_and_leaves_nothing_behind() {
    let needed = ["containerd", "ctr", "podman", "docker-registry", "skopeo"];
    if !dm_testkit::require_root("image smoke run")
        || !needed.iter().all(|c| dm_testkit::require_cmd(c))
    {
        return;
    }
    dm_testkit::workspace_bin("dm-image");
    let report = clean_report(&["--smoke", "--json", "--only", "runc", "--family", "image"]);
    let rows: Vec<(&str, &[&str])> = vec![
        ("pull-cold-5-layers-4MB", PULLERS),
        ("pull-warm-5-layers-4MB", PULLERS),
        ("pull-peak-rss-5-layers-4MB", &["dm-image pull"]),
        (
            "transfer-5-layers-4MB",
            &["skopeo copy docker:// oci:", "dm-image fetch"],
        ),
        ("pull-cold-1-layers-4MB", &["dm-image pull"]),
        ("pull-cold-10-layers-4MB", &["dm-image pull"]),
        ("pull-cold-50-layers-4MB", &["dm-image pull"]),
    ];
    for (scenario, names) in rows {
        for name in names {
            measured(&report, scenario, name);
        }
    }
}
