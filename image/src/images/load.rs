//! `load`: images from an OCI image layout tar (skopeo `oci-archive`, containerd export, our
//! `save`) or a `docker save` archive (legacy `<id>/layer.tar` form or docker 25's blob paths).
//! The tar is streamed once: every file goes into the content store as it passes (files under
//! `blobs/<alg>/<hex>` verified against their name), then the index or manifest.json says what
//! the images are. Nothing is named unless all its parts are present and unpack.

use super::save::{CONTAINERD_NAME, OCI_REF_NAME};
use super::{new_record, ImageError, Images, Result};
use crate::error::RegistryError;
use crate::fetch::put_bytes;
use crate::media;
use crate::platform::Platform;
use crate::progress::Progress;
use crate::pull::{parts, select, Blob};
use crate::records::ImageRecord;
use crate::reference::Reference;
use crate::unpack::{read_blob, unpack};
use dm_content::{Digest, Store};
use serde_json::json;
use std::collections::HashMap;
use std::io::Read;

/// Largest `index.json` or `manifest.json` read.
const MAX_DOC: u64 = 4 << 20;

/// Stored files of an archive, by their path in it.
#[derive(Default)]
struct Files {
    blobs: HashMap<String, (Digest, u64)>,
    links: HashMap<String, String>,
    docs: HashMap<String, Vec<u8>>,
}

impl Files {
    /// The blob stored for `path`, following the archive's links.
    fn get(&self, path: &str) -> Option<&(Digest, u64)> {
        let mut p = normalize(path);
        for _ in 0..16 {
            if let Some(b) = self.blobs.get(&p) {
                return Some(b);
            }
            p = self.links.get(&p)?.clone();
        }
        None
    }
}

fn bad(what: impl Into<String>, detail: impl Into<String>) -> ImageError {
    ImageError::Registry(RegistryError::BadDocument {
        what: what.into(),
        detail: detail.into(),
    })
}

impl Images {
    /// Loads the archive read from `input`. OCI entries that carry only a tag are named
    /// `<base_name>:<tag>` when `base_name` is given; an index entry that is itself an index is
    /// narrowed to `platform`.
    pub fn load(
        &self,
        input: impl Read,
        base_name: Option<&Reference>,
        platform: &Platform,
        progress: &Progress,
    ) -> Result<Vec<ImageRecord>> {
        let files = stream_in(&self.content, input)?;
        let images = match (
            files.docs.get("index.json"),
            files.docs.get("manifest.json"),
        ) {
            (Some(idx), docker) => match from_index(&self.content, idx, base_name, platform)? {
                named if named.is_empty() && docker.is_some() => {
                    from_docker(&self.content, &files)?
                }
                named => named,
            },
            (None, Some(_)) => from_docker(&self.content, &files)?,
            (None, None) => return Err(bad("archive", "has neither index.json nor manifest.json")),
        };
        let mut records = Vec::new();
        for (names, target, manifest) in images {
            let (config, layers) = parts(
                &read_blob(&self.content, &manifest.digest)?,
                &manifest.digest.to_string(),
            )?;
            for b in std::iter::once(&config).chain(&layers) {
                if self.content.size(&b.digest).is_err() {
                    return Err(bad(
                        format!("image {}", names.join(", ")),
                        format!("archive lacks blob {}", b.digest),
                    ));
                }
            }
            let chain = unpack(
                &self.content,
                &self.snaps,
                &config.digest,
                &layers,
                progress,
            )?;
            for n in names {
                records.push(new_record(&n, &target, &manifest, &config, &layers, &chain));
            }
        }
        self.put_records(&records)?;
        Ok(records)
    }
}

/// Stores every regular file of the archive; keeps links and the two index documents.
fn stream_in(store: &Store, input: impl Read) -> Result<Files> {
    let mut files = Files::default();
    let mut ar = tar::Archive::new(input);
    let read_err = |e: std::io::Error| bad("archive", e.to_string());
    for entry in ar.entries().map_err(read_err)? {
        let mut e = entry.map_err(read_err)?;
        let path = normalize(&String::from_utf8_lossy(&e.path_bytes()));
        let kind = e.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = e
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default();
            let resolved = if kind.is_symlink() {
                let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                normalize(&format!("{dir}/{target}"))
            } else {
                normalize(&target)
            };
            files.links.insert(path, resolved);
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        if path == "index.json" || path == "manifest.json" {
            let mut doc = Vec::new();
            (&mut e)
                .take(MAX_DOC + 1)
                .read_to_end(&mut doc)
                .map_err(read_err)?;
            if doc.len() as u64 > MAX_DOC {
                return Err(bad(path, format!("larger than {MAX_DOC} bytes")));
            }
            files.docs.insert(path, doc);
            continue;
        }
        if path == "oci-layout" || path == "repositories" {
            continue;
        }
        let expected = path
            .strip_prefix("blobs/")
            .map(|rest| rest.replacen('/', ":", 1).parse::<Digest>())
            .transpose()
            .map_err(|err| bad(format!("archive entry {path}"), err.to_string()))?;
        let size = e.header().size().map_err(read_err)?;
        let digest = store_entry(store, &mut e, &path, size, expected)?;
        files.blobs.insert(path, (digest, size));
    }
    Ok(files)
}

