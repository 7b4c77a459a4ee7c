//! The image store: content (`<root>/content`), snapshots (`<root>/snapshots`) and name
//! records (`<root>/images`) together. Pull stores and unpacks, then names; remove drops a
//! name and then whatever blobs and snapshots no remaining name uses (reference counting by
//! what the other records hold).

mod load;
mod maintain;
mod save;

use crate::client::{Client, ClientOptions};
use crate::error::RegistryError;
use crate::progress::Progress;
use crate::pull::{pull, pull_notify, Blob, PullOptions, Ready};
use crate::records::{ImageRecord, Records, RecordsError};
use crate::reference::{Reference, ReferenceError};
use crate::unpack::{read_blob, unpack_when, UnpackError};
use dm_content::{Digest, Store};
use dm_snapshotter::{Mount, Snapshotter};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The default root, as in ARCHITECTURE.md.
pub const DEFAULT_ROOT: &str = "/var/lib/dockermind";

/// Errors of the image store.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A malformed image name.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The registry or the download failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A layer could not be unpacked.
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    /// The records file failed.
    #[error(transparent)]
    Records(#[from] RecordsError),
    /// The content store failed.
    #[error(transparent)]
    Content(#[from] dm_content::Error),
    /// The snapshotter failed.
    #[error(transparent)]
    Snapshot(#[from] dm_snapshotter::Error),
    /// No image has this name or id.
    #[error("image {0:?}: not found")]
    NotFound(String),
    /// The unpacking thread died.
    #[error("unpack task: {0}")]
    Task(String),
    /// An id prefix that matches several images.
    #[error("image id {0:?} is ambiguous: it matches several images")]
    Ambiguous(String),
}

/// Shorthand for this module's results.
pub type Result<T, E = ImageError> = std::result::Result<T, E>;

/// One line of `images`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The full reference.
    pub name: String,
    /// The image id (config digest).
    pub id: String,
    /// What the name points at (index or manifest digest).
    pub digest: String,
    /// When the name was set (seconds since the epoch).
    pub created: u64,
    /// Bytes of its unpacked layers on disk.
    pub size: i64,
}

/// What `inspect` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Details {
    /// The record.
    pub record: ImageRecord,
    /// The image config document.
    pub config: serde_json::Value,
    /// The layers as the manifest lists them (digest, size, media type).
    pub layers: Vec<serde_json::Value>,
    /// Bytes of the unpacked layers on disk.
    pub size: i64,
    /// Bytes of the stored blobs (compressed layers, config, manifests).
    pub content_size: u64,
}

/// What `remove` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Removed {
    /// The name removed.
    pub untagged: String,
    /// Blobs deleted (no other name used them).
    pub blobs: Vec<String>,
    /// Snapshots deleted.
    pub snapshots: Vec<String>,
}

/// An image store with its registry client.
pub struct Images {
    root: PathBuf,
    content: Store,
    snaps: Arc<Snapshotter>,
    records: Records,
    client: Client,
}

