//! The results: one row per (scenario, runtime), rendered as a markdown table, JSON or
//! bench/RESULTS.md.

use crate::runtime::Runtime;
use crate::sys::CgroupView;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// One figure for one runtime in one scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// The benchmark family ("runtime", "shim-memory", "import", ...).
    pub family: String,
    /// Stable scenario key, e.g. "create-start-delete".
    pub scenario: String,
    /// Runtime (or implementation) name.
    pub runtime: String,
    /// Unit of median/min/max: "ms", "MB" (10^6 bytes), "MB/s", or "ratio" for a per-round
    /// ratio between two scenarios (seccomp-overhead).
    pub unit: String,
    /// Rounds that produced a value.
    pub rounds: usize,
    /// Median over rounds.
    pub median: Option<f64>,
    /// Smallest round.
    pub min: Option<f64>,
    /// Largest round.
    pub max: Option<f64>,
    /// Median over rounds of this runtime's value divided by crun's in the same round.
    pub vs_crun: Option<f64>,
    /// Median over rounds of this runtime's value divided by runc's in the same round.
    pub vs_runc: Option<f64>,
    /// Why the runtime produced no (or fewer) values here.
    pub error: Option<String>,
}

/// How the figures were taken.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Method {
    /// Discarded rounds before measuring.
    pub warmup: usize,
    /// Measured rounds of scenarios 1-4.
    pub rounds: usize,
    /// Measured rounds of the parallel scenario.
    pub parallel_rounds: usize,
    /// Containers per parallel batch.
    pub parallel_count: usize,
    /// Idle milliseconds after each timed run (each runtime's turn, each scenario of a pair).
    #[serde(default)]
    pub settle_ms: u64,
    /// Which runtime's `spec` made the shared config.json.
    pub spec_from: String,
    /// Where the seccomp profile came from.
    pub seccomp_source: String,
    /// (syscall, rule) pairs in it.
    pub seccomp_rules: usize,
}

/// What the per-round cleanup checks found.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Cleanup {
    /// Rounds (warm-up included) after which state dirs, processes and cgroups were checked.
    pub rounds_checked: usize,
    /// Every leftover seen, with scenario and round; empty means all clean.
    pub leftovers: Vec<String>,
}

/// A whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// UTC date and time of the run.
    pub date: String,
    /// Kernel release.
    pub kernel: String,
    /// Host cgroup mode and what the runtimes saw.
    pub cgroup: CgroupView,
    /// CPUs online.
    pub cpus: usize,
    /// The runtimes compared.
    pub runtimes: Vec<Runtime>,
    /// How the figures were taken.
    pub method: Method,
    /// The figures.
    pub rows: Vec<Row>,
    /// Per-round cleanup verification.
    pub cleanup: Cleanup,
    /// Skipped runtimes and families, and other remarks.
    pub notes: Vec<String>,
    /// Wall time of the whole run in seconds.
    pub total_seconds: f64,
    /// `git rev-parse --short HEAD` of the workspace (the dm-runc source measured).
    #[serde(default)]
    pub workspace_commit: Option<String>,
    /// /proc/loadavg when the run started: other work on the machine skews every figure.
    #[serde(default)]
    pub loadavg: String,
}

fn num(x: Option<f64>, unit: &str) -> String {
    match x {
        None => "–".into(),
        Some(v) if unit == "ms" && v < 10.0 => format!("{v:.2}"),
        Some(v) if unit == "MB" || unit == "MB/s" || unit == "ratio" => format!("{v:.2}"),
        Some(v) => format!("{v:.1}"),
    }
}

fn ratio(x: Option<f64>) -> String {
    x.map_or("–".into(), |v| format!("{v:.2}×"))
}

