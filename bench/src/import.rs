//! The `import` family (issues 8 and 19): `ctr image import` (with unpack) of a one-layer and a
//! 20-layer image through dm-content + dm-snapshotter versus containerd's built-in content
//! store and overlayfs snapshotter, on containerd 1.6 and (when Debian 13's is unpacked) on
//! containerd 1.7, where dm-snapshotter is also the diff plugin applying the layers; snapshot
//! Prepare+Commit latency, and layer application throughput versus `tar -x`.
//!
//! Each side gets one private containerd for the whole family; rounds alternate the sides
//! (order rotating), and every import is followed by an untimed `ctr image rm --sync`, which
//! makes containerd's GC remove the image's blobs and snapshots before the next round.

use crate::containerd::{Config, Containerd};
use crate::error::Result;
use crate::family::{Context, Family};
use crate::proxies::{Proxies, SNAPSHOTTER};
use crate::report::Row;
use crate::{layer_apply, oci_image, snapshot_latency, stats, sys};
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
    /// Storage services outside containerd whose CPU time counts for this side.
    pub services: Vec<u32>,
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
                services: Vec::new(),
            },
            Side {
                name: "dockermind proxies (dm-content + dm-snapshotter)",
                snapshotter: SNAPSHOTTER,
                containerd: Containerd::start(cx.dir.subdir("import-ctd-dm")?, &ours, ns)?,
                services: proxies.pids(),
            },
        ];
        let (sides17, proxies17) = containerd_1_7_sides(cx)?;
        let mb = cx.opts.import_mb;
        for (image, label) in [
            (&one, format!("1x{mb}MB")),
            (&twenty, format!("20-layers-{mb}MB")),
        ] {
            rows.extend(ctr_import(cx, &sides, image, &label, true));
            rows.extend(ctr_import(cx, &sides, image, &label, false));
            if !sides17.is_empty() {
                let label = format!("{label}-containerd1.7");
                rows.extend(ctr_import(cx, &sides17, image, &label, true));
                rows.extend(ctr_import(cx, &sides17, image, &label, false));
            }
        }
        rows.extend(snapshot_latency::ctr_rows(cx, &sides));
        cx.notes.push(format!(
            "import: ctr image import (unpack included) of OCI archives with {mb} MB of \
             half-compressible files in 1 and in 20 uncompressed layers; dm proxies from the {} \
             build; vs_runc column = ratio to the containerd built-in in the same round; \
             -no-unpack rows = the same import without unpacking (content ingest only); -cpu rows \
             = CPU time per import (with unpack) of containerd plus, for our side, dm-content and \
             dm-snapshotter; -containerd-cpu rows = containerd's share of it; -containerd1.7 rows \
             = the same on Debian 13's containerd 1.7 (ctr 1.7's default import through the \
             transfer service), our side adding dm-snapshotter as the diff plugin (layers \
             applied from dm-content's files), ratios to 1.7's built-ins; a third 1.7 side keeps \
             containerd's own content store and has dm-snapshotter (snapshots and diff) apply \
             layers from its blob files",
            proxies.profile
        ));
        drop(sides);
        drop(sides17);
        drop(proxies);
        drop(proxies17);
        let _ = std::fs::remove_dir_all(&work);
        cx.verify("import");
        Ok(rows)
    }
}

/// containerd 1.7's built-ins, our three proxies on containerd 1.7, and dm-snapshotter (with
/// its diff) over 1.7's own content store; each side with its own proxy processes (two
/// containerds garbage-collecting one snapshotter would remove each other's snapshots); none
/// when Debian 13's containerd is not unpacked.
fn containerd_1_7_sides(cx: &mut Context) -> Result<(Vec<Side>, Vec<Proxies>)> {
    let bin_dir = dm_integration::trixie_bin_dir();
    if !bin_dir.join("containerd").is_file() || !bin_dir.join("ctr").is_file() {
        cx.notes.push(format!(
            "import: containerd 1.7 rows skipped, no {} (scripts/trixie.sh containerd)",
            bin_dir.display()
        ));
        return Ok((Vec::new(), Vec::new()));
    }
    let proxies = Proxies::start(cx.dir.subdir("import-proxies-1.7")?)?;
    let builtin = Config {
        bin_dir: Some(bin_dir.clone()),
        ..Config::default()
    };
    let ours = Config {
        bin_dir: Some(bin_dir.clone()),
        disabled: vec!["io.containerd.content.v1.content".into()],
        extra_toml: proxies.toml_with_diff(),
        ..Config::default()
    };
    // The snapshotter reads layer blobs where containerd's built-in content store keeps them
    // (containerd.rs: root = <dir>/root), made before either starts.
    let ctd_dir = cx.dir.subdir("import-ctd17-snap")?;
    let content_root = ctd_dir.join("root/io.containerd.content.v1.content");
    std::fs::create_dir_all(&content_root).map_err(crate::error::BenchError::io(&content_root))?;
    let snap_only = Proxies::start_snapshotter(cx.dir.subdir("import-snap-1.7")?, &content_root)?;
    let snap_only_cfg = Config {
        bin_dir: Some(bin_dir),
        extra_toml: snap_only.snapshot_diff_toml(),
        ..Config::default()
    };
    let ns = format!("{}imp17", cx.ids.prefix());
    let sides = vec![
        Side {
            name: "containerd 1.7 built-in (content + overlayfs + walking differ)",
            snapshotter: "overlayfs",
            containerd: Containerd::start(
                cx.dir.subdir("import-ctd17-builtin")?,
                &builtin,
                ns.clone(),
            )?,
            services: Vec::new(),
        },
        Side {
            name: "dockermind proxies on containerd 1.7 (dm-content + dm-snapshotter + its diff)",
            snapshotter: SNAPSHOTTER,
            containerd: Containerd::start(cx.dir.subdir("import-ctd17-dm")?, &ours, ns.clone())?,
            services: proxies.pids(),
        },
        Side {
            name: "dm-snapshotter + its diff on containerd 1.7's own content store",
            snapshotter: SNAPSHOTTER,
            containerd: Containerd::start(ctd_dir, &snap_only_cfg, ns)?,
            services: snap_only.pids(),
        },
    ];
    Ok((sides, vec![proxies, snap_only]))
}

