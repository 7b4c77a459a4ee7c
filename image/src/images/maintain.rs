//! Pruning what no name uses, and pushing a stored image.

use super::{ImageError, Images, Removed, Result};
use crate::error::RegistryError;
use crate::progress::Progress;
use crate::pull::Blob;
use crate::push::{push, PushOptions, PushSource};
use crate::records::ImageRecord;
use crate::reference::Reference;
use crate::unpack::read_blob;
use dm_content::Digest;
use std::collections::HashSet;

impl Images {
    /// Deletes what no image name uses: blobs, committed snapshots without children, and
    /// interrupted ingests.
    pub fn prune(&self) -> Result<Removed> {
        let all = self.records.load()?;
        let live_blobs: HashSet<&String> = all.values().flat_map(ImageRecord::blobs).collect();
        let live_chains: HashSet<&String> = all.values().flat_map(|r| &r.chain_ids).collect();
        let mut out = Removed::default();
        for s in self.content.list_statuses::<&str>(&[])? {
            let _ = self.content.abort(&s.reference);
        }
        // Leaves first: a snapshot's parent can only go once its children are gone.
        loop {
            let committed = self.snaps.list(&["kind==committed"])?;
            let parents: HashSet<String> = self
                .snaps
                .list::<&str>(&[])?
                .into_iter()
                .map(|i| i.parent)
                .collect();
            let doomed: Vec<String> = committed
                .into_iter()
                .map(|i| i.name)
                .filter(|n| !live_chains.contains(n) && !parents.contains(n))
                .collect();
            if doomed.is_empty() {
                break;
            }
            for n in doomed {
                self.snaps.remove(&n)?;
                out.snapshots.push(n);
            }
        }
        for info in self.content.list::<&str>(&[])? {
            let d = info.digest.to_string();
            if !live_blobs.contains(&d) {
                match self.content.delete(&info.digest) {
                    Ok(()) | Err(dm_content::Error::BlobNotFound(_)) => out.blobs.push(d),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(out)
    }

    /// Pushes the image `name_or_id` names to `target` (default: its own name).
    pub async fn push(
        &self,
        name_or_id: &str,
        target: Option<&Reference>,
        opts: &PushOptions,
        progress: &Progress,
    ) -> Result<Digest> {
        self.push_with(&self.client, name_or_id, target, opts, progress)
            .await
    }

    /// [`Images::push`] with another registry client (other credentials).
    pub async fn push_with(
        &self,
        client: &crate::Client,
        name_or_id: &str,
        target: Option<&Reference>,
        opts: &PushOptions,
        progress: &Progress,
    ) -> Result<Digest> {
        let rec = self.resolve(name_or_id)?;
        let from: Reference = rec.name.parse()?;
        let target = target.cloned().unwrap_or_else(|| from.clone());
        let manifest_digest: Digest = rec.manifest.parse()?;
        let bytes = read_blob(&self.content, &manifest_digest)?;
        let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            ImageError::Registry(RegistryError::BadDocument {
                what: format!("stored manifest {manifest_digest}"),
                detail: e.to_string(),
            })
        })?;
        let blob = |v: &serde_json::Value| -> Result<Blob> {
            Ok(Blob {
                digest: v["digest"].as_str().unwrap_or_default().parse()?,
                size: v["size"].as_u64().unwrap_or_default(),
                media_type: v["mediaType"].as_str().unwrap_or_default().to_owned(),
            })
        };
        let layers = doc["layers"]
            .as_array()
            .map(|l| l.iter().map(blob).collect())
            .unwrap_or(Ok(vec![]))?;
        let src = PushSource {
            manifest: Blob {
                size: bytes.len() as u64,
                media_type: doc["mediaType"]
                    .as_str()
                    .unwrap_or(crate::media::OCI_MANIFEST)
                    .to_owned(),
                digest: manifest_digest,
            },
            config: blob(&doc["config"])?,
            layers,
            from: Some(from),
        };
        Ok(push(client, &self.content, &src, &target, opts, progress).await?)
    }
}
