//! Build cache export and import through a directory (BuildKit's `type=local` idea), so a CI
//! machine or a colleague starts from another machine's layers. The directory is an OCI image
//! layout holding one artifact: its config maps step keys to cache entries, its layers are the
//! entries' blobs. Imported layers are unpacked when a step hits them (see the builder).

use crate::cache::{Cache, Entry};
use crate::error::{BuildError, Result};
use dm_content::{Digest, Store};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The artifact type of an exported cache.
pub const ARTIFACT: &str = "application/vnd.dockermind.build-cache.v1";
const CONFIG: &str = "application/vnd.dockermind.build-cache.config.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Where a cache goes or comes from (`--cache-to` / `--cache-from`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheRef {
    /// A local directory: `type=local,dest=DIR` (export) or `type=local,src=DIR` (import).
    Local(PathBuf),
}

impl CacheRef {
    /// Parses BuildKit's `type=local,dest=DIR` / `src=DIR` form; `arg` names the flag in
    /// errors.
    pub fn parse(arg: &str, value: &str) -> std::result::Result<CacheRef, String> {
        let mut fields = BTreeMap::new();
        for part in value.split(',') {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("{arg} {value:?}: expected key=value pairs"))?;
            fields.insert(k.trim(), v.trim());
        }
        match fields.get("type").copied() {
            Some("local") => {
                let dir = fields
                    .get("dest")
                    .or_else(|| fields.get("src"))
                    .ok_or_else(|| format!("{arg} {value:?}: type=local needs dest= or src="))?;
                Ok(CacheRef::Local(PathBuf::from(dir)))
            }
            Some(other) => Err(format!(
                "{arg} {value:?}: cache type {other:?} is not supported (type=local)"
            )),
            None => Err(format!("{arg} {value:?}: missing type= (type=local)")),
        }
    }
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> BuildError + 'a {
    move |e| BuildError::io(op, path, e)
}

fn blob_path(dir: &Path, d: &Digest) -> PathBuf {
    dir.join("blobs").join(d.algorithm().name()).join(d.hex())
}

/// Writes `data` as a blob of the layout in `dir`; returns its descriptor.
fn put_json(dir: &Path, media_type: &str, v: &Value) -> Result<Value> {
    let data = serde_json::to_vec(v).unwrap_or_default();
    let d = Digest::of(&data);
    let p = blob_path(dir, &d);
    let parent = p.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent).map_err(io("create", parent))?;
    dm_content::write_atomic(&p, &data)?;
    Ok(json!({"mediaType": media_type, "digest": d.to_string(), "size": data.len()}))
}

