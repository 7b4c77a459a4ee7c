//! A stage's image as it grows (config, layers, history, cache key), the base images it
//! starts from, and the finished image written to dm-content and named in dm-image's records.

use crate::cache::Entry;
use crate::error::{BuildError, Result};
use crate::layer::{Layer, LAYER_GZIP};
use crate::parser::{Command, Step};
use dm_content::Digest;
use dm_image::records::{ImageRecord, Records};
use dm_image::unpack::read_blob;
use dm_image::{Images, Platform, Progress, PullOptions, Reference};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A stage's image so far.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// The config's `config` object.
    pub config: Value,
    /// Architecture and OS of the base.
    pub platform: (String, String),
    /// Layers with their media types, base first.
    pub layers: Vec<(Layer, String)>,
    /// History entries.
    pub history: Vec<Value>,
    /// The cache key of the last step.
    pub key: String,
    /// ARG values in effect in this stage.
    pub args: BTreeMap<String, String>,
}

impl State {
    /// FROM scratch.
    pub fn scratch() -> State {
        State {
            config: json!({"Env": [DEFAULT_PATH]}),
            platform: ("amd64".into(), "linux".into()),
            key: "scratch".into(),
            ..Default::default()
        }
    }

    /// Variables for expansion: ARGs, overridden by ENV.
    pub fn vars(&self) -> BTreeMap<String, String> {
        let mut out = self.args.clone();
        for e in self.env() {
            if let Some((k, v)) = e.split_once('=') {
                out.insert(k.to_owned(), v.to_owned());
            }
        }
        out
    }

    /// The Env list.
    pub fn env(&self) -> Vec<String> {
        self.config["Env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Sets one Env entry, replacing the same key.
    pub fn set_env(&mut self, k: &str, v: &str) {
        let mut env: Vec<String> = self
            .env()
            .into_iter()
            .filter(|e| e.split_once('=').map_or(e.as_str(), |p| p.0) != k)
            .collect();
        env.push(format!("{k}={v}"));
        self.config["Env"] = json!(env);
    }

    /// The working directory (`/` when unset).
    pub fn workdir(&self) -> String {
        match self.config["WorkingDir"].as_str() {
            Some(w) if !w.is_empty() => w.to_owned(),
            _ => "/".into(),
        }
    }

    /// argv of a command: exec form as is, shell form through SHELL.
    pub fn argv(&self, c: &Command) -> Vec<String> {
        match c {
            Command::Exec(v) => v.clone(),
            Command::Shell(s) => {
                let mut sh: Vec<String> = self.config["Shell"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                if sh.is_empty() {
                    sh = vec!["/bin/sh".into(), "-c".into()];
                }
                sh.push(s.clone());
                sh
            }
        }
    }

    /// The key of a step after this state.
    pub fn next_key(&self, text: &str, extra: &Value) -> String {
        let doc = json!({"parent": self.key, "step": text, "extra": extra});
        Digest::of(doc.to_string().as_bytes()).to_string()
    }

    fn diff_ids(&self) -> Vec<Digest> {
        self.layers
            .iter()
            .filter_map(|(l, _)| l.diff_id.parse().ok())
            .collect()
    }

    /// The snapshot holding the current root (none for an empty image).
    pub fn chain_id(&self) -> Option<String> {
        dm_image::chain_ids(&self.diff_ids())
            .last()
            .map(Digest::to_string)
    }

    /// The chain ID after adding a layer with `diff_id`.
    pub fn chain_after(&self, diff_id: &str) -> String {
        let mut ids = self.diff_ids();
        ids.extend(diff_id.parse().ok());
        dm_image::chain_ids(&ids)
            .last()
            .map(Digest::to_string)
            .unwrap_or_default()
    }

    /// Adds a layer made by the build.
    pub fn push_layer(&mut self, l: Layer) {
        let media_type = l.media_type.clone();
        self.layers.push((l, media_type));
    }

    /// Adds the history entry of `step`.
    pub fn push_history(&mut self, step: &Step, e: &Entry, empty: bool) {
        let mut h = json!({"created": e.created, "created_by": step.text, "comment": "dm-build"});
        if empty {
            h["empty_layer"] = true.into();
        }
        self.history.push(h);
    }
}

/// The state of an image in the store, pulled first (for `platform`) if missing.
pub fn base(images: &Images, name: &str, platform: Option<&Platform>) -> Result<State> {
    let rec = match images.resolve(name) {
        Ok(r) => r,
        Err(dm_image::ImageError::NotFound(_)) => {
            let reference: Reference = name.parse().map_err(dm_image::ImageError::from)?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| BuildError::io("start", std::path::Path::new("tokio runtime"), e))?;
            let opts = PullOptions {
                platform: platform.cloned().unwrap_or_default(),
                ..Default::default()
            };
            rt.block_on(images.pull(&reference, &opts, &Progress::default()))?
        }
        Err(e) => return Err(e.into()),
    };
    let blob = |d: &str| -> Result<Value> {
        let d: Digest = d.parse()?;
        let bytes = read_blob(images.content(), &d)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            BuildError::io(
                "parse",
                &images.root().join(d.to_string()),
                std::io::Error::other(e),
            )
        })
    };
    let config = blob(&rec.config)?;
    let manifest = blob(&rec.manifest)?;
    let diff_ids = config
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let descs = manifest["layers"].as_array().cloned().unwrap_or_default();
    let layers = descs
        .iter()
        .zip(&diff_ids)
        .map(|(d, id)| {
            let l = Layer {
                digest: d["digest"].as_str().unwrap_or_default().to_owned(),
                diff_id: id.as_str().unwrap_or_default().to_owned(),
                size: d["size"].as_u64().unwrap_or(0),
                media_type: d["mediaType"].as_str().unwrap_or(LAYER_GZIP).to_owned(),
            };
            (l, d["mediaType"].as_str().unwrap_or(LAYER_GZIP).to_owned())
        })
        .collect();
    let mut cfg = config["config"].clone();
    if !cfg.is_object() {
        cfg = json!({});
    }
    Ok(State {
        config: cfg,
        platform: (
            config["architecture"]
                .as_str()
                .unwrap_or("amd64")
                .to_owned(),
            config["os"].as_str().unwrap_or("linux").to_owned(),
        ),
        layers,
        history: config["history"].as_array().cloned().unwrap_or_default(),
        key: format!("image:{}", rec.config),
        args: BTreeMap::new(),
    })
}

