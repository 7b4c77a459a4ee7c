//! `dm-bench --family daemon --smoke` end to end: dockermind and docker get every figure (and
//! podman its runs when installed), and the run's cleanup check finds nothing left.

mod common;
use common::{clean_report, measured};

#[test]
fn daemon_smoke_reports_every_row() {
    if !dm_testkit::require_root("daemon smoke run")
        || !dm_testkit::require_cmd("skopeo")
        || !dm_testkit::require_cmd("dockerd")
    {
        return;
    }
    // The family runs the workspace's daemon, shim and CLI; fail with the build hint if missing.
    for bin in [
        "dockermindd",
        "containerd-shim-dockermind-v2",
        "dockermind",
        "dm-registry",
    ] {
        dm_testkit::workspace_bin(bin);
    }
    let report = clean_report(&["--smoke", "--json", "--only", "runc", "--family", "daemon"]);
    let mut sides = vec!["docker 20.10 (dockerd)", "dockermind"];
    if dm_testkit::which("podman").is_some() {
        sides.push("podman");
    }
    for scenario in ["run-rm-true", "run-rm-true-20-parallel"] {
        for name in &sides {
            measured(&report, scenario, name);
        }
    }
    for name in ["dockerd", "containerd (dockerd's)", "dockermindd"] {
        measured(&report, "idle-rss", name);
    }
}
