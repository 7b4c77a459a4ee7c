//! Layer application throughput: dm-snapshotter's `apply_layer` versus GNU `tar -x` of the
//! same layer (plain and gzip), into fresh directories on the scratch filesystem.

use crate::error::{BenchError, Result};
use crate::family::Context;
use crate::import::paired_rows;
use crate::oci_image::{run, tar_dir, write_tree};
use crate::report::Row;
use dm_snapshotter::layer::{apply_layer, ApplyOptions};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// The two appliers, in table order (tar first: it is the reference).
const APPLIERS: [&str; 2] = ["tar -x (GNU tar)", "dm-snapshotter apply_layer"];

/// MB/s (of uncompressed layer) for both appliers on a plain and a gzip layer.
pub fn rows(cx: &mut Context, work: &Path) -> Result<Vec<Row>> {
    let mb = cx.opts.import_mb;
    let tree = work.join("layer-tree");
    write_tree(&tree, mb, 0x5DEE_CE66)?;
    let plain = work.join("layer.tar");
    tar_dir(&tree, &plain)?;
    std::fs::remove_dir_all(&tree).map_err(BenchError::io(&tree))?;
    let gz = work.join("layer.tar.gz");
    let gz_file = std::fs::File::create(&gz).map_err(BenchError::io(&gz))?;
    run(Command::new("gzip").arg("-c").arg(&plain).stdout(gz_file))?;
    let size = std::fs::metadata(&plain)
        .map_err(BenchError::io(&plain))?
        .len();
    let mut rows = measure(cx, work, &plain, size, "layer-apply-tar")?;
    rows.extend(measure(cx, work, &gz, size, "layer-apply-tar.gz")?);
    cx.notes.push(format!(
        "import: layer-apply rows are MB/s of the {:.0} MB uncompressed layer (gzip default \
         level for .gz), page cache only (neither side fsyncs); vs_runc column = apply_layer \
         MB/s / tar MB/s in the same round",
        size as f64 / 1e6
    ));
    let _ = std::fs::remove_file(&plain);
    let _ = std::fs::remove_file(&gz);
    Ok(rows)
}

fn measure(cx: &Context, work: &Path, layer: &Path, size: u64, scenario: &str) -> Result<Vec<Row>> {
    let rounds = cx.opts.rounds.clamp(1, 7);
    let warmup = cx.opts.warmup.min(1);
    let mut vals: Vec<Vec<f64>> = vec![Vec::new(); APPLIERS.len()];
    let mut errors: Vec<Option<String>> = vec![None; APPLIERS.len()];
    for round in 0..warmup + rounds {
        for k in 0..APPLIERS.len() {
            let i = (round + k) % APPLIERS.len();
            let target = work.join(format!("apply-{i}-{round}"));
            std::fs::create_dir(&target).map_err(BenchError::io(&target))?;
            let t = Instant::now();
            let got = apply(i, layer, &target);
            let secs = t.elapsed().as_secs_f64();
            let _ = std::fs::remove_dir_all(&target);
            match got {
                Ok(()) if round >= warmup => vals[i].push(size as f64 / 1e6 / secs),
                Ok(()) => {}
                Err(e) => errors[i] = Some(e.to_string()),
            }
        }
    }
    Ok(paired_rows(
        "import", scenario, "MB/s", &APPLIERS, vals, errors,
    ))
}

fn apply(which: usize, layer: &Path, target: &Path) -> Result<()> {
    if which == 0 {
        return run(Command::new("tar")
            .args(["--numeric-owner", "-xpf"])
            .arg(layer)
            .arg("-C")
            .arg(target));
    }
    let f = std::fs::File::open(layer).map_err(BenchError::io(layer))?;
    apply_layer(f, target, &ApplyOptions::default())
        .map(|_| ())
        .map_err(|e| BenchError::Input {
            what: format!("apply_layer {}", layer.display()),
            why: e.to_string(),
        })
}
