//! Exporting the store as an OCI image layout: `index.json` naming chosen manifests, so that
//! OCI tools (umoci, skopeo `oci:`) can read the root directly.

use crate::error::{Error, IoContext, Result};
use crate::fsutil::write_atomic;
use crate::{Digest, Store};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// OCI's annotation naming a manifest's tag in an index.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A manifest entry of `index.json` (an OCI content descriptor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Descriptor {
    /// Media type of the manifest (or nested index).
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// Annotations, e.g. [`REF_NAME`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
struct Index {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    manifests: Vec<Descriptor>,
}

impl Store {
    /// Replaces `index.json` (atomically) with `manifests`. Each must name a committed blob of
    /// the given size, so the exported layout is complete for what it names.
    pub fn export_index(&self, manifests: &[Descriptor]) -> Result<()> {
        for m in manifests {
            let d: Digest = m.digest.parse()?;
            let info = self.info(&d)?;
            if info.size != m.size {
                return Err(Error::InvalidArgument(format!(
                    "index entry {d}: size {} given, blob has {}",
                    m.size, info.size
                )));
            }
        }
        let index = Index {
            schema_version: 2,
            media_type: Some("application/vnd.oci.image.index.v1+json".into()),
            manifests: manifests.to_vec(),
        };
        let path = self.root().join("index.json");
        let data = serde_json::to_vec_pretty(&index).map_err(|e| Error::Io {
            op: "serialize",
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        write_atomic(&path, &data)
    }

    /// The manifests `index.json` names.
    pub fn index(&self) -> Result<Vec<Descriptor>> {
        let path = self.root().join("index.json");
        let data = std::fs::read(&path).ctx("read", &path)?;
        let index: Index = serde_json::from_slice(&data).map_err(|e| Error::Io {
            op: "parse",
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        Ok(index.manifests)
    }
}
