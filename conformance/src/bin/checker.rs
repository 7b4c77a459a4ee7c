//! dm-conformance-checker: runs inside the container under test.
//!
//! `probe`: reads /dm-conformance/config.json and context.json, derives the checks with
//! `plan::plan` and prints one `DMC-RESULT id<TAB>verdict<TAB>detail` line per check.
//! `hook LOG LABEL`: as an OCI hook, appends what it saw (argv, env, state on stdin, namespaces,
//! whether the user process had started) as one JSON line to LOG; fails if LABEL ends in `-fail`.

use dm_conformance::case::Outcome;
use dm_conformance::context::{Context, CONFIG_IN_CONTAINER, CONTEXT_IN_CONTAINER, RESULT_PREFIX};
use dm_conformance::{plan, probe};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let code = match args.get(1).map(String::as_str) {
        Some("probe") => run_probes(),
        Some("hook") if args.len() >= 4 => hook(&args[2], &args[3], &args),
        _ => {
            eprintln!("usage: dm-conformance-checker probe | hook LOG LABEL");
            2
        }
    };
    std::process::exit(code);
}

fn run_probes() -> i32 {
    let read = |p: &str| std::fs::read_to_string(p).map_err(|e| format!("read {p}: {e}"));
    let inputs = read(CONFIG_IN_CONTAINER).and_then(|c| Ok((c, read(CONTEXT_IN_CONTAINER)?)));
    let (config, ctx) = match inputs {
        Ok(x) => x,
        Err(e) => {
            eprintln!("dm-conformance-checker: {e}");
            return 1;
        }
    };
    let spec: serde_json::Value = serde_json::from_str(&config).unwrap_or_default();
    let ctx: Context = serde_json::from_str(&ctx).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    for check in plan::plan(&spec, &ctx) {
        let (verdict, detail) = match probe::verify(&check.probe) {
            Outcome::Pass => ("pass", String::new()),
            Outcome::Fail(d) => ("fail", d),
            Outcome::Skip(d) => ("skip", d),
        };
        let detail = detail.replace(['\n', '\t'], " ");
        let _ = writeln!(
            out,
            "{RESULT_PREFIX} {}\t{verdict}\t{detail}",
            check.case.id
        );
    }
    0
}

fn hook(log: &str, label: &str, args: &[String]) -> i32 {
    let mut stdin = String::new();
    let _ = std::io::stdin().read_to_string(&mut stdin);
    let ns = |n: &str| {
        std::fs::read_link(format!("/proc/self/ns/{n}"))
            .ok()
            .and_then(|t| probe::inode_of_link(&t.to_string_lossy()))
    };
    let dir = std::path::Path::new(log)
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let started = dir.join("started").exists();
    // A runtime that runs poststart without waiting for the user process to be executed runs
    // it while startContainer is still going: stay in startContainer long enough to see that.
    let overlapped =
        label == "startContainer" && poststart_appears(log, Duration::from_millis(1500));
    let rec = serde_json::json!({
        "label": label,
        "args": args,
        "env": std::env::var("DMC_HOOK_ENV").ok(),
        "state": serde_json::from_str::<serde_json::Value>(&stdin).unwrap_or(serde_json::Value::String(stdin)),
        "ns": {"mnt": ns("mnt"), "uts": ns("uts"), "pid": ns("pid"), "net": ns("net")},
        "started": started,
        "poststart_during": overlapped,
    });
    // One write() per record: O_APPEND keeps whole writes apart, and hooks of different kinds
    // (startContainer in the container, poststart in the runtime) may run at the same time.
    let line = format!("{rec}\n");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!("dm-conformance-checker hook: append to {log}: {e}");
        return 1;
    }
    i32::from(label.ends_with("-fail"))
}

/// Whether a poststart record shows up in `log` within `limit`.
fn poststart_appears(log: &str, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("\"label\":\"poststart\"") {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
