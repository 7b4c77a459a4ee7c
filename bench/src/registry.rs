//! The `registry` family (issue 15): dm-registry against Debian's docker-registry
//! (distribution), skopeo as the client: push and pull MB/s of a one-layer image, p99 latency
//! of 50 concurrent manifest GETs, and idle RSS.
//!
//! Every push round starts both registries afresh (a registry that already holds the blob
//! would answer skopeo's HEAD and skip the upload, and skopeo's blob cache would mount it from
//! an earlier repository); the sides alternate order per round. The layer is gzipped once
//! before the rounds, as image layers are: skopeo then sends it as it is, whereas it gzips an
//! uncompressed layer on every push to a registry (`--dest-decompress` only affects the `dir`
//! transport), which would measure skopeo's gzip rather than the registry.

use crate::error::{BenchError, Result};
use crate::family::{Context, Family};
use crate::import::paired_rows;
use crate::report::Row;
use crate::{oci_image, smaps};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Concurrent manifest GETs per latency round.
const CONCURRENT: usize = 50;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Distribution,
    Dm,
}

/// A running registry with a private root; killed on drop.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(kind: Kind, dir: &Path, dm_bin: &Path) -> Result<Server> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(BenchError::io(dir))?;
        let log = std::fs::File::create(dir.join("log")).map_err(BenchError::io(dir))?;
        match kind {
            Kind::Distribution => {
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .map_err(BenchError::io("127.0.0.1:0"))?
                    .port();
                let addr = format!("127.0.0.1:{port}");
                let cfg = dir.join("config.yml");
                std::fs::write(
                    &cfg,
                    format!(
                        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
                         storage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                        dir.join("data").display()
                    ),
                )
                .map_err(BenchError::io(&cfg))?;
                let child = Command::new("docker-registry")
                    .arg("serve")
                    .arg(&cfg)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .map_err(|source| BenchError::Spawn {
                        cmd: "docker-registry serve".into(),
                        source,
                    })?;
                let s = Server { child, addr };
                let deadline = Instant::now() + Duration::from_secs(30);
                while TcpStream::connect(&s.addr).is_err() {
                    if Instant::now() > deadline {
                        return Err(BenchError::Input {
                            what: "docker-registry".into(),
                            why: "did not listen within 30 s".into(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(s)
            }
            Kind::Dm => {
                let mut child = Command::new(dm_bin)
                    .arg("--root")
                    .arg(dir.join("data"))
                    .args(["--listen", "127.0.0.1:0"])
                    .env("RUST_LOG", "warn")
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(log)
                    .spawn()
                    .map_err(|source| BenchError::Spawn {
                        cmd: dm_bin.display().to_string(),
                        source,
                    })?;
                let mut line = String::new();
                if let Some(out) = child.stdout.take() {
                    let _ = BufReader::new(out).read_line(&mut line);
                }
                let addr = line
                    .trim()
                    .strip_prefix("dm-registry listening on ")
                    .unwrap_or_default()
                    .to_owned();
                let s = Server { child, addr };
                if s.addr.is_empty() {
                    return Err(BenchError::Input {
                        what: "dm-registry".into(),
                        why: "did not print its address".into(),
                    });
                }
                Ok(s)
            }
        }
    }

    fn rss_mb(&self) -> Result<f64> {
        Ok(smaps::of_pid(self.child.id())?.rss_kib as f64 * 1024.0 / 1e6)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn skopeo(args: &[&str]) -> Result<()> {
    let out = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "-q"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| BenchError::Spawn {
            cmd: "skopeo".into(),
            source,
        })?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err(BenchError::Failed {
        cmd: format!("skopeo copy {}", args.join(" ")),
        code: out.status.code().unwrap_or(-1),
        stderr: err
            .chars()
            .rev()
            .take(400)
            .collect::<String>()
            .chars()
            .rev()
            .collect(),
    })
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("blobs/sha256"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// One GET of a manifest on a fresh connection; its latency in ms.
fn get_manifest(addr: &str, repo: &str) -> Option<f64> {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).ok()?;
    write!(
        s,
        "GET /v2/{repo}/manifests/latest HTTP/1.1\r\nHost: {addr}\r\n\
         Accept: application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    buf.starts_with(b"HTTP/1.1 200")
        .then(|| t.elapsed().as_secs_f64() * 1000.0)
}

/// The 99th percentile of `xs` (nearest rank).
fn p99(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    let rank = ((xs.len() as f64) * 0.99).ceil() as usize;
    xs.get(rank.saturating_sub(1)).copied()
}

/// Push and pull throughput, manifest latency under 50 concurrent pulls, idle RSS.
pub struct RegistryFamily;

impl Family for RegistryFamily {
    fn name(&self) -> &'static str {
        "registry"
    }

    fn run(&self, cx: &mut Context) -> Result<Vec<Row>> {
        for cmd in ["skopeo", "docker-registry"] {
            if dm_testkit::which(cmd).is_none() {
                cx.notes
                    .push(format!("registry: skipped, {cmd} not installed"));
                return Ok(Vec::new());
            }
        }
        let Ok(dm_bin) = std::panic::catch_unwind(|| dm_testkit::workspace_bin("dm-registry"))
        else {
            cx.notes.push(
                "registry: skipped, dm-registry not built (cargo build -p dm-registry)".into(),
            );
            return Ok(Vec::new());
        };
        let work = cx.dir.subdir("registry")?;
        let mb = cx.opts.import_mb;
        let big = self::layout(&work, "big", mb)?;
        let small = self::layout(&work, "small", 1)?;
        let bytes = dir_bytes(&big) as f64;
        let kinds = [Kind::Distribution, Kind::Dm];
        let names = ["docker-registry (distribution)", "dm-registry"];
        let rounds = cx.opts.rounds.clamp(1, 5);
        let mut push = vec![Vec::new(); 2];
        let mut pull = vec![Vec::new(); 2];
        let mut lat = vec![Vec::new(); 2];
        let mut rss = vec![Vec::new(); 2];
        let mut errors: Vec<Option<String>> = vec![None; 2];
        for round in 0..rounds {
            for k in 0..2 {
                let i = (round + k) % 2;
                if errors[i].is_some() {
                    continue;
                }
                let dir = work.join(format!("server-{i}"));
                let r = (|| -> Result<[f64; 4]> {
                    let s = Server::start(kinds[i], &dir, &dm_bin)?;
                    let dest = format!("docker://{}/bench/big:latest", s.addr);
                    let t = Instant::now();
                    skopeo(&[
                        "--dest-tls-verify=false",
                        &format!("oci:{}:latest", big.display()),
                        &dest,
                    ])?;
                    let push_mbs = bytes / 1e6 / t.elapsed().as_secs_f64();
                    let out = work.join(format!("pulled-{i}"));
                    let _ = std::fs::remove_dir_all(&out);
                    let t = Instant::now();
                    skopeo(&[
                        "--src-tls-verify=false",
                        &dest,
                        &format!("oci:{}:latest", out.display()),
                    ])?;
                    let pull_mbs = bytes / 1e6 / t.elapsed().as_secs_f64();
                    let _ = std::fs::remove_dir_all(&out);
                    skopeo(&[
                        "--dest-tls-verify=false",
                        &format!("oci:{}:latest", small.display()),
                        &format!("docker://{}/bench/small:latest", s.addr),
                    ])?;
                    let idle = s.rss_mb()?;
                    let barrier = Barrier::new(CONCURRENT);
                    let samples: Vec<Option<f64>> = std::thread::scope(|sc| {
                        let hs: Vec<_> = (0..CONCURRENT)
                            .map(|_| {
                                sc.spawn(|| {
                                    barrier.wait();
                                    get_manifest(&s.addr, "bench/small")
                                })
                            })
                            .collect();
                        hs.into_iter().map(|h| h.join().ok().flatten()).collect()
                    });
                    let ok: Vec<f64> = samples.iter().flatten().copied().collect();
                    if ok.len() != CONCURRENT {
                        return Err(BenchError::Input {
                            what: names[i].into(),
                            why: format!(
                                "{} of {CONCURRENT} manifest GETs failed",
                                CONCURRENT - ok.len()
                            ),
                        });
                    }
                    Ok([push_mbs, pull_mbs, p99(ok).unwrap_or(0.0), idle])
                })();
                let _ = std::fs::remove_dir_all(&dir);
                match r {
                    Ok([a, b, c, d]) => {
                        push[i].push(a);
                        pull[i].push(b);
                        lat[i].push(c);
                        rss[i].push(d);
                    }
                    Err(e) => errors[i] = Some(e.to_string()),
                }
            }
        }
        let mut rows = paired_rows(
            "registry",
            &format!("push-{mb}MB"),
            "MB/s",
            &names,
            push,
            errors.clone(),
        );
        rows.extend(paired_rows(
            "registry",
            &format!("pull-{mb}MB"),
            "MB/s",
            &names,
            pull,
            errors.clone(),
        ));
        rows.extend(paired_rows(
            "registry",
            &format!("manifest-get-p99-{CONCURRENT}-concurrent"),
            "ms",
            &names,
            lat,
            errors.clone(),
        ));
        rows.extend(paired_rows(
            "registry", "idle-rss", "MB", &names, rss, errors,
        ));
        cx.notes.push(format!(
            "registry: skopeo pushes (an image of {mb} MB uncompressed: one layer, gzipped \
             beforehand to {:.1} MB, which skopeo sends as it is; MB/s of those bytes) to and \
             pulls from a fresh registry per round (sides alternating), then {CONCURRENT} \
             threads GET a small manifest at once on fresh connections (p99 of the round), \
             idle RSS after that push; dm-registry: {}; vs_runc column = ratio to \
             docker-registry in the same round",
            bytes / 1e6,
            dm_bin.display()
        ));
        let _ = std::fs::remove_dir_all(&work);
        cx.verify("registry");
        Ok(rows)
    }
}

/// An OCI layout dir `<work>/<name>` holding one image of about `mb` MB.
fn layout(work: &Path, name: &str, mb: usize) -> Result<PathBuf> {
    let scratch = work.join(format!("{name}-build"));
    std::fs::create_dir_all(&scratch).map_err(BenchError::io(&scratch))?;
    let tar = work.join(format!("{name}.tar"));
    oci_image::write_image_tar(&tar, &scratch, 1, mb)?;
    let dir = work.join(name);
    std::fs::create_dir_all(&dir).map_err(BenchError::io(&dir))?;
    let st = Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(&dir)
        .status()
        .map_err(|source| BenchError::Spawn {
            cmd: "tar".into(),
            source,
        })?;
    if !st.success() {
        return Err(BenchError::Failed {
            cmd: format!("tar -xf {}", tar.display()),
            code: st.code().unwrap_or(-1),
            stderr: String::new(),
        });
    }
    let _ = std::fs::remove_file(&tar);
    let _ = std::fs::remove_dir_all(&scratch);
    gzip_layers(&dir)?;
    Ok(dir)
}

fn read_json(p: &Path) -> Result<serde_json::Value> {
    let b = std::fs::read(p).map_err(BenchError::io(p))?;
    serde_json::from_slice(&b).map_err(|source| BenchError::Json {
        what: p.display().to_string(),
        source,
    })
}

/// Stores `data` in the layout's blobs; returns its `sha256:` digest.
fn put_blob(blobs: &Path, data: &[u8]) -> Result<String> {
    let hex = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(data));
    let p = blobs.join(&hex);
    std::fs::write(&p, data).map_err(BenchError::io(&p))?;
    Ok(format!("sha256:{hex}"))
}

/// Replaces the uncompressed layers of the layout's image by `gzip -1` ones (the config's
/// diff_ids stay: they name the uncompressed tars), rewriting its manifest and index.
fn gzip_layers(dir: &Path) -> Result<()> {
    let blobs = dir.join("blobs/sha256");
    let blob = |d: &str| blobs.join(d.trim_start_matches("sha256:"));
    let index_path = dir.join("index.json");
    let mut index = read_json(&index_path)?;
    let old = index["manifests"][0]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut manifest = read_json(&blob(&old))?;
    let layers = manifest["layers"].as_array_mut().into_iter().flatten();
    for layer in layers {
        let plain = blob(layer["digest"].as_str().unwrap_or_default());
        let gz = blobs.join("layer.gz");
        let out = std::fs::File::create(&gz).map_err(BenchError::io(&gz))?;
        oci_image::run(
            Command::new("gzip")
                .args(["-1", "-n", "-c"])
                .arg(&plain)
                .stdout(out),
        )?;
        let data = std::fs::read(&gz).map_err(BenchError::io(&gz))?;
        let _ = std::fs::remove_file(&gz);
        let _ = std::fs::remove_file(&plain);
        layer["digest"] = put_blob(&blobs, &data)?.into();
        layer["size"] = data.len().into();
        layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip".into();
    }
    let bytes = serde_json::to_vec(&manifest).map_err(|source| BenchError::Json {
        what: "manifest".into(),
        source,
    })?;
    let _ = std::fs::remove_file(blob(&old));
    index["manifests"][0]["digest"] = put_blob(&blobs, &bytes)?.into();
    index["manifests"][0]["size"] = bytes.len().into();
    std::fs::write(&index_path, index.to_string()).map_err(BenchError::io(&index_path))
}
