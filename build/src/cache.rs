//! The step cache: one small JSON file per step key under `<root>/build-cache`, holding the
//! step's layer (if it made one) and its history time, so a rebuild of unchanged steps yields
//! the same image id.

use crate::error::{BuildError, Result};
use crate::layer::Layer;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What a step made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// When it first ran (RFC 3339), its history entry's time.
    pub created: String,
    /// Its layer; none for config-only steps.
    pub layer: Option<Layer>,
}

impl Entry {
    /// An entry made now.
    pub fn now(layer: Option<Layer>) -> Entry {
        Entry {
            created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            layer,
        }
    }
}

/// The cache directory. Clones share the record of keys a build used (for export).
#[derive(Clone)]
pub struct Cache {
    dir: PathBuf,
    used: Arc<Mutex<BTreeSet<String>>>,
}

impl Cache {
    /// The cache under `dir` (created).
    pub fn open(dir: &Path) -> Result<Cache> {
        std::fs::create_dir_all(dir).map_err(|e| BuildError::io("create", dir, e))?;
        Ok(Cache {
            dir: dir.to_owned(),
            used: Arc::default(),
        })
    }

    /// Notes that the build's result depends on `key`'s entry.
    pub fn mark_used(&self, key: &str) {
        self.used
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_owned());
    }

    /// The keys marked so far.
    pub fn used(&self) -> Vec<String> {
        let used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        used.iter().cloned().collect()
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key.strip_prefix("sha256:").unwrap_or(key))
    }

    /// The entry for `key`; unreadable entries are misses.
    pub fn get(&self, key: &str) -> Option<Entry> {
        let data = std::fs::read(self.path(key)).ok()?;
        serde_json::from_slice(&data).ok()
    }

    /// Records `e` for `key` (temp file and rename: a crash leaves no torn entry).
    pub fn put(&self, key: &str, e: &Entry) -> Result<()> {
        let path = self.path(key);
        // Two stages may make the same step at once: each writes its own temp file.
        let tmp = path.with_extension(format!(
            "tmp-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let data = serde_json::to_vec(e).unwrap_or_default();
        std::fs::write(&tmp, data).map_err(|e| BuildError::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| BuildError::io("rename", &path, e))
    }
}
