//! `dm-bench --smoke` end to end: one round of every scenario for dm-runc, crun and runc.

mod common;
use common::clean_report;
use std::process::Command;

const SCENARIOS: &[&str] = &[
    "create-start-delete",
    "run",
    "exec",
    "seccomp-create-start-delete",
    "seccomp-overhead",
    "parallel-2way",
    "parallel-8way",
    "peak-rss-create-start-delete",
    "peak-rss-run",
    "binary-size",
];

#[test]
fn smoke_run_has_a_row_per_runtime_and_scenario_and_leaves_nothing_behind() {
    if !dm_testkit::require_root("smoke run") || !dm_testkit::require_cmd("runc") {
        return;
    }
    if !dm_testkit::require_cmd("crun") {
        return;
    }
    let dm_runc = dm_testkit::workspace_bin("dm-runc");
    let report = clean_report(&[
        "--smoke",
        "--json",
        "--only",
        "dm-runc,crun,runc",
        "--dm-runc",
        dm_runc.to_str().unwrap(),
    ]);
    assert!(report.cleanup.rounds_checked >= SCENARIOS.len() - 3);
    assert!(report.cgroup.runtimes_see.contains("v1") || report.cgroup.host.contains("v2"));
    for rt in ["dm-runc", "crun", "runc"] {
        for sc in SCENARIOS {
            let row = report
                .rows
                .iter()
                .find(|r| r.runtime == rt && r.scenario == *sc)
                .unwrap_or_else(|| panic!("no row for {rt} / {sc}"));
            match &row.error {
                // runc and crun support everything the harness asks: a failure there is a
                // harness bug. dm-runc may still refuse a feature, but only by exiting non-zero.
                None => assert!(row.median.is_some_and(|m| m > 0.0), "{rt}/{sc}: {row:?}"),
                Some(e) if rt == "dm-runc" && *sc != "create-start-delete" => {
                    assert!(e.contains("exited with"), "{rt}/{sc}: {e}")
                }
                Some(e) => panic!("{rt}/{sc} failed: {e}"),
            }
        }
    }
    let csd = |rt: &str| {
        report
            .rows
            .iter()
            .find(|r| r.runtime == rt && r.scenario == "create-start-delete")
            .unwrap()
            .clone()
    };
    assert_eq!(csd("crun").vs_crun, Some(1.0));
    assert!(csd("dm-runc").vs_crun.is_some() && csd("dm-runc").vs_runc.is_some());
    // The overhead is a ratio of two same-round times: positive and finite, no vs columns,
    // and its note says how to read it.
    for rt in ["crun", "runc"] {
        let row = report
            .rows
            .iter()
            .find(|r| r.runtime == rt && r.scenario == "seccomp-overhead")
            .unwrap();
        let m = row.median.unwrap();
        assert!(m.is_finite() && m > 0.0, "{row:?}");
        assert_eq!((row.unit.as_str(), row.rounds), ("ratio", 1), "{row:?}");
        assert_eq!((row.vs_crun, row.vs_runc), (None, None), "{row:?}");
    }
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.starts_with("seccomp-overhead rows:")),
        "{:?}",
        report.notes
    );
}

#[test]
fn seccomp_alone_still_measures_its_overhead_against_the_plain_lifecycle() {
    if !dm_testkit::require_root("seccomp-only run") || !dm_testkit::require_cmd("runc") {
        return;
    }
    let report = clean_report(&[
        "--json",
        "--rounds",
        "2",
        "--warmup",
        "0",
        "--scenarios",
        "seccomp",
        "--only",
        "runc",
    ]);
    let scenarios: Vec<&str> = report
        .rows
        .iter()
        .filter(|r| r.runtime == "runc")
        .map(|r| r.scenario.as_str())
        .collect();
    // Scenario 1 runs as the baseline but was not asked for, so it gets no row.
    assert_eq!(
        scenarios,
        [
            "seccomp-create-start-delete",
            "seccomp-overhead",
            "binary-size"
        ]
    );
    let row = &report.rows[1];
    assert!(row.error.is_none(), "{row:?}");
    assert_eq!(row.rounds, 2, "{row:?}");
    let (lo, mid, hi) = (row.min.unwrap(), row.median.unwrap(), row.max.unwrap());
    assert!(
        lo.is_finite() && lo > 0.0 && lo <= mid && mid <= hi,
        "{row:?}"
    );
}

#[test]
fn bad_arguments_are_refused_with_the_argument_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_dm-bench"))
        .args(["--scenarios", "7"])
        .output()
        .expect("run dm-bench");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--scenarios"));
    let out = Command::new(env!("CARGO_BIN_EXE_dm-bench"))
        .args(["--runtime", "youki"])
        .output()
        .expect("run dm-bench");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NAME=PATH"));
}

#[test]
fn smoke_run_of_the_shim_memory_family() {
    if !dm_testkit::require_root("shim-memory smoke run") || !dm_testkit::require_cmd("containerd")
    {
        return;
    }
    if !dm_testkit::require_cmd("runc") {
        return;
    }
    // The import family has its own smoke test (import_smoke.rs).
    let report = clean_report(&[
        "--smoke",
        "--json",
        "--only",
        "runc",
        "--family",
        "shim-memory",
    ]);
    // Smoke mode measures one container per shim.
    for sc in ["shim-rss-per-container@1", "shim-pss-per-container@1"] {
        let row = report
            .rows
            .iter()
            .find(|r| r.runtime == "runc-v2 (Go)" && r.scenario == sc)
            .unwrap_or_else(|| panic!("no {sc} row: {:#?}", report.rows));
        assert!(row.error.is_none(), "{row:?}");
        // A Go shim maps well over a megabyte; PSS never exceeds RSS.
        assert!(row.median.is_some_and(|m| m > 1.0), "{row:?}");
    }
    let rss = report
        .rows
        .iter()
        .find(|r| r.scenario == "shim-rss-per-container@1")
        .unwrap();
    let pss = report
        .rows
        .iter()
        .find(|r| r.scenario == "shim-pss-per-container@1")
        .unwrap();
    assert!(pss.median <= rss.median);
}
