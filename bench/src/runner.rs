//! The `runtime` family: scenarios 1-6 with warm-up, alternating rounds and a cleanup check
//! after every round. Scenario 4 runs paired with scenario 1 (each runtime does both back to
//! back in every round) so the seccomp overhead is a same-round ratio.

use crate::bundle::BenchDir;
use crate::driver::{Driver, Sample};
use crate::error::Result;
use crate::family::{Context, Family};
use crate::report::Row;
use crate::runtime::Runtime;
use crate::scenario::{self, Scenario};
use crate::stats;

/// Per runtime, per measured round: the sample, or None when the runtime had failed.
struct Series {
    samples: Vec<Vec<Option<Sample>>>,
    errors: Vec<Option<String>>,
}

/// Peak RSS hardly varies; a few rounds suffice.
const RSS_ROUNDS: usize = 10;

/// Key of the rows giving seccomp's cost relative to the same runtime without a profile.
pub const SECCOMP_OVERHEAD: &str = "seccomp-overhead";

/// The rows of the seccomp pair, handed out at the positions of their scenarios.
struct PairRows {
    plain: Vec<Row>,
    seccomp: Vec<Row>,
}

/// Issue 5's runtime scenarios.
pub struct RuntimeFamily;

impl Family for RuntimeFamily {
    fn name(&self) -> &'static str {
        "runtime"
    }

    fn run(&self, cx: &mut Context) -> Result<Vec<Row>> {
        let drivers = make_drivers(cx.runtimes, cx.dir)?;
        for d in &drivers {
            if let Some(r) = crate::parity::cgroup_remark(d, cx.dir, cx.ids) {
                cx.notes.push(r);
            }
        }
        cx.verify("cgroup parity check");
        let forking: Vec<Driver> = make_drivers(cx.runtimes, cx.dir)?
            .into_iter()
            .map(Driver::forking)
            .collect();
        let mut rows = Vec::new();
        let scenarios = cx.opts.scenarios.clone();
        // Selecting scenario 4 measures scenario 1 alongside it (its rows appear only when 1
        // was selected too): the pair runs where the first of the two is listed.
        let paired = scenarios.contains(&Scenario::Seccomp);
        let mut pair: Option<PairRows> = None;
        for &sc in &scenarios {
            if let Scenario::Rss { .. } = sc {
                let series = rounds_of(cx, &forking, &[sc], cx.opts.rounds.min(RSS_ROUNDS));
                rows.extend(rows_of(&forking, &sc.key(), "MB", &series[0], |s| {
                    s.maxrss_kib as f64 * 1024.0 / 1e6
                }));
                continue;
            }
            if paired && matches!(sc, Scenario::CreateStartDelete | Scenario::Seccomp) {
                let p = match &mut pair {
                    Some(p) => p,
                    None => pair.insert(seccomp_pair(cx, &drivers)),
                };
                rows.append(if sc == Scenario::Seccomp {
                    &mut p.seccomp
                } else {
                    &mut p.plain
                });
                continue;
            }
            let rounds = match sc {
                Scenario::Parallel { .. } => cx.opts.parallel_rounds,
                _ => cx.opts.rounds,
            };
            let series = rounds_of(cx, &drivers, &[sc], rounds);
            rows.extend(rows_of(&drivers, &sc.key(), "ms", &series[0], millis));
        }
        if cx
            .opts
            .scenarios
            .iter()
            .any(|s| matches!(s, Scenario::Rss { .. }))
        {
            match crate::driver::rss_floor_kib() {
                Ok(kib) => cx.notes.push(format!(
                    "peak-RSS floor: a static busybox `true` spawned the same way shows \
                     ru_maxrss {:.2} MB",
                    kib as f64 * 1024.0 / 1e6
                )),
                Err(e) => cx.notes.push(format!("peak-RSS floor not measured: {e}")),
            }
        }
        rows.extend(binary_rows(cx.runtimes));
        Ok(rows)
    }
}

fn make_drivers(runtimes: &[Runtime], dir: &BenchDir) -> Result<Vec<Driver>> {
    let logs = dir.subdir("logs")?;
    runtimes
        .iter()
        .map(|rt| {
            Driver::new(
                rt.clone(),
                dir.path().join("roots").join(&rt.name),
                logs.join(format!("{}.stderr", rt.name)),
            )
        })
        .collect()
}

fn millis(s: &Sample) -> f64 {
    s.wall.as_secs_f64() * 1e3
}

/// Scenarios 1 and 4 in the same rounds, plus each runtime's seccomp-overhead row.
fn seccomp_pair(cx: &mut Context, drivers: &[Driver]) -> PairRows {
    let pair = [Scenario::CreateStartDelete, Scenario::Seccomp];
    let series = rounds_of(cx, drivers, &pair, cx.opts.rounds);
    let plain = rows_of(drivers, &pair[0].key(), "ms", &series[0], millis);
    let mut seccomp = rows_of(drivers, &pair[1].key(), "ms", &series[1], millis);
    seccomp.extend(overhead_rows(drivers, &series[1], &series[0]));
    cx.notes.push(format!(
        "{SECCOMP_OVERHEAD} rows: median over rounds of the runtime's \
         seccomp-create-start-delete time divided by its create-start-delete time in the same \
         round (1.10 = the profile adds 10 %); min/max are the extreme per-round ratios, the \
         vs columns stay empty. Both scenarios run in the same rounds, each runtime doing the \
         two back to back, which one goes first alternating round by round"
    ));
    PairRows { plain, seccomp }
}

