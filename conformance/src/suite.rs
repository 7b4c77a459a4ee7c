//! Runs every scenario against one runtime and collects the case results.

use crate::case::{scenario_may_match, selected, CaseResult, Outcome};
use crate::context::{Context, RESULT_PREFIX};
use crate::error::Result;
use crate::outside::{self, Rec};
use crate::runtime::{Runtime, Sandbox};
use crate::scenarios::{self, Setup};
use crate::{plan, spec};
use std::collections::HashMap;

/// Runs the suite against `rt`, calling `emit` for each result as it comes.
pub fn run(
    rt: &Runtime,
    filter: Option<&str>,
    emit: &mut dyn FnMut(&CaseResult),
) -> Result<Vec<CaseResult>> {
    let mut all = Vec::new();
    for sc in scenarios::all() {
        for r in in_container(rt, &sc, filter)? {
            emit(&r);
            all.push(r);
        }
    }
    for sc in outside::all() {
        if !scenario_may_match(filter, sc.name) {
            continue;
        }
        let mut rec = Rec::new(sc.name);
        (sc.run)(rt, &mut rec)?;
        for r in rec
            .results
            .into_iter()
            .filter(|r| selected(filter, &r.case.id))
        {
            emit(&r);
            all.push(r);
        }
    }
    Ok(all)
}

/// The runtime's own namespace inodes (this process's, which the runtime inherits).
pub fn host_namespaces() -> std::collections::BTreeMap<String, u64> {
    ["pid", "net", "ipc", "uts", "mnt", "cgroup", "user"]
        .iter()
        .filter_map(|n| {
            let t = std::fs::read_link(format!("/proc/self/ns/{n}")).ok()?;
            Some((
                n.to_string(),
                crate::probe::inode_of_link(&t.to_string_lossy())?,
            ))
        })
        .collect()
}

fn in_container(
    rt: &Runtime,
    sc: &scenarios::Scenario,
    filter: Option<&str>,
) -> Result<Vec<CaseResult>> {
    let sandbox = Sandbox::new(rt)?;
    let ctx = Context {
        scenario: sc.name.into(),
        areas: sc.areas.iter().map(|a| a.to_string()).collect(),
        host_ns: host_namespaces(),
        ..Default::default()
    };
    let mut setup = Setup {
        spec: spec::base(),
        ctx,
        sandbox: &sandbox,
        holders: Vec::new(),
    };
    let prepared = (sc.setup)(&mut setup);
    let Setup {
        spec,
        ctx,
        mut holders,
        ..
    } = setup;
    let checks: Vec<_> = plan::plan(&spec, &ctx)
        .into_iter()
        .filter(|c| selected(filter, &c.case.id))
        .collect();
    let result = prepared.and_then(|_| {
        if checks.is_empty() {
            return Ok(Vec::new());
        }
        sandbox.write(&spec, &ctx)?;
        let out = sandbox.run();
        let got: HashMap<&str, (&str, &str)> = out
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix(RESULT_PREFIX)?.trim_start().split_once('\t'))
            .filter_map(|(id, rest)| Some((id, rest.split_once('\t')?)))
            .collect();
        let missing = || {
            let err: Vec<&str> = out
                .stderr
                .lines()
                .filter(|l| !l.trim().is_empty())
                .collect();
            format!(
                "no result from the checker: `run` exited {}: {}",
                out.code,
                err[err.len().saturating_sub(3)..].join(" | ")
            )
        };
        Ok(checks
            .iter()
            .map(|c| {
                let outcome = match got.get(c.case.id.as_str()) {
                    Some(("pass", _)) => Outcome::Pass,
                    Some(("skip", why)) => Outcome::Skip(why.to_string()),
                    Some((_, why)) => Outcome::Fail(why.to_string()),
                    None => Outcome::Fail(missing()),
                };
                CaseResult {
                    case: c.case.clone(),
                    outcome,
                }
            })
            .collect())
    });
    for h in &mut holders {
        let _ = h.kill();
        let _ = h.wait();
    }
    result
}
