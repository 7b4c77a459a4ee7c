//! Snapshot Prepare+Commit latency: dm-snapshotter as a library, and through containerd via
//! `ctr snapshots prepare` + `ctr snapshots commit` (two ctr processes, containerd's snapshot
//! service, and for ours the proxy's gRPC hop) against the built-in overlayfs snapshotter.

use crate::error::{BenchError, Result};
use crate::family::Context;
use crate::import::{paired_rows, Side};
use crate::report::Row;
use crate::stats;
use dm_snapshotter::Snapshotter;
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// Pairs timed in the library row (each is a few ms at most, so many are cheap).
const LIBRARY_PAIRS: usize = 50;

/// ms per Prepare (on a committed parent) + Commit of an empty snapshot, library calls.
pub fn library_rows(cx: &mut Context, work: &Path) -> Result<Vec<Row>> {
    let root = work.join("snapshotter-lib");
    let err = |e: dm_snapshotter::Error| BenchError::Input {
        what: "dm-snapshotter library".into(),
        why: e.to_string(),
    };
    let s = Snapshotter::open(&root).map_err(err)?;
    s.prepare("base-active", "", HashMap::new()).map_err(err)?;
    s.commit("base", "base-active", HashMap::new())
        .map_err(err)?;
    let mut vals = Vec::new();
    for i in 0..LIBRARY_PAIRS {
        let t = Instant::now();
        s.prepare(&format!("a{i}"), "base", HashMap::new())
            .map_err(err)?;
        s.commit(&format!("c{i}"), &format!("a{i}"), HashMap::new())
            .map_err(err)?;
        vals.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    drop(s);
    let _ = std::fs::remove_dir_all(&root);
    cx.notes.push(format!(
        "import: snapshot-prepare-commit-library = {LIBRARY_PAIRS} Prepare(parent=committed \
         base)+Commit pairs of an empty snapshot through dm_snapshotter::Snapshotter \
         (metadata transactions fsync'd); -ctr rows = `ctr snapshots prepare` + `ctr \
         snapshots commit` (two ctr processes each) against each side's containerd"
    ));
    Ok(vec![Row {
        family: "import".into(),
        scenario: "snapshot-prepare-commit-library".into(),
        runtime: "dm-snapshotter (library)".into(),
        unit: "ms".into(),
        rounds: vals.len(),
        median: stats::median(&vals),
        min: stats::min(&vals),
        max: stats::max(&vals),
        vs_crun: None,
        vs_runc: None,
        error: None,
    }])
}

/// ms per `ctr snapshots prepare` + `ctr snapshots commit` on each side, interleaved.
pub fn ctr_rows(cx: &Context, sides: &[Side]) -> Vec<Row> {
    let rounds = cx.opts.rounds.clamp(1, 10) * 2;
    let mut vals: Vec<Vec<f64>> = vec![Vec::new(); sides.len()];
    let mut errors: Vec<Option<String>> = vec![None; sides.len()];
    let snap = |s: &Side, args: &[&str]| {
        let mut a = vec!["snapshots", "--snapshotter", s.snapshotter];
        a.extend_from_slice(args);
        s.containerd.ctr(&a)
    };
    for (i, s) in sides.iter().enumerate() {
        let base = snap(s, &["prepare", "bench-base-a", ""])
            .and_then(|_| snap(s, &["commit", "bench-base", "bench-base-a"]));
        if let Err(e) = base {
            errors[i] = Some(e.to_string());
        }
    }
    for round in 0..rounds + 1 {
        for k in 0..sides.len() {
            let i = (round + k) % sides.len();
            if errors[i].is_some() {
                continue;
            }
            let (key, name) = (format!("bench-a{round}"), format!("bench-c{round}"));
            let t = Instant::now();
            let got = snap(&sides[i], &["prepare", &key, "bench-base"])
                .and_then(|_| snap(&sides[i], &["commit", &name, &key]));
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            match got {
                Ok(_) if round > 0 => vals[i].push(ms),
                Ok(_) => {}
                Err(e) => errors[i] = Some(e.to_string()),
            }
        }
    }
    for s in sides {
        for round in 0..rounds + 1 {
            let _ = snap(s, &["rm", &format!("bench-c{round}")]);
        }
        let _ = snap(s, &["rm", "bench-base"]);
    }
    let names: Vec<&str> = sides.iter().map(|s| s.name).collect();
    paired_rows(
        "import",
        "snapshot-prepare-commit-ctr",
        "ms",
        &names,
        vals,
        errors,
    )
}