/// Copies one archive file into the store; verified against `expected` if given.
fn store_entry(
    store: &Store,
    r: &mut impl Read,
    path: &str,
    size: u64,
    expected: Option<Digest>,
) -> Result<Digest> {
    let reference = format!("dm-image-load-{path}");
    let mut w = match store.writer(&reference, Some(size), expected.clone()) {
        Ok(w) => w,
        Err(dm_content::Error::AlreadyExists(d)) => {
            std::io::copy(r, &mut std::io::sink())
                .map_err(|e| bad(format!("archive entry {path}"), e.to_string()))?;
            return Ok(d);
        }
        Err(e) => return Err(e.into()),
    };
    w.truncate(0)?;
    let mut buf = vec![0u8; 1 << 20];
    let copied = (|| loop {
        let n = r
            .read(&mut buf)
            .map_err(|e| bad(format!("archive entry {path}"), e.to_string()))?;
        if n == 0 {
            return Ok(());
        }
        w.write(&buf[..n])?;
    })();
    let committed =
        copied.and_then(
            |()| match w.commit(Some(size), expected, &Default::default()) {
                Ok(c) => Ok(c.digest),
                Err(dm_content::Error::DigestMismatch { actual, expected }) => Err(bad(
                    format!("archive entry {path}"),
                    format!("content has digest {actual}, its name says {expected}"),
                )),
                Err(e) => Err(e.into()),
            },
        );
    if committed.is_err() {
        let _ = store.abort(&reference);
    }
    committed
}

/// `a/./b/../c` → `a/c`, without a leading `./` or `/`.
fn normalize(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

/// Images an OCI index names: (names, target, platform manifest).
type Found = Vec<(Vec<String>, Blob, Blob)>;

fn from_index(
    store: &Store,
    idx: &[u8],
    base: Option<&Reference>,
    platform: &Platform,
) -> Result<Found> {
    let doc: serde_json::Value =
        serde_json::from_slice(idx).map_err(|e| bad("index.json", e.to_string()))?;
    let mut out = Vec::new();
    for m in doc["manifests"].as_array().cloned().unwrap_or_default() {
        let ann = &m["annotations"];
        let name = match (ann[CONTAINERD_NAME].as_str(), ann[OCI_REF_NAME].as_str()) {
            (Some(full), _) => Some(full.parse::<Reference>()?),
            (None, Some(r)) if r.contains(['/', '@']) => Some(r.parse::<Reference>()?),
            (None, Some(tag)) => base.map(|b| b.with_tag(tag)).transpose()?,
            (None, None) => None,
        };
        let Some(name) = name else {
            log::warn!(
                "index.json entry {} has no name; pass a base name to load it",
                m["digest"]
            );
            continue;
        };
        let target = Blob {
            digest: m["digest"].as_str().unwrap_or_default().parse()?,
            size: m["size"].as_u64().unwrap_or_default(),
            media_type: m["mediaType"]
                .as_str()
                .unwrap_or(media::OCI_MANIFEST)
                .to_owned(),
        };
        let manifest = match media::manifest_kind(&target.media_type) {
            Some(media::ManifestKind::Index) => select(
                &read_blob(store, &target.digest)?,
                &name.to_string(),
                platform,
            )?,
            Some(media::ManifestKind::Manifest) => target.clone(),
            None => {
                return Err(ImageError::Registry(RegistryError::UnknownMediaType {
                    what: format!("index.json entry {name}"),
                    media_type: target.media_type,
                }))
            }
        };
        out.push((vec![name.to_string()], target, manifest));
    }
    Ok(out)
}

/// Images a docker `manifest.json` names; a docker schema 2 manifest is made for each.
fn from_docker(store: &Store, files: &Files) -> Result<Found> {
    let doc = files
        .docs
        .get("manifest.json")
        .map(Vec::as_slice)
        .unwrap_or(b"[]");
    let entries: Vec<serde_json::Value> =
        serde_json::from_slice(doc).map_err(|e| bad("manifest.json", e.to_string()))?;
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let what = format!("manifest.json entry {i}");
        let file = |p: &serde_json::Value| {
            let p = p.as_str().unwrap_or_default();
            files
                .get(p)
                .cloned()
                .ok_or_else(|| bad(what.clone(), format!("archive lacks {p:?}")))
        };
        let (config, config_size) = file(&e["Config"])?;
        let mut layers = Vec::new();
        for l in e["Layers"].as_array().cloned().unwrap_or_default() {
            let (digest, size) = file(&l)?;
            let media_type = layer_media_type(store, &digest)?;
            layers
                .push(json!({"mediaType": media_type, "size": size, "digest": digest.to_string()}));
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media::DOCKER_MANIFEST,
            "config": {"mediaType": media::DOCKER_CONFIG, "size": config_size, "digest": config.to_string()},
            "layers": layers,
        });
        let bytes = serde_json::to_vec(&manifest).unwrap_or_default();
        let digest = Digest::of(&bytes);
        put_bytes(store, &digest, &bytes)?;
        let blob = Blob {
            digest,
            size: bytes.len() as u64,
            media_type: media::DOCKER_MANIFEST.into(),
        };
        let mut names = Vec::new();
        for t in e["RepoTags"].as_array().cloned().unwrap_or_default() {
            names.push(
                t.as_str()
                    .unwrap_or_default()
                    .parse::<Reference>()?
                    .to_string(),
            );
        }
        out.push((names, blob.clone(), blob));
    }
    Ok(out)
}

/// docker's media type for a layer file, by its compression.
fn layer_media_type(store: &Store, d: &Digest) -> Result<&'static str> {
    let mut head = Vec::new();
    store.read(d, 0, Some(4), 4, |_, c| {
        head.extend_from_slice(&c);
        true
    })?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        "application/vnd.docker.image.rootfs.diff.tar.zstd"
    } else {
        "application/vnd.docker.image.rootfs.diff.tar"
    })
}
