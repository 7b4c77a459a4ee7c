//! The `import` family (issue 8's hook): content-store ingest and snapshotter unpack figures.
//!
//! An [`Importer`] takes a payload file and stores it its own way; the family times each over
//! the same payload in alternating rounds and reports MB/s. The content store and snapshotter
//! crates add their importers to [`importers`]; the floor below is what writing the bytes with
//! the same durability (temp file, fsync, rename) costs on this disk.

use crate::error::{BenchError, Result};
use crate::family::{Context, Family};
use crate::report::Row;
use crate::stats;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// One way to import a payload (a blob, or later an image layer or layout).
pub trait Importer {
    /// Name in the table.
    fn name(&self) -> &'static str;
    /// Imports `payload` into a store under the empty directory `work`; returns bytes stored.
    fn import(&self, payload: &Path, work: &Path) -> Result<u64>;
}

/// The importers measured, in table order.
pub fn importers() -> Vec<Box<dyn Importer>> {
    vec![Box::new(CopyFloor)]
}

/// Copy into a temp file, fsync, rename: the floor any content store's ingest sits on.
struct CopyFloor;

impl Importer for CopyFloor {
    fn name(&self) -> &'static str {
        "copy+fsync+rename (floor)"
    }

    fn import(&self, payload: &Path, work: &Path) -> Result<u64> {
        let tmp = work.join("ingest.tmp");
        let n = std::fs::copy(payload, &tmp).map_err(BenchError::io(&tmp))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(BenchError::io(&tmp))?;
        let dst = work.join("blob");
        std::fs::rename(&tmp, &dst).map_err(BenchError::io(&dst))?;
        Ok(n)
    }
}

/// Import throughput of every registered importer.
pub struct ImportFamily;

impl Family for ImportFamily {
    fn name(&self) -> &'static str {
        "import"
    }

    fn run(&self, cx: &mut Context) -> Result<Vec<Row>> {
        let payload = cx.dir.path().join("payload.bin");
        write_payload(&payload, cx.opts.import_mb)?;
        let list = importers();
        let mut vals: Vec<Vec<f64>> = vec![Vec::new(); list.len()];
        let mut errors: Vec<Option<String>> = vec![None; list.len()];
        let rounds = cx.opts.rounds.min(5);
        for round in 0..cx.opts.warmup.min(1) + rounds {
            for (i, imp) in list.iter().enumerate() {
                if errors[i].is_some() {
                    continue;
                }
                let work = cx.dir.subdir(&format!("import-{i}-{round}"))?;
                let start = Instant::now();
                let got = imp.import(&payload, &work);
                let secs = start.elapsed().as_secs_f64();
                let _ = std::fs::remove_dir_all(&work);
                match got {
                    Ok(bytes) if round >= cx.opts.warmup.min(1) => {
                        vals[i].push(bytes as f64 / 1e6 / secs)
                    }
                    Ok(_) => {}
                    Err(e) => errors[i] = Some(e.to_string()),
                }
            }
        }
        let _ = std::fs::remove_file(&payload);
        cx.notes.push(format!(
            "import: a {} MB incompressible payload in the scratch dir's filesystem",
            cx.opts.import_mb
        ));
        Ok(list
            .iter()
            .enumerate()
            .map(|(i, imp)| Row {
                family: "import".into(),
                scenario: "import-throughput".into(),
                runtime: imp.name().into(),
                unit: "MB/s".into(),
                rounds: vals[i].len(),
                median: stats::median(&vals[i]),
                min: stats::min(&vals[i]),
                max: stats::max(&vals[i]),
                vs_crun: None,
                vs_runc: None,
                error: errors[i].take(),
            })
            .collect())
    }
}

/// `mb` MB of xorshift bytes: incompressible, so no layer below can cheat.
fn write_payload(path: &Path, mb: usize) -> Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(BenchError::io(path))?);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..mb {
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        f.write_all(&buf).map_err(BenchError::io(path))?;
    }
    f.flush().map_err(BenchError::io(path))
}