impl Report {
    /// The figures as one markdown table, plus any errors below it.
    pub fn table(&self) -> String {
        let mut s = String::from(
            "| scenario | runtime | median | min | max | unit | vs crun | vs runc | rounds |\n\
             |---|---|---:|---:|---:|---|---:|---:|---:|\n",
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.scenario,
                r.runtime,
                num(r.median, &r.unit),
                num(r.min, &r.unit),
                num(r.max, &r.unit),
                r.unit,
                ratio(r.vs_crun),
                ratio(r.vs_runc),
                r.rounds
            );
        }
        let errors: Vec<&Row> = self.rows.iter().filter(|r| r.error.is_some()).collect();
        if !errors.is_empty() {
            s.push_str("\nErrors:\n");
            for r in errors {
                let _ = writeln!(
                    s,
                    "- {} / {}: {}",
                    r.scenario,
                    r.runtime,
                    r.error.as_deref().unwrap_or("")
                );
            }
        }
        s
    }

    /// The setup: date, kernel, cgroup view, versions, method, cleanup outcome.
    pub fn header(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "- date: {} (UTC)", self.date);
        let _ = writeln!(s, "- kernel: {}, {} CPUs", self.kernel, self.cpus);
        let _ = writeln!(s, "- load average at start: {}", self.loadavg);
        if let Some(c) = &self.workspace_commit {
            let _ = writeln!(s, "- workspace commit: {c}");
        }
        let _ = writeln!(s, "- cgroups: host {}", self.cgroup.host);
        let _ = writeln!(s, "- runtimes see: {}", self.cgroup.runtimes_see);
        for rt in &self.runtimes {
            let _ = writeln!(
                s,
                "- {}: `{}` — {} ({} bytes on disk)",
                rt.name,
                rt.path.display(),
                rt.version,
                rt.binary_bytes
            );
        }
        let m = &self.method;
        let _ = writeln!(
            s,
            "- method: {} warm-up rounds, then {} rounds (parallel: {} rounds of {} containers); \
             within a round the runtimes alternate, the order rotating by one each round (A B C, B C A, …, so none always follows the same one); private --root per \
             runtime on a tmpfs (like /run); {} ms idle after each timed run; one busybox bundle (config from `{} spec`, read-only rootfs, process \
             `true`) shared by all",
            m.warmup, m.rounds, m.parallel_rounds, m.parallel_count, m.settle_ms, m.spec_from
        );
        let _ = writeln!(
            s,
            "- seccomp scenario: {} ({} syscall rules); runs in the same rounds as create-start-delete, each runtime doing both back to back",
            m.seccomp_source, m.seccomp_rules
        );
        let c = &self.cleanup;
        if c.leftovers.is_empty() {
            let _ = writeln!(
                s,
                "- cleanup: verified after each of {} rounds: no state dir, process or cgroup left",
                c.rounds_checked
            );
        } else {
            let _ = writeln!(
                s,
                "- cleanup: {} LEFTOVERS in {} rounds checked:",
                c.leftovers.len(),
                c.rounds_checked
            );
            for l in &c.leftovers {
                let _ = writeln!(s, "  - {l}");
            }
        }
        for n in &self.notes {
            let _ = writeln!(s, "- note: {n}");
        }
        let _ = writeln!(s, "- whole run: {:.0} s", self.total_seconds);
        s
    }

    /// The content of bench/RESULTS.md.
    pub fn results_md(&self) -> String {
        format!(
            "# dm-bench results\n\nWritten by `cargo run -p dm-bench --release -- \
             --write-results`; the last committed run.\n\n## Setup\n\n{}\n## Figures\n\n\
             Times are wall clock per operation sequence; `vs crun` / `vs runc` are the median \
             of per-round ratios (below 1 = faster / smaller). Peak RSS is ru_maxrss of the \
             runtime process from wait4.\n\n{}",
            self.header(),
            self.table()
        )
    }

    /// True when every runtime produced a value in every row and cleanup found nothing.
    pub fn all_clean(&self) -> bool {
        self.cleanup.leftovers.is_empty() && self.rows.iter().all(|r| r.error.is_none())
    }
}
