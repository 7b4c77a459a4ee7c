//! The image records: names to what they point at, one JSON file written atomically
//! (`<root>/images/images.json`); the content store's root lock keeps it to one process.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One name's image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The full reference (`docker.io/library/busybox:latest`).
    pub name: String,
    /// What the name resolved to when pulled: the index, or the manifest.
    pub target: String,
    /// The target's media type.
    pub target_media_type: String,
    /// The platform's manifest.
    pub manifest: String,
    /// The image config (its digest is the image id).
    pub config: String,
    /// The layer blobs, base first.
    pub layers: Vec<String>,
    /// The layers' chain IDs (snapshot names), base first.
    pub chain_ids: Vec<String>,
    /// When the name was set (seconds since the epoch).
    pub created: u64,
}

impl ImageRecord {
    /// Every blob the image holds.
    pub fn blobs(&self) -> impl Iterator<Item = &String> {
        [&self.target, &self.manifest, &self.config]
            .into_iter()
            .chain(&self.layers)
    }
}

/// Errors reading or writing the records.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("image records {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: serde_json::Error,
    },
}

#[derive(Default, Serialize, Deserialize)]
struct File {
    images: BTreeMap<String, ImageRecord>,
}

/// The records file.
pub struct Records {
    path: PathBuf,
}

impl Records {
    /// The records under `dir` (created if missing).
    pub fn open(dir: &Path) -> Result<Records, RecordsError> {
        std::fs::create_dir_all(dir).map_err(|source| RecordsError::Io {
            op: "create",
            path: dir.to_owned(),
            source,
        })?;
        Ok(Records {
            path: dir.join("images.json"),
        })
    }

    /// Every record, by name.
    pub fn load(&self) -> Result<BTreeMap<String, ImageRecord>, RecordsError> {
        match std::fs::read(&self.path) {
            Ok(d) => serde_json::from_slice::<File>(&d)
                .map(|f| f.images)
                .map_err(|source| RecordsError::Parse {
                    path: self.path.clone(),
                    source,
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(source) => Err(RecordsError::Io {
                op: "read",
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Replaces every record: temp file, fsync, rename, so a crash leaves old or new.
    pub fn save(&self, images: &BTreeMap<String, ImageRecord>) -> Result<(), RecordsError> {
        let tmp = self.path.with_extension("json.tmp");
        let io = |op, source| RecordsError::Io {
            op,
            path: tmp.clone(),
            source,
        };
        let data = serde_json::to_vec_pretty(&File {
            images: images.clone(),
        })
        .map_err(|e| io("serialize", std::io::Error::other(e)))?;
        let mut f = std::fs::File::create(&tmp).map_err(|e| io("create", e))?;
        f.write_all(&data).map_err(|e| io("write", e))?;
        f.sync_all().map_err(|e| io("fsync", e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| io("rename", e))?;
        if let Some(dir) = self.path.parent() {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}
