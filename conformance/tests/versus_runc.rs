//! CI gate: dm-runc must pass every conformance case runc passes on this machine.

use dm_conformance::case::{CaseResult, Outcome};
use dm_conformance::runtime::Runtime;
use dm_conformance::suite;
use dm_testkit::{require_cmd, require_root, which, workspace_bin};
use std::collections::HashMap;

fn run(runtime: std::path::PathBuf) -> Vec<CaseResult> {
    let rt = Runtime::new(&runtime, &workspace_bin("dm-conformance-checker"));
    suite::run(&rt, None, &mut |_| {})
        .unwrap_or_else(|e| panic!("suite against {}: {e}", runtime.display()))
}

#[test]
fn dm_runc_passes_every_case_runc_passes() {
    if !require_root("dm_runc_passes_every_case_runc_passes") || !require_cmd("runc") {
        return;
    }
    let runc = which("runc").expect("require_cmd found it");
    let dm_runc = workspace_bin("dm-runc");
    // Unique ids and private roots make the two runs independent; run them side by side.
    let theirs = std::thread::spawn(move || run(runc));
    let ours = run(dm_runc);
    let theirs = theirs.join().expect("runc run panicked");

    let runc_passed = theirs.iter().filter(|r| r.outcome == Outcome::Pass).count();
    assert!(
        runc_passed >= 150,
        "runc passed only {runc_passed} cases: the suite itself is broken here"
    );
    let ours: HashMap<&str, &Outcome> = ours
        .iter()
        .map(|r| (r.case.id.as_str(), &r.outcome))
        .collect();
    let regressions: Vec<String> = theirs
        .iter()
        .filter(|r| r.outcome == Outcome::Pass)
        .filter_map(|r| match ours.get(r.case.id.as_str()) {
            Some(Outcome::Pass) => None,
            Some(Outcome::Fail(why)) => Some(format!(
                "{} [{} {}]: {why}",
                r.case.id, r.case.level, r.case.section
            )),
            Some(Outcome::Skip(why)) => Some(format!("{}: skipped ({why})", r.case.id)),
            None => Some(format!("{}: no result", r.case.id)),
        })
        .collect();
    assert!(
        regressions.is_empty(),
        "{} cases runc passes fail with dm-runc:\n{}",
        regressions.len(),
        regressions.join("\n")
    );
}
