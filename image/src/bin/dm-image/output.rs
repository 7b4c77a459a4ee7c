//! Writing results: archives to files (atomically) and image tables.

use anyhow::{bail, Context, Result};
use dm_image::Images;
use std::path::Path;

/// Saves to `output` through a temp file renamed at the end, or to stdout.
pub fn save(images: &Images, names: &[String], output: Option<&Path>) -> Result<()> {
    let Some(out) = output else {
        return Ok(images.save(names, std::io::stdout().lock())?);
    };
    let tmp = out.with_file_name(format!(
        ".{}.tmp-{}",
        out.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let written = std::fs::File::create(&tmp)
        .with_context(|| format!("--output {}", tmp.display()))
        .and_then(|f| {
            let mut w = std::io::BufWriter::new(f);
            images.save(names, &mut w)?;
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            Ok(())
        })
        .and_then(|()| {
            std::fs::rename(&tmp, out).with_context(|| format!("--output {}", out.display()))
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

pub fn list(images: &Images, quiet: bool, format: &str) -> Result<()> {
    let all = images.list()?;
    match format {
        "json" => println!("{}", serde_json::to_string_pretty(&all)?),
        "table" if quiet => all.iter().for_each(|s| println!("{}", s.name)),
        "table" => {
            println!("{:<50} {:<14} {:>10}", "NAME", "IMAGE ID", "SIZE");
            for s in all {
                let id = s.id.strip_prefix("sha256:").unwrap_or(&s.id);
                let size = format!("{:.1}MB", s.size as f64 / 1e6);
                println!("{:<50} {:<14} {size:>10}", s.name, &id[..12.min(id.len())]);
            }
        }
        other => bail!("--format {other:?}: expected table or json"),
    }
    Ok(())
}
