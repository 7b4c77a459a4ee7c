//! Pulling an image into the content store: resolve the reference to a manifest (choosing a
//! platform from an index), then fetch config and layers in parallel with a bounded pool.
//! Children are committed before the documents naming them (layers and config, then the
//! manifest, then the index), so a manifest in the store always has its content.

use crate::client::Client;
use crate::error::{RegistryError, Result};
use crate::fetch::{fetch_blob, put_bytes};
use crate::media::{self, ManifestKind};
use crate::platform::Platform;
use crate::progress::{Event, Progress};
use crate::reference::Reference;
use crate::repository::{Fetched, Repository};
use dm_content::{Digest, Store};
use oci_spec::image::{ImageIndex, ImageManifest};
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::Semaphore;

/// Settings of a pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The platform picked from an index.
    pub platform: Platform,
    /// Most blobs downloaded at once.
    pub concurrency: usize,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            platform: Platform::default(),
            concurrency: 3,
        }
    }
}

/// A blob a manifest names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// Its digest.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
}

/// What a pull stored.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The image manifest (for the chosen platform).
    pub manifest: Blob,
    /// The index the manifest was chosen from, if the reference named one.
    pub index: Option<Blob>,
    /// The image config.
    pub config: Blob,
    /// The layers, base first.
    pub layers: Vec<Blob>,
}

/// Pulls `reference` into `store`.
pub async fn pull(
    client: &Client,
    store: &Store,
    reference: &Reference,
    opts: &PullOptions,
    progress: &Progress,
) -> Result<Pulled> {
    pull_notify(client, store, reference, opts, progress, None).await
}

/// What a pull tells an unpacker working beside it.
#[derive(Debug, Clone)]
pub enum Ready {
    /// The image's config and layers, once the manifest is known.
    Plan {
        /// The config blob.
        config: Digest,
        /// The layers, base first.
        layers: Vec<Blob>,
    },
    /// A blob is in the store (fetched now or already there).
    Blob(Digest),
}

/// [`pull`], telling `ready` the plan and then each blob as it lands in the store, so
/// layers can be unpacked while later ones still download.
pub async fn pull_notify(
    client: &Client,
    store: &Store,
    reference: &Reference,
    opts: &PullOptions,
    progress: &Progress,
    ready: Option<UnboundedSender<Ready>>,
) -> Result<Pulled> {
    let repo = client.repository(reference)?;
    let top = repo.manifest(&reference.object()).await?;
    let what = || format!("manifest {reference}");
    let (manifest, index) = match media::manifest_kind(&top.media_type) {
        Some(ManifestKind::Manifest) => (top, None),
        Some(ManifestKind::Index) => {
            let chosen = select(&top.bytes, &reference.to_string(), &opts.platform)?;
            let m = repo.manifest(&chosen.digest.to_string()).await?;
            if m.bytes.len() as u64 != chosen.size {
                return Err(RegistryError::BadDocument {
                    what: format!("manifest {}", chosen.digest),
                    detail: format!("{} bytes, the index says {}", m.bytes.len(), chosen.size),
                });
            }
            if media::manifest_kind(&m.media_type) != Some(ManifestKind::Manifest) {
                return Err(RegistryError::UnknownMediaType {
                    what: format!("manifest {} in the index of {reference}", chosen.digest),
                    media_type: m.media_type,
                });
            }
            (m, Some(top))
        }
        None => {
            return Err(RegistryError::UnknownMediaType {
                what: what(),
                media_type: top.media_type,
            })
        }
    };
    progress.emit(Event::Resolved {
        reference: reference.to_string(),
        digest: manifest.digest.clone(),
    });
    let (config, layers) = parts(&manifest.bytes, &reference.to_string())?;
    let blobs: Vec<Blob> = std::iter::once(config.clone())
        .chain(layers.iter().cloned())
        .collect();
    if let Some(tx) = &ready {
        // A closed receiver (the unpacker stopped) is reported by the unpacker, not here.
        let _ = tx.send(Ready::Plan {
            config: config.digest.clone(),
            layers: layers.clone(),
        });
    }
    fetch_all(&repo, store, &blobs, opts.concurrency, progress, ready).await?;
    put_bytes(store, &manifest.digest, &manifest.bytes)?;
    let as_blob = |f: &Fetched| Blob {
        digest: f.digest.clone(),
        size: f.bytes.len() as u64,
        media_type: f.media_type.clone(),
    };
    if let Some(i) = &index {
        put_bytes(store, &i.digest, &i.bytes)?;
    }
    Ok(Pulled {
        manifest: as_blob(&manifest),
        index: index.as_ref().map(as_blob),
        config,
        layers,
    })
}

