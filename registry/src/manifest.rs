//! Manifests a client pushes: their media type, and the descriptors they reference, checked
//! before the manifest is stored.

use crate::error::{Error, Result};
use crate::names::parse_digest;
use dm_content::Digest;
use serde::Deserialize;
use std::collections::BTreeMap;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// A content descriptor as manifests hold them.
#[derive(Debug, Clone, Deserialize)]
pub struct Descriptor {
    /// Media type of the referenced content.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// Its size.
    pub size: i64,
    /// Where a non-distributable layer can be fetched instead.
    #[serde(default)]
    pub urls: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Raw {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<i64>,
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// A validated manifest.
#[derive(Debug)]
pub struct Manifest {
    /// Its media type.
    pub media_type: String,
    /// Blobs it references (config and layers), which the repository must hold.
    pub blobs: Vec<Digest>,
    /// Manifests it references (an index's entries), which the repository must hold.
    pub manifests: Vec<Digest>,
    /// The manifest it refers to, if any.
    pub subject: Option<Digest>,
    /// Its artifact type for the referrers API: `artifactType`, else the config's media type.
    pub artifact_type: Option<String>,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
}

fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// Parses and checks `body` pushed with `content_type` (its parameters stripped). The media
/// type is the Content-Type if it is one of the four accepted, else the manifest's own
/// `mediaType`; when both are given they must agree.
pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Manifest> {
    let raw: Raw = serde_json::from_slice(body)
        .map_err(|e| Error::ManifestInvalid(format!("not a JSON manifest: {e}")))?;
    if raw.schema_version != Some(2) {
        return Err(Error::ManifestInvalid(format!(
            "schemaVersion must be 2, got {:?}",
            raw.schema_version
        )));
    }
    let accepted = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];
    let header = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim())
        .filter(|c| accepted.contains(c));
    let media_type = match (header, raw.media_type.as_deref()) {
        (Some(h), Some(m)) if h != m => {
            return Err(Error::ManifestInvalid(format!(
                "Content-Type {h} differs from the manifest's mediaType {m}"
            )))
        }
        (Some(h), _) => h.to_owned(),
        (None, Some(m)) if accepted.contains(&m) => m.to_owned(),
        (None, None) if raw.manifests.is_some() => OCI_INDEX.to_owned(),
        (None, None) if raw.config.is_some() => OCI_MANIFEST.to_owned(),
        (None, m) => {
            return Err(Error::ManifestInvalid(format!(
                "unsupported manifest media type {:?} (Content-Type {content_type:?}); \
                 accepted: {}",
                m.unwrap_or(""),
                accepted.join(", ")
            )))
        }
    };
    let digest = |d: &Descriptor, field: &str| -> Result<Digest> {
        if d.size < 0 {
            return Err(Error::ManifestInvalid(format!("{field}: negative size")));
        }
        parse_digest(&d.digest).map_err(|e| Error::ManifestInvalid(format!("{field}: {e}")))
    };
    let mut blobs = Vec::new();
    let mut manifests = Vec::new();
    if is_index(&media_type) {
        let Some(list) = &raw.manifests else {
            return Err(Error::ManifestInvalid("index without manifests".into()));
        };
        for (i, m) in list.iter().enumerate() {
            manifests.push(digest(m, &format!("manifests[{i}]"))?);
        }
    } else {
        let Some(config) = &raw.config else {
            return Err(Error::ManifestInvalid(
                "image manifest without config".into(),
            ));
        };
        blobs.push(digest(config, "config")?);
        for (i, l) in raw.layers.iter().enumerate() {
            let d = digest(l, &format!("layers[{i}]"))?;
            // Non-distributable layers live elsewhere, named by their urls.
            if l.urls.is_empty() {
                blobs.push(d);
            }
        }
    }
    let subject = raw
        .subject
        .as_ref()
        .map(|s| digest(s, "subject"))
        .transpose()?;
    let artifact_type = raw
        .artifact_type
        .clone()
        .or_else(|| raw.config.as_ref().map(|c| c.media_type.clone()));
    Ok(Manifest {
        media_type,
        blobs,
        manifests,
        subject,
        artifact_type,
        annotations: raw.annotations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(media: Option<&str>) -> Vec<u8> {
        let d = Digest::of(b"c");
        let mut v = serde_json::json!({
            "schemaVersion": 2,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d.to_string(), "size": 1},
            "layers": [{"mediaType": "x", "digest": d.to_string(), "size": 1}]
        });
        if let Some(m) = media {
            v["mediaType"] = m.into();
        }
        v.to_string().into_bytes()
    }

    #[test]
    fn media_type_from_header_or_body_must_agree() {
        assert_eq!(
            parse(&image(None), Some(OCI_MANIFEST)).unwrap().media_type,
            OCI_MANIFEST
        );
        assert_eq!(
            parse(&image(Some(DOCKER_MANIFEST)), Some("application/json"))
                .unwrap()
                .media_type,
            DOCKER_MANIFEST
        );
        assert_eq!(parse(&image(None), None).unwrap().blobs.len(), 2);
        let e = parse(&image(Some(DOCKER_MANIFEST)), Some(OCI_MANIFEST)).unwrap_err();
        assert_eq!(e.code(), "MANIFEST_INVALID");
        let e = parse(&image(Some("application/x")), None).unwrap_err();
        assert!(
            e.to_string().contains("unsupported manifest media type"),
            "{e}"
        );
    }

    #[test]
    fn garbage_is_manifest_invalid() {
        for bad in [
            &b"not json"[..],
            br#"{"schemaVersion":1}"#,
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#,
            br#"{"schemaVersion":2,"config":{"digest":"sha256:zz","size":1}}"#,
            br#"{"schemaVersion":2,"manifests":[{"digest":"md5:00","size":1}]}"#,
        ] {
            let e = parse(bad, None).unwrap_err();
            assert_eq!(
                e.code(),
                "MANIFEST_INVALID",
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
