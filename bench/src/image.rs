//! The `image` family (issue 14): pulls from a local docker-registry (plain HTTP on 127.0.0.1),
//! side by side and interleaved. Cold pull to unpacked-and-ready: `ctr image pull` (overlayfs),
//! `podman pull` and `dm-image pull`, each into empty storage; warm pull (everything present);
//! transfer alone: `skopeo copy docker:// oci:` versus `dm-image fetch` (content only), in MB/s
//! of registry bytes; peak RSS of `dm-image pull`; and dm-image's cold pull of the same payload
//! in 1, 10 and 50 layers.

use crate::containerd::{unmount_below, Config, Containerd};
use crate::error::{BenchError, Result};
use crate::family::{Context, Family};
use crate::import::{paired_rows, remove_images};
use crate::oci_image::write_image_tar;
use crate::report::Row;
use crate::sys;
use dm_integration::Registry;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Registry pull figures.
pub struct ImageFamily;

/// One tool compared.
enum Tool {
    Ctr(Containerd),
    Podman,
    DmImage(PathBuf),
}

impl Tool {
    fn name(&self) -> &'static str {
        match self {
            Tool::Ctr(_) => "ctr image pull (containerd 1.6, overlayfs)",
            Tool::Podman => "podman pull (overlay)",
            Tool::DmImage(_) => "dm-image pull",
        }
    }

    /// A cold then a warm pull of `image` into storage under `dir`: (cold ms, warm ms, peak
    /// RSS KiB of the cold pull when the tool is one process); storage removed after.
    fn pull_twice(&self, image: &str, dir: &Path) -> Result<(f64, f64, Option<u64>)> {
        let out = match self {
            Tool::Ctr(c) => {
                let cold = time(|| c.ctr(&["image", "pull", "--plain-http", image]).map(drop))?;
                let warm = time(|| c.ctr(&["image", "pull", "--plain-http", image]).map(drop))?;
                remove_images(c)?;
                (cold, warm, None)
            }
            Tool::Podman => {
                // podman refuses a runroot path longer than 50 characters.
                let run = std::env::temp_dir().join(format!("dmb-podman-{}", std::process::id()));
                let root = dir.join("podman-root");
                let pull = || {
                    let mut c = Command::new("podman");
                    c.arg("--root").arg(&root).arg("--runroot").arg(&run);
                    c.args(["--storage-driver", "overlay", "--cgroup-manager=cgroupfs"]);
                    c.args([
                        "--events-backend=file",
                        "pull",
                        "-q",
                        "--tls-verify=false",
                        image,
                    ]);
                    crate::oci_image::run(c.stdout(Stdio::null()))
                };
                let cold = time(pull)?;
                let warm = time(pull)?;
                unmount_below(dir);
                remove(&root)?;
                remove(&run)?;
                (cold, warm, None)
            }
            Tool::DmImage(bin) => {
                let root = dir.join("dm-root");
                let (cold, rss) = dm_image(bin, &root, &["pull", "-q", image])?;
                let (warm, _) = dm_image(bin, &root, &["pull", "-q", image])?;
                remove(&root)?;
                (cold, warm, Some(rss))
            }
        };
        Ok(out)
    }
}

/// Runs `f`, returning its wall time in ms.
fn time(f: impl FnOnce() -> Result<()>) -> Result<f64> {
    let t = Instant::now();
    f()?;
    Ok(t.elapsed().as_secs_f64() * 1000.0)
}

fn remove(p: &Path) -> Result<()> {
    match std::fs::remove_dir_all(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(BenchError::io(p)(e)),
        _ => Ok(()),
    }
}

