//! Synthetic OCI images for the import family: an OCI image layout tar whose layers hold
//! half-compressible file data (1 MiB files plus a share of 4 KiB ones), built without network.

use crate::error::{BenchError, Result};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;
use std::process::Command;

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// Small files per MB of layer (they exercise per-entry cost, the big ones throughput).
const SMALL_PER_MB: usize = 10;

/// Fills `dir` with about `mb` MB of files: per MB, 10 files of 4 KiB and one of the rest.
pub fn write_tree(dir: &Path, mb: usize, seed: u64) -> Result<()> {
    std::fs::create_dir_all(dir.join("small")).map_err(BenchError::io(dir))?;
    let mut x = seed | 1;
    for i in 0..mb.max(1) {
        for j in 0..SMALL_PER_MB {
            let p = dir.join(format!("small/{i}-{j}"));
            write_file(&p, 4096, &mut x)?;
        }
        let p = dir.join(format!("big-{i}"));
        write_file(&p, (1 << 20) - SMALL_PER_MB * 4096, &mut x)?;
    }
    Ok(())
}

/// `len` bytes of xorshift output masked to 6 bits a byte: roughly 2:1 under gzip, so neither
/// the compressed nor the plain path is trivially cheap.
fn write_file(path: &Path, len: usize, x: &mut u64) -> Result<()> {
    let mut buf = vec![0u8; len];
    for chunk in buf.chunks_mut(8) {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        let v = (*x & 0x3f3f_3f3f_3f3f_3f3f) | 0x4040_4040_4040_4040;
        chunk.copy_from_slice(&v.to_le_bytes()[..chunk.len()]);
    }
    let mut f = std::fs::File::create(path).map_err(BenchError::io(path))?;
    f.write_all(&buf).map_err(BenchError::io(path))
}

/// Tars the contents of `dir` into `out` as root-owned entries.
pub fn tar_dir(dir: &Path, out: &Path) -> Result<()> {
    run(Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(dir)
        .arg("-cf")
        .arg(out)
        .arg("."))
}

/// Runs `cmd`, failing with its stderr when it exits non-zero.
pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|source| BenchError::Spawn {
        cmd: shown.clone(),
        source,
    })?;
    if !out.status.success() {
        return Err(BenchError::Failed {
            cmd: shown,
            code: out.status.code().unwrap_or(-1),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

/// Writes to `out` an OCI layout tar of one image (tag `latest`) with `layers` uncompressed
/// layers sharing `mb` MB between them; `work` is a scratch dir.
pub fn write_image_tar(out: &Path, work: &Path, layers: usize, mb: usize) -> Result<()> {
    let layout = work.join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(BenchError::io(&blobs))?;
    let per_layer = (mb / layers.max(1)).max(1);
    let mut descs = Vec::new();
    for i in 0..layers.max(1) {
        let tree = work.join(format!("tree-{i}"));
        write_tree(
            &tree.join(format!("layer-{i}")),
            per_layer,
            0x9E37_79B9 + i as u64,
        )?;
        let tmp = work.join("layer.tar");
        tar_dir(&tree, &tmp)?;
        std::fs::remove_dir_all(&tree).map_err(BenchError::io(&tree))?;
        descs.push(put_file(&blobs, &tmp, LAYER)?);
    }
    let diff_ids: Vec<_> = descs.iter().map(|d| d["digest"].clone()).collect();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = put(&blobs, &json(&config)?, CONFIG)?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": config,
        "layers": descs,
    });
    let mut manifest = put(&blobs, &json(&manifest)?, MANIFEST)?;
    manifest["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "latest"});
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [manifest]});
    let p = layout.join("index.json");
    std::fs::write(&p, json(&index)?).map_err(BenchError::io(&p))?;
    let p = layout.join("oci-layout");
    std::fs::write(&p, br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(BenchError::io(&p))?;
    tar_dir(&layout, out)?;
    std::fs::remove_dir_all(&layout).map_err(BenchError::io(&layout))
}

fn json(v: &serde_json::Value) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|source| BenchError::Json {
        what: "image document".into(),
        source,
    })
}

/// Stores `data` as a blob; returns its descriptor.
fn put(blobs: &Path, data: &[u8], media_type: &str) -> Result<serde_json::Value> {
    let hex = format!("{:x}", Sha256::digest(data));
    let p = blobs.join(&hex);
    std::fs::write(&p, data).map_err(BenchError::io(&p))?;
    Ok(descriptor(&hex, data.len() as u64, media_type))
}

/// Moves file `src` into `blobs` under its digest; returns its descriptor.
fn put_file(blobs: &Path, src: &Path, media_type: &str) -> Result<serde_json::Value> {
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(src).map_err(BenchError::io(src))?;
    let size = std::io::copy(&mut f, &mut h).map_err(BenchError::io(src))?;
    let hex = format!("{:x}", h.finalize());
    let p = blobs.join(&hex);
    std::fs::rename(src, &p).map_err(BenchError::io(&p))?;
    Ok(descriptor(&hex, size, media_type))
}

fn descriptor(hex: &str, size: u64, media_type: &str) -> serde_json::Value {
    serde_json::json!({
        "mediaType": media_type,
        "digest": format!("sha256:{hex}"),
        "size": size,
    })
}