/// Per runtime, the per-round ratio `with / without` and its median.
fn overhead_rows(drivers: &[Driver], with: &Series, without: &Series) -> Vec<Row> {
    drivers
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let ms = |s: &Series| -> Vec<Option<f64>> {
                s.samples[i]
                    .iter()
                    .map(|x| x.as_ref().map(millis))
                    .collect()
            };
            let ratios = stats::ratios(&ms(with), &ms(without));
            Row {
                family: "runtime".into(),
                scenario: SECCOMP_OVERHEAD.into(),
                runtime: d.rt.name.clone(),
                unit: "ratio".into(),
                rounds: ratios.len(),
                median: stats::median(&ratios),
                min: stats::min(&ratios),
                max: stats::max(&ratios),
                vs_crun: None,
                vs_runc: None,
                error: with.errors[i].clone().or_else(|| without.errors[i].clone()),
            }
        })
        .collect()
}

/// Warm-up then measured rounds; in each round every runtime takes one turn, the order
/// rotating, and runs all of `group` in its turn. Returns one series per scenario of `group`.
fn rounds_of(
    cx: &mut Context,
    drivers: &[Driver],
    group: &[Scenario],
    rounds: usize,
) -> Vec<Series> {
    let warmup = cx.opts.warmup;
    let mut series: Vec<Series> = group
        .iter()
        .map(|_| Series {
            samples: vec![Vec::new(); drivers.len()],
            errors: vec![None; drivers.len()],
        })
        .collect();
    let keys: Vec<String> = group.iter().map(|s| s.key()).collect();
    for round in 0..warmup + rounds {
        let mut used: Vec<Vec<String>> = vec![Vec::new(); drivers.len()];
        // Each round starts one runtime later (A B C, B C A, C A B, ...): whoever runs next
        // pays for the previous runtime's deferred kernel work (network namespace teardown
        // above all), so a fixed order would bill one runtime for another's exit. Within a
        // turn the group's scenarios rotate the same way, for the same reason.
        for k in 0..drivers.len() {
            let i = (k + round) % drivers.len();
            let d = &drivers[i];
            for g in 0..group.len() {
                let j = (g + round) % group.len();
                let s = &mut series[j];
                let got = if s.errors[i].is_some() {
                    None
                } else {
                    let n = cx.opts.parallel_count;
                    match scenario::once(group[j], d, cx.dir, cx.ids, n, &mut used[i]) {
                        Ok(x) => Some(x),
                        Err(e) => {
                            s.errors[i] = Some(format!("round {round}: {e}"));
                            None
                        }
                    }
                };
                if round >= warmup {
                    s.samples[i].push(got);
                }
                if cx.opts.settle_ms > 0 {
                    std::thread::sleep(std::time::Duration::from_millis(cx.opts.settle_ms));
                }
            }
        }
        let label = format!("{} round {round}", keys.join("+"));
        let failed = series.iter().any(|s| s.errors.iter().any(|e| e.is_some()));
        if !cx.verify(&label) || failed {
            sweep(drivers, &used);
        }
    }
    series
}

/// Best-effort removal of a failed round's containers so later rounds start clean.
fn sweep(drivers: &[Driver], used: &[Vec<String>]) {
    for (d, ids) in drivers.iter().zip(used) {
        for id in ids {
            d.call_quietly(&["delete", "--force", id]);
        }
    }
}

fn rows_of(
    drivers: &[Driver],
    scenario: &str,
    unit: &str,
    series: &Series,
    value: impl Fn(&Sample) -> f64,
) -> Vec<Row> {
    let vals: Vec<Vec<Option<f64>>> = series
        .samples
        .iter()
        .map(|rounds| rounds.iter().map(|s| s.as_ref().map(&value)).collect())
        .collect();
    let index = |name: &str| drivers.iter().position(|d| d.rt.name == name);
    let (crun, runc) = (index("crun"), index("runc"));
    drivers
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let got: Vec<f64> = vals[i].iter().flatten().copied().collect();
            Row {
                family: "runtime".into(),
                scenario: scenario.into(),
                runtime: d.rt.name.clone(),
                unit: unit.into(),
                rounds: got.len(),
                median: stats::median(&got),
                min: stats::min(&got),
                max: stats::max(&got),
                vs_crun: crun.and_then(|c| stats::median_ratio(&vals[i], &vals[c])),
                vs_runc: runc.and_then(|r| stats::median_ratio(&vals[i], &vals[r])),
                error: series.errors[i].clone(),
            }
        })
        .collect()
}

fn binary_rows(runtimes: &[Runtime]) -> Vec<Row> {
    let size = |name: &str| {
        runtimes
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.binary_bytes as f64)
    };
    runtimes
        .iter()
        .map(|rt| {
            let v = rt.binary_bytes as f64 / 1e6;
            Row {
                family: "runtime".into(),
                scenario: "binary-size".into(),
                runtime: rt.name.clone(),
                unit: "MB".into(),
                rounds: 1,
                median: Some(v),
                min: Some(v),
                max: Some(v),
                vs_crun: size("crun").map(|c| rt.binary_bytes as f64 / c),
                vs_runc: size("runc").map(|c| rt.binary_bytes as f64 / c),
                error: None,
            }
        })
        .collect()
}
