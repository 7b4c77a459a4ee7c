//! The `import` family (issue 8): `ctr image import` (with unpack) of a one-layer and a
//! 20-layer image through dm-content + dm-snapshotter versus containerd's built-in content
//! store and overlayfs snapshotter, snapshot Prepare+Commit latency, and layer application
//! throughput versus `tar -x`.
//!
//! Each side gets one private containerd for the whole family; rounds alternate the sides
//! (order rotating), and every import is followed by an untimed `ctr image rm --sync`, which
//! makes containerd's GC remove the image's blobs and snapshots before the next round.

use crate::containerd::{Config, Containerd};
use crate::error::Result;
use crate::family::{Context, Family};
use crate::proxies::{Proxies, SNAPSHOTTER};
use crate::report::Row;
use crate::{layer_apply, oci_image, snapshot_latency, stats};
use std::path::Path;
use std::time::Instant;

/// One containerd setup compared.
pub struct Side {
    /// Name in the table.
    pub name: &'static str,
    /// Snapshotter passed to ctr.
    pub snapshotter: &'static str,
    /// The containerd.
    pub containerd: Containerd,
}

/// Import, snapshot and layer-apply figures.
pub struct ImportFamily;

impl Family for ImportFamily {
    fn name(&self) -> &'static str {
        "import"
    }

    fn run(&self, cx: &mut Context) -> Result<Vec<Row>> {
        let work = cx.dir.subdir("import")?;
        let mut rows = layer_apply::rows(cx, &work)?;
        rows.extend(snapshot_latency::library_rows(cx, &work)?);
        if dm_testkit::which("containerd").is_none() || dm_testkit::which("ctr").is_none() {
            cx.notes
                .push("import: ctr rows skipped, containerd or ctr not installed".into());
            return Ok(rows);
        }
        let one = work.join("image-1-layer.tar");
        let twenty = work.join("image-20-layers.tar");
        oci_image::write_image_tar(&one, &work, 1, cx.opts.import_mb)?;
        oci_image::write_image_tar(&twenty, &work, 20, cx.opts.import_mb)?;

        let proxies = Proxies::start(cx.dir.subdir("import-proxies")?)?;
        let ours = Config {
            disabled: vec!["io.containerd.content.v1.content".into()],
            extra_toml: proxies.toml(),
            ..Config::default()
        };
        let ns = format!("{}imp", cx.ids.prefix());
        let sides = [
            Side {
                name: "containerd built-in (content + overlayfs)",
                snapshotter: "overlayfs",
                containerd: Containerd::start(
                    cx.dir.subdir("import-ctd-builtin")?,
                    &Config::default(),
                    ns.clone(),
                )?,
            },
            Side {
                name: "dockermind proxies (dm-content + dm-snapshotter)",
                snapshotter: SNAPSHOTTER,
                containerd: Containerd::start(cx.dir.subdir("import-ctd-dm")?, &ours, ns)?,
            },
        ];
        let mb = cx.opts.import_mb;
        rows.extend(ctr_import(
            cx,
            &sides,
            &one,
            &format!("ctr-import-1x{mb}MB"),
        ));
        rows.extend(ctr_import(
            cx,
            &sides,
            &twenty,
            &format!("ctr-import-20-layers-{mb}MB"),
        ));
        rows.extend(snapshot_latency::ctr_rows(cx, &sides));
        cx.notes.push(format!(
            "import: ctr image import (unpack included) of OCI archives with {mb} MB of \
             half-compressible files in 1 and in 20 uncompressed layers; dm proxies from the {} \
             build; vs_runc column = ratio to the containerd built-in in the same round",
            proxies.profile
        ));
        drop(sides);
        drop(proxies);
        let _ = std::fs::remove_dir_all(&work);
        cx.verify("import");
        Ok(rows)
    }
}

/// Milliseconds per `ctr image import` of `image` on each side, interleaved; `vs_runc` holds the
/// median ratio to the first side (the built-in).
fn ctr_import(cx: &Context, sides: &[Side], image: &Path, scenario: &str) -> Vec<Row> {
    let rounds = cx.opts.rounds.clamp(1, 7);
    let warmup = cx.opts.warmup.min(1);
    let mut vals: Vec<Vec<f64>> = vec![Vec::new(); sides.len()];
    let mut errors: Vec<Option<String>> = vec![None; sides.len()];
    let image = image.display().to_string();
    for round in 0..warmup + rounds {
        for k in 0..sides.len() {
            let i = (round + k) % sides.len();
            if errors[i].is_some() {
                continue;
            }
            let s = &sides[i];
            let base = format!("bench/r{round}");
            let t = Instant::now();
            let got = s.containerd.ctr(&[
                "image",
                "import",
                "--snapshotter",
                s.snapshotter,
                "--base-name",
                &base,
                &image,
            ]);
            let secs = t.elapsed().as_secs_f64();
            let got = got.and_then(|_| remove_images(&s.containerd));
            match got {
                Ok(()) if round >= warmup => vals[i].push(secs * 1000.0),
                Ok(()) => {}
                Err(e) => errors[i] = Some(e.to_string()),
            }
        }
    }
    let names: Vec<&str> = sides.iter().map(|s| s.name).collect();
    paired_rows(scenario, "ms", &names, vals, errors)
}

/// Removes every image in the namespace, waiting for containerd's GC to drop their content and
/// snapshots.
fn remove_images(d: &Containerd) -> Result<()> {
    let names = d.ctr(&["image", "ls", "-q"])?;
    for name in names.lines().filter(|l| !l.is_empty()) {
        d.ctr(&["image", "rm", "--sync", name])?;
    }
    Ok(())
}

/// One row per side (named by `names`); `vs_runc` is the median of per-round ratios to side 0.
pub fn paired_rows(
    scenario: &str,
    unit: &str,
    names: &[&str],
    vals: Vec<Vec<f64>>,
    mut errors: Vec<Option<String>>,
) -> Vec<Row> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let ratios: Vec<f64> = vals[i].iter().zip(&vals[0]).map(|(a, b)| a / b).collect();
            Row {
                family: "import".into(),
                scenario: scenario.into(),
                runtime: (*name).into(),
                unit: unit.into(),
                rounds: vals[i].len(),
                median: stats::median(&vals[i]),
                min: stats::min(&vals[i]),
                max: stats::max(&vals[i]),
                vs_crun: None,
                vs_runc: stats::median(&ratios),
                error: errors[i].take(),
            }
        })
        .collect()
}
