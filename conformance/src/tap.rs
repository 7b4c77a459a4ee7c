//! Printing results: TAP 13 lines or plain lines, and the closing summary.

use crate::case::{CaseResult, Outcome};

/// Pass/fail/skip counts of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed.
    pub failed: usize,
    /// Cases that were skipped.
    pub skipped: usize,
}

impl Summary {
    /// Counts the outcomes of `results`.
    pub fn of(results: &[CaseResult]) -> Summary {
        let mut s = Summary::default();
        for r in results {
            match r.outcome {
                Outcome::Pass => s.passed += 1,
                Outcome::Fail(_) => s.failed += 1,
                Outcome::Skip(_) => s.skipped += 1,
            }
        }
        s
    }

    /// The closing line: exactly `N passed, N failed, N skipped`.
    pub fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// The TAP version line printed first.
pub const TAP_HEADER: &str = "TAP version 13";

/// TAP's plan line, printed after the last test point.
pub fn plan_line(count: usize) -> String {
    format!("1..{count}")
}

/// One TAP test point (plus `#` diagnostic lines for failures). `n` counts from 1.
pub fn tap_line(n: usize, r: &CaseResult) -> String {
    let c = &r.case;
    let desc = format!("{} [{} {}] {}", c.id, c.level, c.section, one_line(&c.what));
    match &r.outcome {
        Outcome::Pass => format!("ok {n} - {desc}"),
        Outcome::Skip(why) => format!("ok {n} - {desc} # SKIP {}", one_line(why)),
        Outcome::Fail(why) => {
            let mut s = format!("not ok {n} - {desc}");
            for l in why.lines().filter(|l| !l.trim().is_empty()).take(20) {
                s.push_str("\n  # ");
                s.push_str(l);
            }
            s
        }
    }
}

/// One plain line: `PASS|FAIL|SKIP id [LEVEL section] what: detail`.
pub fn plain_line(r: &CaseResult) -> String {
    let c = &r.case;
    let head = format!("[{} {}] {}", c.level, c.section, one_line(&c.what));
    match &r.outcome {
        Outcome::Pass => format!("PASS {} {head}", c.id),
        Outcome::Skip(why) => format!("SKIP {} {head}: {}", c.id, one_line(why)),
        Outcome::Fail(why) => format!("FAIL {} {head}: {}", c.id, one_line(why)),
    }
}

fn one_line(s: &str) -> String {
    // '#' would start a TAP directive inside a description.
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('#', "no.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{Case, Level};

    fn result(id: &str, outcome: Outcome) -> CaseResult {
        CaseResult {
            case: Case::new(id, "config.md#process", Level::Must, "cwd is /tmp"),
            outcome,
        }
    }

    #[test]
    fn tap_lines_name_section_and_level() {
        assert_eq!(
            tap_line(1, &result("p/process.cwd", Outcome::Pass)),
            "ok 1 - p/process.cwd [MUST config.md#process] cwd is /tmp"
        );
        assert_eq!(
            tap_line(2, &result("p/x", Outcome::Skip("no  apparmor".into()))),
            "ok 2 - p/x [MUST config.md#process] cwd is /tmp # SKIP no apparmor"
        );
        assert_eq!(
            tap_line(
                3,
                &result("p/x", Outcome::Fail("got \"/\"\nwant #1".into()))
            ),
            "not ok 3 - p/x [MUST config.md#process] cwd is /tmp\n  # got \"/\"\n  # want #1"
        );
    }

    #[test]
    fn descriptions_cannot_inject_tap_directives() {
        let mut r = result("p/x", Outcome::Pass);
        r.case.what = "mode # SKIP".into();
        assert_eq!(
            tap_line(1, &r),
            "ok 1 - p/x [MUST config.md#process] mode no. SKIP"
        );
    }

    #[test]
    fn plain_lines_start_with_the_verdict() {
        assert_eq!(
            plain_line(&result("p/x", Outcome::Fail("got 1\nwant 2".into()))),
            "FAIL p/x [MUST config.md#process] cwd is /tmp: got 1 want 2"
        );
        assert!(plain_line(&result("p/x", Outcome::Pass)).starts_with("PASS p/x "));
    }

    #[test]
    fn summary_counts_each_outcome() {
        let rs = vec![
            result("a", Outcome::Pass),
            result("b", Outcome::Pass),
            result("c", Outcome::Fail("x".into())),
            result("d", Outcome::Skip("y".into())),
        ];
        let s = Summary::of(&rs);
        assert_eq!(
            s,
            Summary {
                passed: 2,
                failed: 1,
                skipped: 1
            }
        );
        assert_eq!(s.line(), "2 passed, 1 failed, 1 skipped");
        assert_eq!(Summary::default().line(), "0 passed, 0 failed, 0 skipped");
        assert_eq!(plan_line(4), "1..4");
    }
}
