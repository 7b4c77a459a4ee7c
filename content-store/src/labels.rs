//! Per-blob metadata (labels and times), kept in `meta/<alg>/<hex>.json` beside the OCI layout.
//!
//! Each record is replaced whole with an atomic write (temp, fsync, rename, fsync dir) under the
//! store's metadata lock, so an update of any number of labels is all-or-nothing: after a crash
//! a reader sees the labels before or after the update, never part of it. Labels are opaque to
//! the store; containerd's `containerd.io/gc.*` labels are kept like any other.

use crate::error::{Error, IoContext, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// A blob's labels.
pub type Labels = HashMap<String, String>;

/// containerd's limit on one label's key plus value.
const MAX_LABEL_BYTES: usize = 4096;

/// The stored record of a blob's mutable metadata.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// Commit time, ns since the epoch.
    pub created_ns: i64,
    /// Last label change, ns since the epoch.
    pub updated_ns: i64,
    /// The labels.
    pub labels: Labels,
}

impl Record {
    /// Reads the record at `path`; `None` if the blob has none.
    pub fn load(path: &Path) -> Result<Option<Record>> {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).ctx("read", path),
        };
        serde_json::from_slice(&data)
            .map(Some)
            .map_err(|e| Error::Io {
                op: "parse metadata record",
                path: path.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })
    }

    /// Replaces the record at `path` atomically.
    pub fn store(&self, path: &Path) -> Result<()> {
        let data = serde_json::to_vec(self).map_err(|e| Error::Io {
            op: "serialize metadata record",
            path: path.to_owned(),
            source: std::io::Error::other(e),
        })?;
        crate::fsutil::write_atomic(path, &data)
    }
}

/// Checks labels the way containerd does before storing them.
pub fn validate(labels: &Labels) -> Result<()> {
    for (k, v) in labels {
        if k.is_empty() {
            return Err(Error::InvalidArgument("label key must not be empty".into()));
        }
        if k.len() + v.len() > MAX_LABEL_BYTES {
            let head: String = k.chars().take(10).collect();
            return Err(Error::InvalidArgument(format!(
                "label key and value length ({} bytes) greater than maximum size ({MAX_LABEL_BYTES} bytes), key: {head}",
                k.len() + v.len()
            )));
        }
    }
    Ok(())
}

/// Applies an update to `current`: with no paths, `new` replaces all labels; a path `labels`
/// does the same; `labels.<key>` sets (or, if absent or empty in `new`, removes) one label.
pub fn apply_update(current: &mut Labels, new: &Labels, paths: &[String]) -> Result<()> {
    if paths.is_empty() {
        *current = new.clone();
        return Ok(());
    }
    for p in paths {
        if p == "labels" {
            *current = new.clone();
        } else if let Some(key) = p.strip_prefix("labels.") {
            // As in containerd, an empty value removes the label.
            match new.get(key).filter(|v| !v.is_empty()) {
                Some(v) => current.insert(key.to_owned(), v.clone()),
                None => current.remove(key),
            };
        } else {
            return Err(Error::InvalidArgument(format!(
                "cannot update {p:?} field on content info"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> Labels {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn update_paths_set_and_remove_single_labels() {
        let mut cur = labels(&[("a", "1"), ("b", "2"), ("d", "4")]);
        let new = labels(&[("a", "9"), ("c", "3"), ("d", "")]);
        let paths = ["labels.a".into(), "labels.b".into(), "labels.d".into()];
        apply_update(&mut cur, &new, &paths).unwrap();
        assert_eq!(cur, labels(&[("a", "9")]));
        apply_update(&mut cur, &new, &[]).unwrap();
        assert_eq!(cur, new);
        let err = apply_update(&mut cur, &new, &["size".into()]).unwrap_err();
        assert!(err.to_string().contains("\"size\""), "{err}");
    }

    #[test]
    fn oversized_label_is_refused() {
        let err = validate(&labels(&[("k", &"x".repeat(5000))])).unwrap_err();
        assert!(err.to_string().contains("maximum size"), "{err}");
    }
}