/// Config and layers of image manifest `bytes` (of image `what`), their media types checked.
pub(crate) fn parts(bytes: &[u8], what: &str) -> Result<(Blob, Vec<Blob>)> {
    let doc = ImageManifest::from_reader(bytes).map_err(|e| RegistryError::BadDocument {
        what: format!("manifest {what}"),
        detail: e.to_string(),
    })?;
    let config = blob_of(doc.config(), "config")?;
    if !media::is_config(&config.media_type) {
        return Err(RegistryError::UnknownMediaType {
            what: format!("config of {what}"),
            media_type: config.media_type,
        });
    }
    let mut layers = Vec::new();
    for (i, l) in doc.layers().iter().enumerate() {
        let b = blob_of(l, &format!("layer {i}"))?;
        if !media::is_layer(&b.media_type) {
            return Err(RegistryError::UnknownMediaType {
                what: format!("layer {i} ({}) of {what}", b.digest),
                media_type: b.media_type,
            });
        }
        layers.push(b);
    }
    Ok((config, layers))
}

/// Downloads `blobs` with at most `limit` at once; on the first failure the others stop and
/// their ingests are removed.
async fn fetch_all(
    repo: &Repository,
    store: &Store,
    blobs: &[Blob],
    limit: usize,
    progress: &Progress,
    ready: Option<UnboundedSender<Ready>>,
) -> Result<()> {
    let permits = Arc::new(Semaphore::new(limit.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for b in blobs {
        let (repo, store, progress, permits) = (
            repo.clone(),
            store.clone(),
            progress.clone(),
            permits.clone(),
        );
        let (b, ready) = (b.clone(), ready.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let out = fetch_blob(&repo, &store, &b.digest, b.size, &progress).await?;
            if let Some(tx) = ready {
                let _ = tx.send(Ready::Blob(b.digest.clone()));
            }
            Ok(out)
        });
    }
    let mut failed = None;
    while let Some(joined) = tasks.join_next().await {
        let r = joined
            .unwrap_or_else(|e| Err(RegistryError::Setup(format!("download task failed: {e}"))));
        if let Err(e) = r {
            failed = Some(e);
            break;
        }
    }
    let Some(e) = failed else { return Ok(()) };
    tasks.shutdown().await;
    for b in blobs {
        let _ = store.abort(&format!("dm-image-pull-{}", b.digest));
    }
    Err(e)
}

/// The entry of index `bytes` (of image `what`) that best serves `platform` (the first of
/// the best).
pub(crate) fn select(bytes: &[u8], what: &str, platform: &Platform) -> Result<Blob> {
    let doc = ImageIndex::from_reader(bytes).map_err(|e| RegistryError::BadDocument {
        what: format!("index {what}"),
        detail: e.to_string(),
    })?;
    let mut best: Option<(u8, &oci_spec::image::Descriptor)> = None;
    let mut available = Vec::new();
    for d in doc.manifests() {
        let Some(p) = d.platform().as_ref().map(Platform::of) else {
            continue;
        };
        available.push(p.to_string());
        if let Some(s) = platform.score(&p) {
            if best.is_none_or(|(b, _)| s > b) {
                best = Some((s, d));
            }
        }
    }
    match best {
        Some((_, d)) => blob_of(d, "index entry"),
        None => Err(RegistryError::NoPlatform {
            wanted: platform.to_string(),
            reference: what.to_owned(),
            available: if available.is_empty() {
                "no platforms".into()
            } else {
                available.join(", ")
            },
        }),
    }
}

pub(crate) fn blob_of(d: &oci_spec::image::Descriptor, what: &str) -> Result<Blob> {
    let digest =
        d.digest()
            .to_string()
            .parse::<Digest>()
            .map_err(|e| RegistryError::BadDocument {
                what: what.to_owned(),
                detail: e.to_string(),
            })?;
    Ok(Blob {
        digest,
        size: d.size(),
        media_type: d.media_type().to_string(),
    })
}
