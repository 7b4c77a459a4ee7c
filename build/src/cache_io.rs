//! Build cache export and import through a directory or a registry (BuildKit's `type=local`
//! and `type=registry`), so a CI machine or a colleague starts from another machine's layers.
//! Either way the cache is one OCI artifact: its config maps step keys to cache entries, its
//! layers are the entries' blobs; a directory holds it as an OCI image layout, a registry as a
//! manifest under a tag. Imported layers are unpacked when a step hits them (see the builder).

use crate::cache::{Cache, Entry};
use crate::error::{BuildError, Result};
use dm_content::{Digest, Store};
use dm_image::{Blob, Images, Progress, PushOptions, PushSource, Reference};
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
    /// A registry tag: `type=registry,ref=HOST/REPO:TAG`.
    Registry(Reference),
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
            Some("registry") => {
                let r = fields
                    .get("ref")
                    .ok_or_else(|| format!("{arg} {value:?}: type=registry needs ref="))?;
                r.parse()
                    .map(CacheRef::Registry)
                    .map_err(|e| format!("{arg} {value:?}: ref: {e}"))
            }
            Some(other) => Err(format!(
                "{arg} {value:?}: cache type {other:?} is not supported (type=local or type=registry)"
            )),
            None => Err(format!(
                "{arg} {value:?}: missing type= (type=local or type=registry)"
            )),
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

/// The cache artifact for `keys`: its config document and its layer descriptors.
fn artifact(cache: &Cache, keys: &[String]) -> Result<(Value, Vec<Value>)> {
    let mut entries = BTreeMap::new();
    let mut layers: Vec<Value> = Vec::new();
    for key in keys {
        let Some(e) = cache.get(key) else { continue };
        if let Some(l) = &e.layer {
            if !layers.iter().any(|x| x["digest"] == l.digest.as_str()) {
                layers.push(json!({"mediaType": l.media_type, "digest": l.digest, "size": l.size}));
            }
        }
        entries.insert(key.clone(), e);
    }
    Ok((json!({ "entries": entries }), layers))
}

fn manifest_of(config: &Value, layers: &[Value]) -> Value {
    json!({
        "schemaVersion": 2, "mediaType": MANIFEST, "artifactType": ARTIFACT,
        "config": config, "layers": layers,
    })
}

/// Exports the entries of `keys` and their layer blobs to `to`, replacing an earlier export.
pub fn export(images: &Images, cache: &Cache, keys: &[String], to: &CacheRef) -> Result<()> {
    let (config, layers) = artifact(cache, keys)?;
    match to {
        CacheRef::Local(dir) => export_dir(images.content(), &config, &layers, dir),
        CacheRef::Registry(target) => export_registry(images, &config, &layers, target),
    }
}

fn export_dir(store: &Store, config: &Value, layers: &[Value], dir: &Path) -> Result<()> {
    for l in layers {
        let d: Digest = l["digest"]
            .as_str()
            .unwrap_or_default()
            .parse()
            .map_err(|_| BuildError::Cache(format!("bad layer digest {}", l["digest"])))?;
        let to = blob_path(dir, &d);
        if !to.exists() {
            let from = store.blob_path(&d);
            std::fs::create_dir_all(to.parent().unwrap_or(dir)).map_err(io("create", dir))?;
            let tmp = to.with_extension("partial");
            std::fs::copy(&from, &tmp).map_err(io("copy", &from))?;
            std::fs::rename(&tmp, &to).map_err(io("rename", &to))?;
        }
    }
    let config = put_json(dir, CONFIG, config)?;
    let manifest = manifest_of(&config, layers);
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

/// A runtime for the registry client (dm-build is otherwise synchronous).
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| BuildError::io("start", Path::new("tokio runtime"), e))
}

/// Stores a small JSON document in `store`; returns it as a blob.
fn store_json(store: &Store, media_type: &str, v: &Value) -> Result<Blob> {
    let data = serde_json::to_vec(v).unwrap_or_default();
    let digest = Digest::of(&data);
    store.put("dm-build-cache", &digest, &data)?;
    Ok(Blob {
        digest,
        size: data.len() as u64,
        media_type: media_type.into(),
    })
}

