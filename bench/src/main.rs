//! `dm-bench`: compares dm-runc, crun, runc (and youki) on the same bundle, interleaved.

use anyhow::{bail, Context as _};
use clap::Parser;
use dm_bench::family::Options;
use dm_bench::runtime::{self, Selection};
use dm_bench::scenario::Scenario;
use std::path::PathBuf;

/// Side-by-side benchmarks of OCI runtimes (run as root).
#[derive(Parser, Debug)]
#[command(name = "dm-bench")]
struct Cli {
    /// Measured rounds of scenarios 1-4.
    #[arg(long, default_value_t = 40)]
    rounds: usize,
    /// Discarded warm-up rounds before each scenario.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Measured rounds of the parallel scenario.
    #[arg(long, default_value_t = 5)]
    parallel_rounds: usize,
    /// Containers per parallel batch.
    #[arg(long, default_value_t = 50)]
    parallel_count: usize,
    /// Parallel widths of scenario 5.
    #[arg(long, value_delimiter = ',', default_value = "2,8")]
    ways: Vec<usize>,
    /// Scenarios: 1-6 or keys (create-start-delete, run, exec, seccomp, parallel, rss).
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,5,6")]
    scenarios: Vec<String>,
    /// Families to run: runtime, shim-memory, import, cri, image, registry, build, network,
    /// daemon.
    #[arg(long, value_delimiter = ',', default_value = "runtime")]
    family: Vec<String>,
    /// Running containers per shim in the shim-memory family (a list: 1,10,50).
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 10, 50])]
    shim_containers: Vec<usize>,
    /// Payload size of the import and registry families in MB.
    #[arg(long, default_value_t = 100)]
    import_mb: usize,
    /// Idle milliseconds after each timed run (untimed), so deferred kernel work of one run
    /// (e.g. network namespace teardown) is not billed to the next.
    #[arg(long, default_value_t = 0)]
    settle_ms: u64,
    /// One round, no warm-up, tiny batches: checks the harness, not the runtimes.
    #[arg(long)]
    smoke: bool,
    /// dm-runc binary (default: the workspace's release build when present).
    #[arg(long)]
    dm_runc: Option<PathBuf>,
    /// Add or override a runtime: NAME=PATH (e.g. youki=/root/.cargo/bin/youki).
    #[arg(long = "runtime", value_name = "NAME=PATH")]
    runtimes: Vec<String>,
    /// Compare only these runtimes.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Print the report as JSON instead of markdown.
    #[arg(long)]
    json: bool,
    /// Also write bench/RESULTS.md.
    #[arg(long)]
    write_results: bool,
}

fn options(cli: &Cli) -> anyhow::Result<Options> {
    let mut scenarios = Vec::new();
    for s in &cli.scenarios {
        match Scenario::parse(s, &cli.ways) {
            Some(v) => scenarios.extend(v),
            None => bail!("--scenarios: unknown scenario `{s}`"),
        }
    }
    if cli.ways.contains(&0) {
        bail!("--ways: a parallel width must be at least 1");
    }
    let known: Vec<&str> = dm_bench::families().iter().map(|f| f.name()).collect();
    for f in &cli.family {
        if !known.contains(&f.as_str()) {
            bail!(
                "--family: unknown family `{f}` (known: {})",
                known.join(", ")
            );
        }
    }
    let mut o = Options {
        warmup: cli.warmup,
        rounds: cli.rounds,
        parallel_rounds: cli.parallel_rounds,
        parallel_count: cli.parallel_count,
        scenarios,
        families: cli.family.clone(),
        shim_containers: cli.shim_containers.clone(),
        import_mb: cli.import_mb,
        settle_ms: cli.settle_ms,
    };
    if cli.smoke {
        o.warmup = 0;
        o.rounds = 1;
        o.parallel_rounds = 1;
        o.parallel_count = 4;
        o.shim_containers = vec![1];
        o.import_mb = 4;
    }
    if o.rounds == 0 {
        bail!("--rounds: must be at least 1");
    }
    Ok(o)
}

fn selection(cli: &Cli) -> anyhow::Result<Selection> {
    let mut extra = Vec::new();
    for r in &cli.runtimes {
        let Some((n, p)) = r.split_once('=') else {
            bail!("--runtime: `{r}` is not NAME=PATH");
        };
        if n.is_empty() || p.is_empty() {
            bail!("--runtime: `{r}` is not NAME=PATH");
        }
        extra.push((n.to_owned(), PathBuf::from(p)));
    }
    Ok(Selection {
        dm_runc: cli.dm_runc.clone(),
        extra,
        only: cli.only.clone(),
    })
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let opts = options(&cli)?;
    let sel = selection(&cli)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        bail!("dm-bench must run as root (it creates containers)");
    }
    // Before any thread exists: unshare(CLONE_NEWNS) is refused in a threaded process.
    let view = dm_bench::sys::enter_v1_view().context("set up the pure cgroup v1 view")?;
    let (runtimes, notes) = runtime::discover(&sel)?;
    for n in &notes {
        eprintln!("dm-bench: {n}");
    }
    let report = dm_bench::run(runtimes, view, &opts, notes)?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}\n{}", report.header(), report.table());
    }
    if cli.write_results {
        let p = dm_bench::workspace_root().join("bench/RESULTS.md");
        std::fs::write(&p, report.results_md())
            .with_context(|| format!("write {}", p.display()))?;
        eprintln!("dm-bench: wrote {}", p.display());
    }
    if !report.all_clean() {
        eprintln!("dm-bench: some runtime failed or left something behind (see the report)");
        std::process::exit(2);
    }
    Ok(())
}