impl Images {
    /// Opens (creating) the store under `root`.
    pub fn open(root: &Path, opts: ClientOptions) -> Result<Images> {
        Ok(Images {
            root: root.to_owned(),
            content: Store::open(root.join("content"))?,
            snaps: Arc::new(Snapshotter::open(&root.join("snapshots"))?),
            records: Records::open(&root.join("images"))?,
            client: Client::new(opts),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The registry client (credentials and registry settings of this store's user).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The content store.
    pub fn content(&self) -> &Store {
        &self.content
    }

    /// The snapshotter.
    pub fn snapshotter(&self) -> &Snapshotter {
        &self.snaps
    }

    /// Pulls `reference`, unpacks its layers and names it.
    pub async fn pull(
        &self,
        reference: &Reference,
        opts: &PullOptions,
        progress: &Progress,
    ) -> Result<ImageRecord> {
        self.pull_with(&self.client, reference, opts, progress)
            .await
    }

    /// [`Images::pull`] with another registry client (other credentials).
    pub async fn pull_with(
        &self,
        client: &Client,
        reference: &Reference,
        opts: &PullOptions,
        progress: &Progress,
    ) -> Result<ImageRecord> {
        // Layers are unpacked as they land, beside the downloads still running.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (content, snaps, unpack_progress) =
            (self.content.clone(), self.snaps.clone(), progress.clone());
        let unpacker = tokio::task::spawn_blocking(move || {
            let Some(Ready::Plan { config, layers }) = rx.blocking_recv() else {
                return Ok(None);
            };
            let mut have = HashSet::new();
            let ready = |d: &Digest| {
                while !have.contains(d) {
                    match rx.blocking_recv() {
                        Some(Ready::Blob(b)) => {
                            have.insert(b);
                        }
                        Some(Ready::Plan { .. }) => {}
                        None => return false,
                    }
                }
                true
            };
            unpack_when(&content, &snaps, &config, &layers, &unpack_progress, ready).map(Some)
        });
        let pulled = pull_notify(client, &self.content, reference, opts, progress, Some(tx)).await;
        // Waited for even when the pull failed: it may be applying a layer right now.
        let unpacked = unpacker
            .await
            .map_err(|e| ImageError::Task(e.to_string()))?;
        let pulled = pulled?;
        let chain = match unpacked? {
            Some(chain) => chain,
            None => return Err(ImageError::Task("the pull ended without a plan".into())),
        };
        let target = pulled
            .index
            .clone()
            .unwrap_or_else(|| pulled.manifest.clone());
        let record = new_record(
            &reference.to_string(),
            &target,
            &pulled.manifest,
            &pulled.config,
            &pulled.layers,
            &chain,
        );
        // An unchanged image keeps its record (and its time), and the pull writes nothing.
        if let Some(old) = self.records.load()?.remove(&record.name) {
            let same = ImageRecord {
                created: old.created,
                ..record.clone()
            } == old;
            if same {
                return Ok(old);
            }
        }
        self.put_records(std::slice::from_ref(&record))?;
        Ok(record)
    }

    /// Adds or replaces `records`.
    fn put_records(&self, records: &[ImageRecord]) -> Result<()> {
        let mut all = self.records.load()?;
        for r in records {
            all.insert(r.name.clone(), r.clone());
        }
        self.records.save(&all)?;
        Ok(())
    }

    /// Downloads `reference` into the content store only.
    pub async fn fetch(
        &self,
        reference: &Reference,
        opts: &PullOptions,
        progress: &Progress,
    ) -> Result<crate::pull::Pulled> {
        Ok(pull(&self.client, &self.content, reference, opts, progress).await?)
    }

    /// Every image name, sorted.
    pub fn list(&self) -> Result<Vec<Summary>> {
        let all = self.records.load()?;
        Ok(all
            .values()
            .map(|r| Summary {
                name: r.name.clone(),
                id: r.config.clone(),
                digest: r.target.clone(),
                created: r.created,
                size: self.unpacked_size(r),
            })
            .collect())
    }

    fn unpacked_size(&self, r: &ImageRecord) -> i64 {
        r.chain_ids
            .iter()
            .filter_map(|c| self.snaps.usage(c).ok())
            .map(|u| u.size)
            .sum()
    }

    /// The record `name_or_id` names: a reference, or an id (config digest) or unique prefix.
    pub fn resolve(&self, name_or_id: &str) -> Result<ImageRecord> {
        let all = self.records.load()?;
        if let Ok(r) = name_or_id.parse::<Reference>() {
            if let Some(rec) = all.get(&r.to_string()) {
                return Ok(rec.clone());
            }
        }
        let hex = name_or_id.strip_prefix("sha256:").unwrap_or(name_or_id);
        let is_hex = !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit());
        let matches: Vec<&ImageRecord> = all
            .values()
            .filter(|r| {
                is_hex
                    && r.config
                        .strip_prefix("sha256:")
                        .is_some_and(|c| c.starts_with(hex))
            })
            .collect();
        let ids: HashSet<&String> = matches.iter().map(|r| &r.config).collect();
        match (matches.first(), ids.len()) {
            (Some(r), 1) => Ok((*r).clone()),
            (Some(_), _) => Err(ImageError::Ambiguous(name_or_id.to_owned())),
            (None, _) => {
                // A malformed name is worth its own message when it is not an id either.
                name_or_id.parse::<Reference>()?;
                Err(ImageError::NotFound(name_or_id.to_owned()))
            }
        }
    }

    /// Config, layers and sizes of an image.
    pub fn inspect(&self, name_or_id: &str) -> Result<Details> {
        let record = self.resolve(name_or_id)?;
        let config_bytes = read_blob(&self.content, &record.config.parse()?)?;
        let config = serde_json::from_slice(&config_bytes).unwrap_or(serde_json::Value::Null);
        let manifest_bytes = read_blob(&self.content, &record.manifest.parse()?)?;
        let manifest: serde_json::Value =
            serde_json::from_slice(&manifest_bytes).unwrap_or(serde_json::Value::Null);
        let layers = manifest
            .get("layers")
            .and_then(|l| l.as_array())
            .cloned()
            .unwrap_or_default();
        let mut seen = HashSet::new();
        let content_size = record
            .blobs()
            .filter(|b| seen.insert(*b))
            .filter_map(|b| b.parse().ok().and_then(|d| self.content.size(&d).ok()))
            .sum();
        Ok(Details {
            size: self.unpacked_size(&record),
            record,
            config,
            layers,
            content_size,
        })
    }

    /// Gives the image `source` names the extra name `target`.
    pub fn tag(&self, source: &str, target: &str) -> Result<ImageRecord> {
        let rec = self.resolve(source)?;
        let target: Reference = target.parse()?;
        let mut all = self.records.load()?;
        let new = ImageRecord {
            name: target.to_string(),
            created: now(),
            ..rec
        };
        all.insert(new.name.clone(), new.clone());
        self.records.save(&all)?;
        Ok(new)
    }

    /// Removes the name `name` and the blobs and snapshots no other name uses. Snapshots
    /// still used by a container (children) stay.
    pub fn remove(&self, name: &str) -> Result<Removed> {
        let rec = self.resolve(name)?;
        let mut all: BTreeMap<String, ImageRecord> = self.records.load()?;
        all.remove(&rec.name);
        self.records.save(&all)?;
        let live_blobs: HashSet<&String> = all.values().flat_map(ImageRecord::blobs).collect();
        let live_chains: HashSet<&String> = all.values().flat_map(|r| &r.chain_ids).collect();
        let mut out = Removed {
            untagged: rec.name.clone(),
            ..Default::default()
        };
        for chain in rec.chain_ids.iter().rev() {
            if live_chains.contains(chain) {
                break;
            }
            match self.snaps.remove(chain) {
                Ok(()) => out.snapshots.push(chain.clone()),
                Err(dm_snapshotter::Error::NotFound(_)) => {}
                // A container's snapshot sits on it: it and its parents stay.
                Err(dm_snapshotter::Error::FailedPrecondition { .. }) => break,
                Err(e) => return Err(e.into()),
            }
        }
        let mut seen = HashSet::new();
        for blob in rec.blobs().filter(|b| seen.insert(*b)) {
            if live_blobs.contains(blob) {
                continue;
            }
            match self.content.delete(&blob.parse()?) {
                Ok(()) => out.blobs.push(blob.clone()),
                Err(dm_content::Error::BlobNotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// Makes a writable snapshot `key` on top of the image's layers (a container's rootfs);
    /// returns its mounts.
    pub fn prepare(&self, name_or_id: &str, key: &str) -> Result<Vec<Mount>> {
        let rec = self.resolve(name_or_id)?;
        let parent = rec.chain_ids.last().cloned().unwrap_or_default();
        Ok(self.snaps.prepare(key, &parent, HashMap::new())?)
    }
}

/// A record for `name` of the image made of these stored and unpacked parts.
fn new_record(
    name: &str,
    target: &Blob,
    manifest: &Blob,
    config: &Blob,
    layers: &[Blob],
    chain: &[Digest],
) -> ImageRecord {
    ImageRecord {
        name: name.to_owned(),
        target: target.digest.to_string(),
        target_media_type: target.media_type.clone(),
        manifest: manifest.digest.to_string(),
        config: config.digest.to_string(),
        layers: layers.iter().map(|l| l.digest.to_string()).collect(),
        chain_ids: chain.iter().map(Digest::to_string).collect(),
        created: now(),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
