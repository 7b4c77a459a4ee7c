//! Runs dm-bench with `--json` and checks what every run must leave: nothing.

use dm_bench::report::Report;
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