/// Exports the entries of `keys` and their layer blobs from `store` into `dir`, replacing what
/// an earlier export left there.
pub fn export(cache: &Cache, keys: &[String], store: &Store, dir: &Path) -> Result<()> {
    let mut entries = BTreeMap::new();
    let mut layers = Vec::new();
    for key in keys {
        let Some(e) = cache.get(key) else { continue };
        if let Some(l) = &e.layer {
            let d: Digest = l
                .digest
                .parse()
                .map_err(|_| BuildError::Cache(format!("entry {key}: bad digest {}", l.digest)))?;
            let to = blob_path(dir, &d);
            if !to.exists() {
                let from = store.blob_path(&d);
                std::fs::create_dir_all(to.parent().unwrap_or(dir)).map_err(io("create", dir))?;
                let tmp = to.with_extension("partial");
                std::fs::copy(&from, &tmp).map_err(io("copy", &from))?;
                std::fs::rename(&tmp, &to).map_err(io("rename", &to))?;
            }
            if !layers
                .iter()
                .any(|x: &Value| x["digest"] == l.digest.as_str())
            {
                layers.push(json!({"mediaType": l.media_type, "digest": l.digest, "size": l.size}));
            }
        }
        entries.insert(key.clone(), e);
    }
    let config = put_json(dir, CONFIG, &json!({ "entries": entries }))?;
    let manifest = json!({
        "schemaVersion": 2, "mediaType": MANIFEST, "artifactType": ARTIFACT,
        "config": config, "layers": layers,
    });
    let mut desc = put_json(dir, MANIFEST, &manifest)?;
    desc["annotations"] = json!({"org.opencontainers.image.ref.name": "cache"});
    let index = json!({"schemaVersion": 2, "manifests": [desc]});
    let p = dir.join("oci-layout");
    dm_content::write_atomic(&p, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let p = dir.join("index.json");
    let data = serde_json::to_vec(&index).unwrap_or_default();
    dm_content::write_atomic(&p, &data)?;
    remove_unreferenced(dir, &manifest, &config, &desc);
    Ok(())
}

/// Drops blobs of earlier exports that the new one does not name (best effort).
fn remove_unreferenced(dir: &Path, manifest: &Value, config: &Value, desc: &Value) {
    let mut keep: Vec<String> = manifest["layers"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|x| x["digest"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for d in [config, desc] {
        keep.extend(d["digest"].as_str().map(str::to_owned));
    }
    let blobs = dir.join("blobs/sha256");
    let Ok(rd) = std::fs::read_dir(&blobs) else {
        return;
    };
    for e in rd.flatten() {
        let name = format!("sha256:{}", e.file_name().to_string_lossy());
        if !keep.contains(&name) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Reads a layout blob, checking it against its digest.
fn read_verified(dir: &Path, digest: &str) -> Result<Vec<u8>> {
    let d: Digest = digest
        .parse()
        .map_err(|_| BuildError::Cache(format!("{}: bad digest {digest}", dir.display())))?;
    let p = blob_path(dir, &d);
    let data = std::fs::read(&p).map_err(io("read", &p))?;
    if Digest::of(&data) != d {
        return Err(BuildError::Cache(format!(
            "{}: does not match its digest",
            p.display()
        )));
    }
    Ok(data)
}

/// Imports the cache in `dir`: every blob into `store` (verified), every entry the local
/// cache lacks into `cache`. Returns how many entries were added.
pub fn import(cache: &Cache, store: &Store, dir: &Path) -> Result<usize> {
    let bad = |m: &str| BuildError::Cache(format!("cache {}: {m}", dir.display()));
    let p = dir.join("index.json");
    let index: Value = serde_json::from_slice(&std::fs::read(&p).map_err(io("read", &p))?)
        .map_err(|e| bad(&e.to_string()))?;
    let desc = index["manifests"]
        .as_array()
        .and_then(|m| m.iter().find(|d| d["mediaType"] == MANIFEST))
        .ok_or_else(|| bad("index.json names no cache manifest"))?;
    let manifest: Value = serde_json::from_slice(&read_verified(
        dir,
        desc["digest"].as_str().unwrap_or_default(),
    )?)
    .map_err(|e| bad(&e.to_string()))?;
    if manifest["artifactType"] != ARTIFACT {
        return Err(bad(&format!(
            "not a build cache (artifactType {})",
            manifest["artifactType"]
        )));
    }
    let config: Value = serde_json::from_slice(&read_verified(
        dir,
        manifest["config"]["digest"].as_str().unwrap_or_default(),
    )?)
    .map_err(|e| bad(&e.to_string()))?;
    let entries: BTreeMap<String, Entry> = serde_json::from_value(config["entries"].clone())
        .map_err(|e| bad(&format!("entries: {e}")))?;
    for l in manifest["layers"].as_array().into_iter().flatten() {
        let digest = l["digest"].as_str().unwrap_or_default();
        let d: Digest = digest
            .parse()
            .map_err(|_| bad(&format!("bad digest {digest}")))?;
        if store.size(&d).is_ok() {
            continue;
        }
        let p = blob_path(dir, &d);
        let mut f = std::fs::File::open(&p).map_err(io("open", &p))?;
        let reference = format!("dm-build-cache-import-{}", d.hex());
        let mut w = match store.writer(&reference, None, Some(d.clone())) {
            Ok(w) => w,
            Err(dm_content::Error::AlreadyExists(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).map_err(io("read", &p))?;
            if n == 0 {
                break;
            }
            w.write(&buf[..n])?;
        }
        // A blob that does not match its name is refused here and leaves nothing stored.
        if let Err(e) = w.commit(None, None, &Default::default()) {
            let _ = store.abort(&reference);
            return Err(e.into());
        }
    }
    let mut added = 0;
    for (key, e) in entries {
        if cache.get(&key).is_none() {
            cache.put(&key, &e)?;
            added += 1;
        }
    }
    Ok(added)
}
