//! `save`: images as one tar that is both an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/`) and a `docker save` archive (`manifest.json` naming config and layers by their
//! blob paths, and the legacy `repositories`), as docker 25 writes it, so docker, podman, skopeo and containerd all load it.
//! Blobs go out exactly as stored, so digests survive the round trip.

use super::{ImageError, Images, Result};
use crate::records::ImageRecord;
use dm_content::Digest;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

/// containerd's annotation for the full image name.
pub(crate) const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// OCI's annotation for the tag.
pub(crate) const OCI_REF_NAME: &str = "org.opencontainers.image.ref.name";

impl Images {
    /// Writes the images `names` name (one archive, shared blobs once) to `out`.
    pub fn save(&self, names: &[String], out: impl Write) -> Result<()> {
        let mut records: Vec<ImageRecord> = Vec::new();
        for n in names {
            let r = self.resolve(n)?;
            if !records.iter().any(|x| x.name == r.name) {
                records.push(r);
            }
        }
        let mut blobs = BTreeSet::new();
        for r in &records {
            blobs.extend([r.manifest.clone(), r.config.clone()]);
            blobs.extend(r.layers.iter().cloned());
        }
        let mut tar = tar::Builder::new(out);
        let io = |e: std::io::Error| {
            ImageError::Content(dm_content::Error::Io {
                op: "write archive",
                path: "-".into(),
                source: e,
            })
        };
        append(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io)?;
        append_dir(&mut tar, "blobs/").map_err(io)?;
        append_dir(&mut tar, "blobs/sha256/").map_err(io)?;
        for b in &blobs {
            let d: Digest = b.parse()?;
            let path = self.content.blob_path(&d);
            let mut f = std::fs::File::open(&path).map_err(|e| {
                ImageError::Content(dm_content::Error::Io {
                    op: "open",
                    path: path.clone(),
                    source: e,
                })
            })?;
            tar.append_file(format!("blobs/{}/{}", d.algorithm(), d.hex()), &mut f)
                .map_err(io)?;
        }
        let mut index = Vec::new();
        let mut docker: BTreeMap<String, (String, Vec<String>, Vec<String>)> = BTreeMap::new();
        let mut repositories = json!({});
        for r in &records {
            let reference: crate::Reference = r.name.parse()?;
            let manifest: Digest = r.manifest.parse()?;
            let media_type = stored_media_type(self, &manifest)?;
            let mut annotations = json!({ CONTAINERD_NAME: r.name });
            if let Some(t) = reference.tag() {
                annotations[OCI_REF_NAME] = json!(t);
            }
            index.push(json!({
                "mediaType": media_type,
                "digest": r.manifest,
                "size": self.content.size(&manifest)?,
                "annotations": annotations,
            }));
            let entry = docker.entry(r.config.clone()).or_insert_with(|| {
                (
                    blob_path(&r.config),
                    r.layers.iter().map(|l| blob_path(l)).collect(),
                    Vec::new(),
                )
            });
            if let Some(t) = reference.tag() {
                entry.2.push(reference.familiar());
                // docker's legacy `repositories`: repository → tag → the top layer's id.
                if let Some(top) = r.layers.last() {
                    let hex = top.split_once(':').map_or(top.as_str(), |(_, h)| h);
                    let repo = reference.familiar();
                    let repo = repo.strip_suffix(&format!(":{t}")).unwrap_or(&repo);
                    repositories[repo][t] = json!(hex);
                }
            }
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": crate::media::OCI_INDEX,
            "manifests": index,
        });
        let manifest_json: Vec<serde_json::Value> = docker
            .into_values()
            .map(|(config, layers, tags)| json!({"Config": config, "RepoTags": tags, "Layers": layers}))
            .collect();
        let ser = |v: &serde_json::Value| serde_json::to_vec(v).unwrap_or_default();
        append(&mut tar, "index.json", &ser(&index)).map_err(io)?;
        append(&mut tar, "manifest.json", &ser(&json!(manifest_json))).map_err(io)?;
        if repositories.as_object().is_some_and(|o| !o.is_empty()) {
            append(&mut tar, "repositories", &ser(&repositories)).map_err(io)?;
        }
        tar.into_inner().map_err(io)?.flush().map_err(io)?;
        Ok(())
    }
}

/// `blobs/sha256/<hex>` for `sha256:<hex>`.
fn blob_path(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

/// The `mediaType` a stored manifest declares (OCI's if it declares none).
fn stored_media_type(images: &Images, d: &Digest) -> Result<String> {
    let bytes = crate::unpack::read_blob(&images.content, d)?;
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    Ok(doc["mediaType"]
        .as_str()
        .unwrap_or(crate::media::OCI_MANIFEST)
        .to_owned())
}

fn append<W: Write>(tar: &mut tar::Builder<W>, path: &str, data: &[u8]) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, path, data)
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(0);
    h.set_mode(0o755);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Directory);
    tar.append_data(&mut h, path, std::io::empty())
}
