//! Checks made from outside the container: lifecycle and state, mandated errors, hooks, exit
//! codes and pid files.

mod errors;
mod exec;
mod hooks;
mod lifecycle;
mod terminal;

use crate::case::{Case, CaseResult, Level, Outcome};
use crate::error::Result;
use crate::runtime::{Runtime, Sandbox};
use dm_testkit::Output;
use serde_json::{json, Value};
use std::path::Path;

/// An outside scenario: its name (first part of its case ids) and how to run it.
pub struct OutsideScenario {
    /// Scenario name.
    pub name: &'static str,
    /// Runs it against a runtime, recording every case.
    pub run: fn(&Runtime, &mut Rec) -> Result<()>,
}

/// Every outside scenario, in run order.
pub fn all() -> Vec<OutsideScenario> {
    vec![
        OutsideScenario {
            name: "lifecycle",
            run: lifecycle::lifecycle,
        },
        OutsideScenario {
            name: "lifecycle-created",
            run: lifecycle::created,
        },
        OutsideScenario {
            name: "lifecycle-no-namespaces",
            run: lifecycle::no_namespaces,
        },
        OutsideScenario {
            name: "errors",
            run: errors::errors,
        },
        OutsideScenario {
            name: "exit-codes",
            run: errors::exit_codes,
        },
        OutsideScenario {
            name: "hooks",
            run: hooks::hooks,
        },
        OutsideScenario {
            name: "hooks-failing",
            run: hooks::failing,
        },
        OutsideScenario {
            name: "exec",
            run: exec::exec,
        },
        OutsideScenario {
            name: "terminal",
            run: terminal::terminal,
        },
    ]
}

/// Collects the cases of one outside scenario.
pub struct Rec {
    scenario: &'static str,
    /// Cases recorded so far.
    pub results: Vec<CaseResult>,
}

impl Rec {
    /// An empty recorder for `scenario`.
    pub fn new(scenario: &'static str) -> Rec {
        Rec {
            scenario,
            results: Vec::new(),
        }
    }

    /// Records a case made elsewhere (its id already carries the scenario).
    pub fn push(&mut self, r: CaseResult) {
        self.results.push(r);
    }

    /// Records one case.
    pub fn add(
        &mut self,
        id: &str,
        section: &'static str,
        level: Level,
        what: &str,
        outcome: Outcome,
    ) {
        let case = Case::new(format!("{}/{id}", self.scenario), section, level, what);
        self.results.push(CaseResult { case, outcome });
    }
}

/// Pass when the command succeeded, else a failure showing its exit code and stderr.
fn succeeded(o: &Output) -> Outcome {
    Outcome::check(o.code == 0, || {
        format!("exit {}: {}", o.code, tail(&o.stderr))
    })
}

/// Pass when the command failed.
fn errored(o: &Output) -> Outcome {
    Outcome::check(o.code != 0, || {
        format!("exit 0, want an error (stdout {:?})", tail(&o.stdout))
    })
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

/// The base config running `script` under busybox sh, with the bundle's `shared/` at /dm-shared.
fn shell_spec(sb: &Sandbox, script: &str) -> Value {
    let mut spec = crate::spec::base();
    spec["process"]["args"] = json!(["sh", "-c", script]);
    let src = sb.bundle().join("shared");
    spec["mounts"]
        .as_array_mut()
        .expect("base has mounts")
        .push(json!({
            "destination": "/dm-shared", "type": "bind", "source": src, "options": ["rbind", "rw"]
        }));
    spec
}

/// Writes `spec` with an empty context (outside scenarios run no probes).
fn write(sb: &Sandbox, spec: &Value) -> Result<()> {
    sb.write(spec, &Default::default())
}

/// The `started` marker the shell script touches in shared/.
fn started(sb: &Sandbox) -> bool {
    sb.bundle().join("shared/started").exists()
}

/// Polls `f` until true or `within` passes.
fn poll(within: std::time::Duration, f: impl Fn() -> bool) -> bool {
    let end = std::time::Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() > end {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn proc_exists(pid: i64) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}
