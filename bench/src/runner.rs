//! The `runtime` family: scenarios 1-6 with warm-up, alternating rounds and a cleanup check
//! after every round.

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
        for &sc in &cx.opts.scenarios.clone() {
            if let Scenario::Rss { .. } = sc {
                let series = rounds_of(cx, &forking, sc, cx.opts.rounds.min(RSS_ROUNDS));
                rows.extend(rows_of(&forking, &sc.key(), "MB", &series, |s| {
                    s.maxrss_kib as f64 * 1024.0 / 1e6
                }));
                continue;
            }
            let rounds = match sc {
                Scenario::Parallel { .. } => cx.opts.parallel_rounds,
                _ => cx.opts.rounds,
            };
            let series = rounds_of(cx, &drivers, sc, rounds);
            rows.extend(rows_of(&drivers, &sc.key(), "ms", &series, |s| {
                s.wall.as_secs_f64() * 1e3
            }));
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

/// Warm-up then measured rounds; in each round every runtime runs once, the order rotating.
fn rounds_of(cx: &mut Context, drivers: &[Driver], sc: Scenario, rounds: usize) -> Series {
    let warmup = cx.opts.warmup;
    let mut series = Series {
        samples: vec![Vec::new(); drivers.len()],
        errors: vec![None; drivers.len()],
    };
    for round in 0..warmup + rounds {
        let mut used: Vec<Vec<String>> = vec![Vec::new(); drivers.len()];
        // Each round starts one runtime later (A B C, B C A, C A B, ...): whoever runs next
        // pays for the previous runtime's deferred kernel work (network namespace teardown
        // above all), so a fixed order would bill one runtime for another's exit.
        for k in 0..drivers.len() {
            let i = (k + round) % drivers.len();
            let d = &drivers[i];
            let got = if series.errors[i].is_some() {
                None
            } else {
                match scenario::once(sc, d, cx.dir, cx.ids, cx.opts.parallel_count, &mut used[i]) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        series.errors[i] = Some(format!("round {round}: {e}"));
                        None
                    }
                }
            };
            if round >= warmup {
                series.samples[i].push(got);
            }
            if cx.opts.settle_ms > 0 {
                std::thread::sleep(std::time::Duration::from_millis(cx.opts.settle_ms));
            }
        }
        let label = format!("{} round {round}", sc.key());
        if !cx.verify(&label) || series.errors.iter().any(|e| e.is_some()) {
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
