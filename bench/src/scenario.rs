//! The runtime scenarios of issue 5 and what one round of each does for one runtime.

use crate::bundle::{BenchDir, Variant};
use crate::driver::{Driver, Sample};
use crate::error::Result;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A measured scenario (binary size, the rest of scenario 6, needs no runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// 1: create + start + delete -f of a `true` container.
    CreateStartDelete,
    /// 2: run to exit.
    Run,
    /// 3: exec of /bin/true into a running container (only the exec is timed).
    Exec,
    /// 4: create + start + delete -f under a ~300-rule seccomp profile (the runner pairs it
    /// with 1 round by round).
    Seccomp,
    /// 5: N container lifecycles (create + start + delete -f) on `ways` parallel lanes; the
    /// figure is the batch's total wall time.
    Parallel {
        /// Parallel lanes.
        ways: usize,
    },
    /// 6: peak RSS (ru_maxrss) of create + start + delete -f, or of run, spawned with fork.
    Rss {
        /// `run` instead of create + start + delete.
        run: bool,
    },
}

impl Scenario {
    /// Stable key used in tables and JSON.
    pub fn key(&self) -> String {
        match self {
            Scenario::CreateStartDelete => "create-start-delete".into(),
            Scenario::Run => "run".into(),
            Scenario::Exec => "exec".into(),
            Scenario::Seccomp => "seccomp-create-start-delete".into(),
            Scenario::Parallel { ways } => format!("parallel-{ways}way"),
            Scenario::Rss { run: false } => "peak-rss-create-start-delete".into(),
            Scenario::Rss { run: true } => "peak-rss-run".into(),
        }
    }

    /// Parses a `--scenarios` entry: 1-5 or a key; 5 means both parallel widths.
    pub fn parse(s: &str, ways: &[usize]) -> Option<Vec<Scenario>> {
        let one = match s {
            "1" | "create-start-delete" => Scenario::CreateStartDelete,
            "2" | "run" => Scenario::Run,
            "3" | "exec" => Scenario::Exec,
            "4" | "seccomp" | "seccomp-create-start-delete" => Scenario::Seccomp,
            "5" | "parallel" => {
                return Some(
                    ways.iter()
                        .map(|&w| Scenario::Parallel { ways: w })
                        .collect(),
                )
            }
            "6" | "rss" => {
                return Some(vec![
                    Scenario::Rss { run: false },
                    Scenario::Rss { run: true },
                ])
            }
            _ => {
                let w = s
                    .strip_prefix("parallel-")?
                    .strip_suffix("way")?
                    .parse()
                    .ok()?;
                Scenario::Parallel { ways: w }
            }
        };
        Some(vec![one])
    }
}

/// Hands out container ids that all carry the run's prefix (what cleanup checks look for).
pub struct Ids {
    prefix: String,
    next: AtomicUsize,
}

impl Ids {
    /// Ids `<prefix><n>`.
    pub fn new(prefix: &str) -> Ids {
        Ids {
            prefix: prefix.to_owned(),
            next: AtomicUsize::new(0),
        }
    }

    /// The shared prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A fresh id.
    pub fn next(&self) -> String {
        format!(
            "{}{}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// Runs one round of `sc` with `d`; `ids` collects every id used so a failed round can be
/// swept.
pub fn once(
    sc: Scenario,
    d: &Driver,
    dir: &BenchDir,
    ids: &Ids,
    parallel_count: usize,
    used: &mut Vec<String>,
) -> Result<Sample> {
    match sc {
        Scenario::CreateStartDelete | Scenario::Seccomp | Scenario::Rss { run: false } => {
            let v = if sc == Scenario::Seccomp {
                Variant::Seccomp
            } else {
                Variant::True
            };
            let id = ids.next();
            used.push(id.clone());
            d.lifecycle(&dir.bundle(v), &id)
        }
        Scenario::Run | Scenario::Rss { run: true } => {
            let id = ids.next();
            used.push(id.clone());
            let b = dir.bundle(Variant::True);
            d.call(&["run", "--bundle", b.to_str().unwrap_or_default(), &id])
        }
        Scenario::Exec => {
            let id = ids.next();
            used.push(id.clone());
            let b = dir.bundle(Variant::Sleeper);
            d.call(&["create", "--bundle", b.to_str().unwrap_or_default(), &id])?;
            let timed = d
                .call(&["start", &id])
                .and_then(|_| d.call(&["exec", &id, "/bin/true"]));
            let deleted = d.call(&["delete", "--force", &id]);
            let s = timed?;
            deleted?;
            Ok(s)
        }
        Scenario::Parallel { ways } => {
            let batch: Vec<String> = (0..parallel_count).map(|_| ids.next()).collect();
            used.extend(batch.iter().cloned());
            parallel(d, &dir.bundle(Variant::True), &batch, ways)
        }
    }
}

/// `ids.len()` lifecycles spread over `ways` threads; wall time of the whole batch, largest
/// peak RSS of any call.
fn parallel(d: &Driver, bundle: &std::path::Path, ids: &[String], ways: usize) -> Result<Sample> {
    let next = AtomicUsize::new(0);
    let start = std::time::Instant::now();
    let results: Vec<Result<Sample>> = std::thread::scope(|s| {
        let lanes: Vec<_> = (0..ways.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut acc = Sample::default();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(id) = ids.get(i) else {
                            return Ok(acc);
                        };
                        acc = acc.then(d.lifecycle(bundle, id)?);
                    }
                })
            })
            .collect();
        lanes
            .into_iter()
            .map(|h| h.join().expect("parallel lane panicked"))
            .collect()
    });
    let wall = start.elapsed();
    let mut peak = 0;
    for r in results {
        peak = peak.max(r?.maxrss_kib);
    }
    Ok(Sample {
        wall,
        maxrss_kib: peak,
    })
}
