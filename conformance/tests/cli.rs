//! The dm-conformance command line: filtering, TAP output, summary line, exit status, report.

use dm_testkit::{output, require_cmd, require_root, which, workspace_bin, TempDir};
use std::process::Command;

fn dm_conformance(args: &[&str]) -> dm_testkit::Output {
    let mut c = Command::new(workspace_bin("dm-conformance"));
    c.args(args);
    output(c)
}

#[test]
fn filtered_tap_run_against_runc_prints_plan_and_summary_and_writes_the_report() {
    if !require_root("filtered_tap_run_against_runc") || !require_cmd("runc") {
        return;
    }
    let runc = which("runc").unwrap();
    let dir = TempDir::new("dmc-cli");
    let report = dir.path().join("RESULTS.md");
    let o = dm_conformance(&[
        "--runtime",
        runc.to_str().unwrap(),
        "--filter",
        "uts/hostname",
        "--tap",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"TAP version 13"), "{o:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ok 1 - uts/hostname [MUST config.md#hostname]")),
        "{o:?}"
    );
    assert!(lines.contains(&"1..1"), "{o:?}");
    assert_eq!(
        lines.last(),
        Some(&"1 passed, 0 failed, 0 skipped"),
        "{o:?}"
    );
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(
        text.contains("| `uts/hostname` | MUST | config.md#hostname | pass |"),
        "{text}"
    );
    assert!(text.contains("- Runtime `runc`: runc version"), "{text}");
}

#[test]
fn a_runtime_that_fails_everything_makes_the_run_fail() {
    if !require_root("a_runtime_that_fails_everything") {
        return;
    }
    let o = dm_conformance(&["--runtime", "/bin/false", "--filter", "uts/hostname"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.starts_with("FAIL uts/hostname "), "{o:?}");
    assert_eq!(
        o.stdout.lines().last(),
        Some("0 passed, 1 failed, 0 skipped"),
        "{o:?}"
    );
}

#[test]
fn a_missing_runtime_is_named_in_the_error() {
    let o = dm_conformance(&["--runtime", "/no/such/runtime"]);
    assert_ne!(o.code, 0);
    assert!(
        o.stderr
            .contains("--runtime /no/such/runtime: no such file"),
        "{o:?}"
    );
}
