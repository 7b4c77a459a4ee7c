//! One assertion of the suite: its id, the spec sentence it checks, and its outcome.

use std::fmt;

/// How strongly the spec words the requirement a case checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// An absolute requirement (RFC 2119 MUST / MUST NOT / REQUIRED).
    Must,
    /// A recommendation (RFC 2119 SHOULD / SHOULD NOT).
    Should,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
        })
    }
}

/// What a case is: a stable id (`scenario/check`), where the spec says it, and a short text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// Stable id, `scenario/area.detail`; `--filter` matches a substring of it.
    pub id: String,
    /// The spec document and section, e.g. `config.md#process`.
    pub section: &'static str,
    /// MUST or SHOULD.
    pub level: Level,
    /// What is expected, in a few words.
    pub what: String,
}

impl Case {
    /// A case with the given id, section, level and description.
    pub fn new(
        id: impl Into<String>,
        section: &'static str,
        level: Level,
        what: impl Into<String>,
    ) -> Case {
        Case {
            id: id.into(),
            section,
            level,
            what: what.into(),
        }
    }
}

/// How a case came out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The requirement holds.
    Pass,
    /// The requirement is broken; the text says what was seen.
    Fail(String),
    /// The case could not be checked here (feature absent on this host); the text says why.
    Skip(String),
}

impl Outcome {
    /// Pass when `ok`, else a failure described by `why()`.
    pub fn check(ok: bool, why: impl FnOnce() -> String) -> Outcome {
        if ok {
            Outcome::Pass
        } else {
            Outcome::Fail(why())
        }
    }

    /// Pass when `got == want`, else a failure showing both.
    pub fn eq<T: PartialEq + fmt::Debug>(got: T, want: T) -> Outcome {
        Outcome::check(got == want, || format!("got {got:?}, want {want:?}"))
    }

    /// The word used in plain output and in RESULTS.md.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail(_) => "FAIL",
            Outcome::Skip(_) => "skip",
        }
    }
}

/// A case together with its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseResult {
    /// The case.
    pub case: Case,
    /// Its outcome.
    pub outcome: Outcome,
}

/// Whether a case id is selected by `--filter` (a substring match; no filter selects all).
pub fn selected(filter: Option<&str>, id: &str) -> bool {
    filter.is_none_or(|f| id.contains(f))
}

/// Whether an outside scenario must run for `filter`: a filter naming another scenario
/// (`other/...`) rules it out; any other filter may match one of its case ids.
pub fn scenario_may_match(filter: Option<&str>, scenario: &str) -> bool {
    match filter {
        Some(f) if f.contains('/') => f.starts_with(&format!("{scenario}/")),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_scenarios_run_unless_the_filter_names_another_scenario() {
        assert!(scenario_may_match(None, "hooks"));
        assert!(scenario_may_match(Some("state.pid"), "lifecycle"));
        assert!(scenario_may_match(Some("lifecycle/state.pid"), "lifecycle"));
        assert!(!scenario_may_match(Some("hooks/args"), "lifecycle"));
        assert!(!scenario_may_match(Some("hooks/args"), "hooks-failing"));
    }

    #[test]
    fn filter_is_a_substring_match_and_none_selects_everything() {
        assert!(selected(None, "process-user/process.cwd"));
        assert!(selected(Some("process-user"), "process-user/process.cwd"));
        assert!(selected(Some(".cwd"), "process-user/process.cwd"));
        assert!(!selected(Some("seccomp"), "process-user/process.cwd"));
        assert!(!selected(Some("Process"), "process-user/process.cwd"));
    }

    #[test]
    fn eq_reports_both_values_on_mismatch() {
        assert_eq!(Outcome::eq(1, 1), Outcome::Pass);
        assert_eq!(
            Outcome::eq("a", "b"),
            Outcome::Fail("got \"a\", want \"b\"".into())
        );
    }
}