/// `ctr image import` of `image` on each side, interleaved: milliseconds per import and, with
/// `unpack`, the CPU time the side's containerd and storage services spent on it. `vs_runc`
/// holds the median ratio to the first side (the built-in).
fn ctr_import(cx: &Context, sides: &[Side], image: &Path, label: &str, unpack: bool) -> Vec<Row> {
    let rounds = cx.opts.rounds.clamp(1, 7);
    let warmup = cx.opts.warmup.min(1);
    // Per side: wall ms, CPU ms of containerd + services, CPU ms of containerd alone.
    let mut vals: [Vec<Vec<f64>>; 3] = Default::default();
    for v in &mut vals {
        *v = vec![Vec::new(); sides.len()];
    }
    let mut errors: Vec<Option<String>> = vec![None; sides.len()];
    let image = image.display().to_string();
    for round in 0..warmup + rounds {
        for k in 0..sides.len() {
            let i = (round + k) % sides.len();
            if errors[i].is_some() {
                continue;
            }
            let s = &sides[i];
            match import_once(s, &image, &format!("bench/r{round}"), unpack) {
                Ok(sample) if round >= warmup => {
                    for (v, x) in vals.iter_mut().zip(sample) {
                        v[i].push(x);
                    }
                }
                Ok(_) => {}
                Err(e) => errors[i] = Some(e.to_string()),
            }
        }
    }
    let names: Vec<&str> = sides.iter().map(|s| s.name).collect();
    let [wall, cpu, containerd_cpu] = vals;
    if !unpack {
        return paired_rows(
            "import",
            &format!("ctr-import-{label}-no-unpack"),
            "ms",
            &names,
            wall,
            errors,
        );
    }
    let mut rows = paired_rows(
        "import",
        &format!("ctr-import-{label}"),
        "ms",
        &names,
        wall,
        errors.clone(),
    );
    rows.extend(paired_rows(
        "import",
        &format!("ctr-import-{label}-cpu"),
        "ms",
        &names,
        cpu,
        errors.clone(),
    ));
    rows.extend(paired_rows(
        "import",
        &format!("ctr-import-{label}-containerd-cpu"),
        "ms",
        &names,
        containerd_cpu,
        errors,
    ));
    rows
}

/// One import then an untimed removal: wall ms, CPU ms of containerd + services, CPU ms of
/// containerd.
fn import_once(s: &Side, image: &str, base: &str, unpack: bool) -> Result<[f64; 3]> {
    let cpu = |pids: &[u32]| -> Result<f64> { pids.iter().map(|p| sys::cpu_ms(*p)).sum() };
    let mut pids = vec![s.containerd.pid()];
    pids.extend(&s.services);
    let (ctd0, all0) = (cpu(&pids[..1])?, cpu(&pids)?);
    let mut args = vec!["image", "import", "--snapshotter", s.snapshotter];
    if !unpack {
        args.push("--no-unpack");
    }
    args.extend(["--base-name", base, image]);
    let t = Instant::now();
    s.containerd.ctr(&args)?;
    let wall = t.elapsed().as_secs_f64() * 1000.0;
    let sample = [wall, cpu(&pids)? - all0, cpu(&pids[..1])? - ctd0];
    remove_images(&s.containerd)?;
    Ok(sample)
}

/// Removes every image in the namespace, waiting for containerd's GC to drop their content and
/// snapshots.
pub(crate) fn remove_images(d: &Containerd) -> Result<()> {
    let names = d.ctr(&["image", "ls", "-q"])?;
    for name in names.lines().filter(|l| !l.is_empty()) {
        d.ctr(&["image", "rm", "--sync", name])?;
    }
    Ok(())
}

/// One row per side (named by `names`) of `family`; `vs_runc` is the median of per-round
/// ratios to side 0.
pub fn paired_rows(
    family: &str,
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
                family: family.into(),
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
