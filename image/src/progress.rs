//! Progress of a pull or push as events, for plain lines, terminal bars or a JSON stream.

pub use dm_content::Digest;
use std::sync::Arc;

/// One step of a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The reference resolved to this manifest.
    Resolved {
        /// What was asked for.
        reference: String,
        /// The manifest picked (after platform selection).
        digest: Digest,
    },
    /// A blob was already present.
    Exists {
        /// The blob.
        digest: Digest,
    },
    /// A blob download started or advanced.
    Downloading {
        /// The blob.
        digest: Digest,
        /// Bytes so far.
        offset: u64,
        /// Bytes in all.
        total: u64,
    },
    /// A blob was verified and committed.
    Done {
        /// The blob.
        digest: Digest,
        /// Its size.
        size: u64,
    },
    /// A blob upload started or advanced.
    Uploading {
        /// The blob.
        digest: Digest,
        /// Bytes so far.
        offset: u64,
        /// Bytes in all.
        total: u64,
    },
    /// A blob was uploaded.
    Uploaded {
        /// The blob.
        digest: Digest,
        /// Its size.
        size: u64,
    },
    /// A blob was mounted from another repository of the same registry.
    Mounted {
        /// The blob.
        digest: Digest,
    },
    /// A layer was unpacked into a snapshot (or its snapshot already existed).
    Unpacked {
        /// The layer blob.
        digest: Digest,
        /// Whether it was applied now (false: the snapshot was there).
        applied: bool,
    },
}

impl Event {
    /// One JSON object (for a progress stream): `{"status": ..., "id": <digest>, ...}`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Event::Resolved { reference, digest } => {
                json!({"status": "resolved", "reference": reference, "id": digest.to_string()})
            }
            Event::Exists { digest } => json!({"status": "exists", "id": digest.to_string()}),
            Event::Downloading {
                digest,
                offset,
                total,
            } => {
                json!({"status": "downloading", "id": digest.to_string(), "current": offset, "total": total})
            }
            Event::Done { digest, size } => {
                json!({"status": "downloaded", "id": digest.to_string(), "total": size})
            }
            Event::Uploading {
                digest,
                offset,
                total,
            } => {
                json!({"status": "uploading", "id": digest.to_string(), "current": offset, "total": total})
            }
            Event::Uploaded { digest, size } => {
                json!({"status": "uploaded", "id": digest.to_string(), "total": size})
            }
            Event::Mounted { digest } => json!({"status": "mounted", "id": digest.to_string()}),
            Event::Unpacked { digest, applied } => {
                json!({"status": "unpacked", "id": digest.to_string(), "applied": applied})
            }
        }
    }
}

/// A receiver of events.
type Sink = Arc<dyn Fn(&Event) + Send + Sync>;

/// Where events go; the default drops them.
#[derive(Clone, Default)]
pub struct Progress(Option<Sink>);

impl Progress {
    /// Events go to `f`.
    pub fn new(f: impl Fn(&Event) + Send + Sync + 'static) -> Progress {
        Progress(Some(Arc::new(f)))
    }

    /// Reports `e`.
    pub fn emit(&self, e: Event) {
        if let Some(f) = &self.0 {
            f(&e);
        }
    }
}