fn export_registry(
    images: &Images,
    config: &Value,
    layers: &[Value],
    target: &Reference,
) -> Result<()> {
    let store = images.content();
    let config = store_json(store, CONFIG, config)?;
    let config_desc =
        json!({"mediaType": CONFIG, "digest": config.digest.to_string(), "size": config.size});
    let manifest = store_json(store, MANIFEST, &manifest_of(&config_desc, layers))?;
    let layers = layers
        .iter()
        .map(|l| {
            Ok(Blob {
                digest: l["digest"]
                    .as_str()
                    .unwrap_or_default()
                    .parse()
                    .map_err(|_| BuildError::Cache(format!("bad layer digest {}", l["digest"])))?,
                size: l["size"].as_u64().unwrap_or_default(),
                media_type: l["mediaType"].as_str().unwrap_or_default().to_owned(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let src = PushSource {
        manifest,
        config,
        layers,
        from: None,
    };
    runtime()?
        .block_on(dm_image::push(
            images.client(),
            store,
            &src,
            target,
            &PushOptions::default(),
            &Progress::default(),
        ))
        .map_err(|e| BuildError::Cache(format!("push to {target}: {e}")))?;
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

/// Imports the cache at `from`: every blob into the content store (verified), every entry
/// the local cache lacks into `cache`. Returns how many entries were added.
pub fn import(images: &Images, cache: &Cache, from: &CacheRef) -> Result<usize> {
    let entries = match from {
        CacheRef::Local(dir) => import_dir(images.content(), dir)?,
        CacheRef::Registry(r) => import_registry(images, r)?,
    };
    let mut added = 0;
    for (key, e) in entries {
        if cache.get(&key).is_none() {
            cache.put(&key, &e)?;
            added += 1;
        }
    }
    Ok(added)
}

fn entries_of(config: &[u8], from: &str) -> Result<BTreeMap<String, Entry>> {
    let bad = |m: String| BuildError::Cache(format!("cache {from}: {m}"));
    let config: Value = serde_json::from_slice(config).map_err(|e| bad(e.to_string()))?;
    serde_json::from_value(config["entries"].clone()).map_err(|e| bad(format!("entries: {e}")))
}

fn import_registry(images: &Images, r: &Reference) -> Result<BTreeMap<String, Entry>> {
    let bad = |m: String| BuildError::Cache(format!("pull {r}: {m}"));
    let store = images.content();
    // Not an image (its config is the entries), so the blobs are fetched one by one; each is
    // verified against its digest as it lands.
    let config = runtime()?.block_on(async {
        let repo = images
            .client()
            .repository(r)
            .map_err(|e| bad(e.to_string()))?;
        let m = repo
            .manifest(&r.object())
            .await
            .map_err(|e| bad(e.to_string()))?;
        let manifest: Value = serde_json::from_slice(&m.bytes).map_err(|e| bad(e.to_string()))?;
        if manifest["artifactType"] != ARTIFACT {
            return Err(bad(format!(
                "not a build cache (artifactType {})",
                manifest["artifactType"]
            )));
        }
        let blobs = std::iter::once(&manifest["config"])
            .chain(manifest["layers"].as_array().into_iter().flatten());
        for b in blobs {
            let d: Digest = b["digest"]
                .as_str()
                .unwrap_or_default()
                .parse()
                .map_err(|_| bad(format!("bad digest {}", b["digest"])))?;
            let size = b["size"].as_u64().unwrap_or_default();
            dm_image::fetch_blob(&repo, store, &d, size, &Progress::default())
                .await
                .map_err(|e| bad(e.to_string()))?;
        }
        let d: Digest = manifest["config"]["digest"]
            .as_str()
            .unwrap_or_default()
            .parse()
            .map_err(|_| bad("bad config digest".into()))?;
        Ok::<_, BuildError>(dm_image::unpack::read_blob(store, &d)?)
    })?;
    entries_of(&config, &r.to_string())
}

fn import_dir(store: &Store, dir: &Path) -> Result<BTreeMap<String, Entry>> {
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
    let config = read_verified(
        dir,
        manifest["config"]["digest"].as_str().unwrap_or_default(),
    )?;
    let entries = entries_of(&config, &dir.display().to_string())?;
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
    Ok(entries)
}

impl std::fmt::Display for CacheRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheRef::Local(d) => write!(f, "{}", d.display()),
            CacheRef::Registry(r) => write!(f, "{r}"),
        }
    }
}