/// Runs dm-image with `args` on `root`: (wall ms, peak RSS KiB).
fn dm_image(bin: &Path, root: &Path, args: &[&str]) -> Result<(f64, u64)> {
    let auth = root.with_extension("auth.json");
    if let Some(parent) = root.parent() {
        std::fs::create_dir_all(parent).map_err(BenchError::io(parent))?;
    }
    std::fs::write(&auth, "{}").map_err(BenchError::io(&auth))?;
    let mut c = Command::new(bin);
    c.arg("--root")
        .arg(root)
        .arg("--auth-file")
        .arg(&auth)
        .args(args);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    let shown = format!("{} {}", bin.display(), args.join(" "));
    let t = Instant::now();
    let child = c.spawn().map_err(|source| BenchError::Spawn {
        cmd: shown.clone(),
        source,
    })?;
    let reaped = sys::wait4(child.id())?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    if reaped.code != 0 {
        return Err(BenchError::Failed {
            cmd: shown,
            code: reaped.code,
            stderr: String::new(),
        });
    }
    Ok((ms, reaped.maxrss_kib))
}

/// Bytes of the blobs dm-image fetched under `root` (what came over the wire).
fn content_bytes(root: &Path) -> u64 {
    let dir = root.join("content/blobs/sha256");
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

impl Family for ImageFamily {
    fn name(&self) -> &'static str {
        "image"
    }

    fn run(&self, cx: &mut Context) -> Result<Vec<Row>> {
        for cmd in ["docker-registry", "skopeo"] {
            if dm_testkit::which(cmd).is_none() {
                cx.notes
                    .push(format!("image: skipped, {cmd} not installed"));
                return Ok(Vec::new());
            }
        }
        let work = cx.dir.subdir("image")?;
        let bin = dm_testkit::workspace_bin("dm-image");
        let registry = Registry::start(&work);
        let mb = cx.opts.import_mb;
        let mut images = Vec::new();
        for layers in [5, 1, 10, 50] {
            let tar = work.join(format!("img-{layers}.tar"));
            let scratch = work.join(format!("build-{layers}"));
            std::fs::create_dir_all(&scratch).map_err(BenchError::io(&scratch))?;
            write_image_tar(&tar, &scratch, layers, mb)?;
            images.push((
                layers,
                registry.push_oci_archive(&tar, &format!("bench/l{layers}:latest")),
            ));
            remove(&scratch)?;
            std::fs::remove_file(&tar).map_err(BenchError::io(&tar))?;
        }
        let mut tools = Vec::new();
        if dm_testkit::which("containerd").is_some() && dm_testkit::which("ctr").is_some() {
            let ns = format!("{}img", cx.ids.prefix());
            tools.push(Tool::Ctr(Containerd::start(
                cx.dir.subdir("image-ctd")?,
                &Config::default(),
                ns,
            )?));
        } else {
            cx.notes
                .push("image: ctr rows skipped, containerd or ctr not installed".into());
        }
        if dm_testkit::which("podman").is_some() {
            tools.push(Tool::Podman);
        }
        tools.push(Tool::DmImage(bin.clone()));
        let rounds = cx.opts.rounds.clamp(1, 7);
        let warmup = cx.opts.warmup.min(1);
        let main = &images[0].1;
        let n = tools.len();
        let (mut cold, mut warm) = (vec![Vec::new(); n], vec![Vec::new(); n]);
        let mut rss = Vec::new();
        let mut errors: Vec<Option<String>> = vec![None; n];
        for round in 0..warmup + rounds {
            for k in 0..n {
                let i = (round + k) % n;
                if errors[i].is_some() {
                    continue;
                }
                let dir = work.join(format!("r{round}-{i}"));
                match tools[i].pull_twice(main, &dir) {
                    Ok((c, w, r)) if round >= warmup => {
                        cold[i].push(c);
                        warm[i].push(w);
                        rss.extend(r.map(|kib| kib as f64 * 1024.0 / 1e6));
                    }
                    Ok(_) => {}
                    Err(e) => errors[i] = Some(e.to_string()),
                }
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        let names: Vec<&str> = tools.iter().map(Tool::name).collect();
        let label = format!("5-layers-{mb}MB");
        let mut rows = paired_rows(
            "image",
            &format!("pull-cold-{label}"),
            "ms",
            &names,
            cold,
            errors.clone(),
        );
        rows.extend(paired_rows(
            "image",
            &format!("pull-warm-{label}"),
            "ms",
            &names,
            warm,
            errors,
        ));
        rows.extend(paired_rows(
            "image",
            &format!("pull-peak-rss-{label}"),
            "MB",
            &["dm-image pull"],
            vec![rss],
            vec![None],
        ));
        rows.extend(transfer_rows(&bin, &work, main, rounds, warmup, &label)?);
        let mut by_layers = Vec::new();
        for (layers, image) in &images[1..] {
            let mut v = Vec::new();
            let mut err = None;
            for round in 0..warmup + rounds {
                let root = work.join(format!("layers-{layers}-{round}"));
                match dm_image(&bin, &root, &["pull", "-q", image]) {
                    Ok((ms, _)) if round >= warmup => v.push(ms),
                    Ok(_) => {}
                    Err(e) => err = Some(e.to_string()),
                }
                remove(&root)?;
            }
            by_layers.push((format!("pull-cold-{layers}-layers-{mb}MB"), v, err));
        }
        for (scenario, v, err) in by_layers {
            rows.extend(paired_rows(
                "image",
                &scenario,
                "ms",
                &["dm-image pull"],
                vec![v],
                vec![err],
            ));
        }
        cx.notes.push(format!(
            "image: pulls over plain HTTP from a local docker-registry of images made of {mb} MB of \
             half-compressible files (skopeo gzips the layers on push); cold = into empty storage, \
             unpacked; warm = the same pull again; vs_runc column = ratio to ctr image pull in the \
             same round (transfer rows: to skopeo); dm-image: {}",
            bin.display()
        ));
        drop(tools);
        drop(registry);
        let _ = std::fs::remove_dir_all(&work);
        cx.verify("image");
        Ok(rows)
    }
}

/// Transfer alone: skopeo copy to an OCI layout versus dm-image fetch, in MB/s of registry
/// bytes (the image's blobs, measured once by an untimed fetch).
fn transfer_rows(
    bin: &Path,
    work: &Path,
    image: &str,
    rounds: usize,
    warmup: usize,
    label: &str,
) -> Result<Vec<Row>> {
    let probe = work.join("xfer-size");
    dm_image(bin, &probe.join("dm-root"), &["fetch", image])?;
    let mb = content_bytes(&probe.join("dm-root")) as f64 / 1e6;
    remove(&probe)?;
    let mut vals = vec![Vec::new(), Vec::new()];
    let mut errors: Vec<Option<String>> = vec![None, None];
    for round in 0..warmup + rounds {
        for k in 0..2 {
            let i = (round + k) % 2;
            let dir = work.join(format!("xfer-{round}-{i}"));
            std::fs::create_dir_all(&dir).map_err(BenchError::io(&dir))?;
            let r = if i == 0 {
                let mut c = Command::new("skopeo");
                c.args(["--insecure-policy", "copy", "-q", "--src-tls-verify=false"])
                    .arg(format!("docker://{image}"))
                    .arg(format!("oci:{}:x", dir.join("oci").display()));
                time(|| crate::oci_image::run(&mut c))
            } else {
                dm_image(bin, &dir.join("dm-root"), &["fetch", image]).map(|(ms, _)| ms)
            };
            match r {
                Ok(ms) if round >= warmup => vals[i].push(mb / (ms / 1000.0)),
                Ok(_) => {}
                Err(e) => errors[i] = Some(e.to_string()),
            }
            remove(&dir)?;
        }
    }
    let names = ["skopeo copy docker:// oci:", "dm-image fetch"];
    Ok(paired_rows(
        "image",
        &format!("transfer-{label}"),
        "MB/s",
        &names,
        vals,
        errors,
    ))
}