/// Writes the config and manifest of `st` and names it `tags`; returns the id and the names.
pub fn write(images: &Images, st: &State, tags: &[String]) -> Result<(String, Vec<String>)> {
    let created = st
        .history
        .last()
        .and_then(|h| h["created"].as_str())
        .unwrap_or("1970-01-01T00:00:00Z")
        .to_owned();
    let mut cfg = st.config.clone();
    if let Some(o) = cfg.as_object_mut() {
        o.retain(|_, v| !v.is_null());
    }
    let config = json!({
        "created": created,
        "architecture": st.platform.0,
        "os": st.platform.1,
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": st.layers.iter().map(|(l, _)| &l.diff_id).collect::<Vec<_>>()},
        "history": st.history,
    });
    let config_bytes = serde_json::to_vec(&config).unwrap_or_default();
    let config_digest = Digest::of(&config_bytes);
    images
        .content()
        .put("dm-build", &config_digest, &config_bytes)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest.to_string(), "size": config_bytes.len()},
        "layers": st.layers.iter().map(|(l, mt)| json!({"mediaType": mt, "digest": l.digest, "size": l.size})).collect::<Vec<_>>(),
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap_or_default();
    let manifest_digest = Digest::of(&manifest_bytes);
    images
        .content()
        .put("dm-build", &manifest_digest, &manifest_bytes)?;
    let records = Records::open(&images.root().join("images"))?;
    let mut all = records.load()?;
    let mut names = Vec::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let chain = dm_image::chain_ids(&st.diff_ids());
    let mut changed = false;
    for t in tags {
        let name = t
            .parse::<Reference>()
            .map_err(dm_image::ImageError::from)?
            .to_string();
        names.push(name.clone());
        // An unchanged rebuild keeps the record (and its time) as it is, writing nothing.
        if all
            .get(&name)
            .is_some_and(|r| r.manifest == manifest_digest.to_string())
        {
            continue;
        }
        changed = true;
        all.insert(
            name.clone(),
            ImageRecord {
                name: name.clone(),
                target: manifest_digest.to_string(),
                target_media_type: OCI_MANIFEST.into(),
                manifest: manifest_digest.to_string(),
                config: config_digest.to_string(),
                layers: st.layers.iter().map(|(l, _)| l.digest.clone()).collect(),
                chain_ids: chain.iter().map(Digest::to_string).collect(),
                created: now,
            },
        );
    }
    if changed {
        records.save(&all)?;
    }
    Ok((config_digest.to_string(), names))
}
