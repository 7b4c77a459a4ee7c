//! dm-conformance: runs the OCI runtime-spec conformance suite against runc-compatible runtimes.

use anyhow::{bail, Context as _};
use clap::Parser;
use dm_conformance::case::CaseResult;
use dm_conformance::report::Report;
use dm_conformance::runtime::Runtime;
use dm_conformance::tap::{plain_line, plan_line, tap_line, Summary, TAP_HEADER};
use dm_conformance::{suite, v1view};
use std::path::PathBuf;

/// OCI runtime-spec conformance suite for any runc-compatible runtime binary.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Runtime binary to test; repeat or separate with commas to test several.
    #[arg(long, required = true, value_delimiter = ',')]
    runtime: Vec<PathBuf>,
    /// Run only cases whose id contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// Print TAP version 13 instead of plain lines.
    #[arg(long)]
    tap: bool,
    /// Merge the results into this markdown file (conformance/RESULTS.md).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Run inside a private mount namespace where an empty tmpfs covers /sys/fs/cgroup/unified
    /// (for runtimes that refuse hybrid cgroup hosts, such as crun 1.8).
    #[arg(long)]
    v1_view: bool,
    /// The static checker binary (default: dm-conformance-checker next to this binary).
    #[arg(long)]
    checker: Option<PathBuf>,
}

/// Prints a line; a closed stdout (`| head`) must not panic the run or hide its exit status.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Before any thread exists, so every later thread and child shares the namespace.
    if args.v1_view {
        v1view::enter().context("--v1-view")?;
    } else {
        v1view::own_mount_namespace().context("a mount namespace for the runner")?;
    }
    let checker = match &args.checker {
        Some(c) => c.clone(),
        None => std::env::current_exe()?.with_file_name("dm-conformance-checker"),
    };
    if !checker.is_file() {
        bail!(
            "checker binary {} not found (build it or pass --checker)",
            checker.display()
        );
    }
    for rt in &args.runtime {
        if !rt.is_file() {
            bail!("--runtime {}: no such file", rt.display());
        }
    }
    let multi = args.runtime.len() > 1;
    if args.tap {
        out!("{TAP_HEADER}");
    }
    let mut n = 0;
    let mut all: Vec<(Runtime, Vec<CaseResult>)> = Vec::new();
    for path in &args.runtime {
        let rt = Runtime::new(path, &checker);
        let mut emit = |r: &CaseResult| {
            n += 1;
            let mut r = r.clone();
            if multi {
                r.case.id = format!("{}:{}", rt.name, r.case.id);
            }
            out!(
                "{}",
                if args.tap {
                    tap_line(n, &r)
                } else {
                    plain_line(&r)
                }
            );
        };
        let results = suite::run(&rt, args.filter.as_deref(), &mut emit)
            .with_context(|| format!("runtime {}", path.display()))?;
        let s = Summary::of(&results);
        if multi {
            out!("# {}: {}", rt.name, s.line());
        }
        all.push((rt, results));
    }
    let flat: Vec<CaseResult> = all.iter().flat_map(|(_, r)| r.iter().cloned()).collect();
    let total = Summary::of(&flat);
    if args.tap {
        out!("{}", plan_line(flat.len()));
    }
    if let Some(path) = &args.report {
        write_report(path, &all, args.v1_view)?;
    }
    out!("{}", total.line());
    if total.failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

fn write_report(
    path: &PathBuf,
    runs: &[(Runtime, Vec<CaseResult>)],
    v1_view: bool,
) -> anyhow::Result<()> {
    let mut rep = match std::fs::read_to_string(path) {
        Ok(t) => Report::parse(&t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Report::default(),
        Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
    };
    let date = utc_now();
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    for (rt, results) in runs {
        let view = if v1_view {
            ", in the --v1-view (cgroup v1 only)"
        } else {
            ""
        };
        rep.merge(
            &rt.name,
            format!("{} ({}), run {date}{view}", rt.version(), rt.path.display()),
            results,
        );
    }
    std::fs::write(path, rep.render(&date, &kernel))
        .with_context(|| format!("write {}", path.display()))
}

/// The current UTC time as `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let t = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    format!("{} {} UTC", &t[..10], &t[11..16])
}
