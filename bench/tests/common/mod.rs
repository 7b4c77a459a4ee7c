//! Runs dm-bench with `--json` and checks what every run must leave: nothing.
// Each test binary uses part of this module.
#![allow(dead_code)]

use dm_bench::report::{Report, Row};
use std::process::Command;

/// Runs dm-bench with `args`, parses its JSON report and asserts its cleanup check found no
/// leftovers.
pub fn clean_report(args: &[&str]) -> Report {
    let out = Command::new(env!("CARGO_BIN_EXE_dm-bench"))
        .args(args)
        .output()
        .expect("run dm-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON report: {e}\nstderr: {stderr}"));
    assert!(
        report.cleanup.leftovers.is_empty(),
        "leftovers: {:#?}",
        report.cleanup.leftovers
    );
    report
}

/// The row of `scenario` for `name`; fails naming both (with every row) when it is missing or
/// carries an error.
pub fn row<'a>(report: &'a Report, scenario: &str, name: &str) -> &'a Row {
    let row = report
        .rows
        .iter()
        .find(|r| r.scenario == scenario && r.runtime == name)
        .unwrap_or_else(|| panic!("no row for {scenario} / {name}: {:#?}", report.rows));
    assert!(row.error.is_none(), "{scenario} / {name}: {row:?}");
    row
}

/// As [`row`], and its median is a measured, positive figure.
pub fn measured<'a>(report: &'a Report, scenario: &str, name: &str) -> &'a Row {
    let row = row(report, scenario, name);
    assert!(
        row.median.is_some_and(|m| m > 0.0),
        "{scenario} / {name}: {row:?}"
    );
    row
}
