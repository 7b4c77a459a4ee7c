//! Garbage collection of blobs no repository needs, safe while clients push.
//!
//! A blob is needed when a manifest of some repository is it or references it (config,
//! layers, index entries), or when a repository linked it less than `grace` ago: a push
//! uploads its blobs before the manifest that references them, so fresh links are the
//! in-flight pushes. Older links nothing references are removed, then blobs nothing needs and
//! older than `grace` are deleted from dm-content. Everything a push does between checking a
//! blob and recording the link that keeps it (upload commit, mount, manifest put) holds the
//! registry's GC lock shared; a collection holds it exclusively, so it never deletes a blob
//! a push has just checked. Uploads idle longer than `upload_ttl` are dropped.

use crate::error::Result;
use crate::manifest;
use crate::server::Registry;
use dm_content::{Digest, Kind};
use serde::Serialize;
use std::collections::HashSet;
use std::time::{Duration, SystemTime};

/// What a collection did.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Report {
    /// Repository blob links removed (old, referenced by no manifest of the repository).
    pub links_removed: u64,
    /// Blobs deleted from the store.
    pub blobs_deleted: u64,
    /// Their bytes.
    pub bytes_freed: u64,
    /// Idle uploads dropped.
    pub uploads_dropped: u64,
}

impl Registry {
    /// Collects garbage as described in the module docs.
    pub fn gc(&self, grace: Duration, upload_ttl: Duration) -> Result<Report> {
        let _exclusive = self.gc_lock.write().unwrap_or_else(|p| p.into_inner());
        let now = SystemTime::now();
        let cutoff = now.checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut report = Report::default();
        let mut keep: HashSet<Digest> = HashSet::new();
        for repo in self.meta.repositories()? {
            let mut referenced: HashSet<Digest> = HashSet::new();
            for m in self.meta.manifests(&repo)? {
                let media = self.meta.manifest(&repo, &m)?.unwrap_or_default();
                if let Ok(data) = self.read_small(&m) {
                    if let Ok(parsed) = manifest::parse(&data, Some(&media)) {
                        referenced.extend(parsed.blobs);
                        referenced.extend(parsed.manifests);
                    }
                }
                referenced.insert(m);
            }
            for (d, linked_at) in self.meta.blob_links(&repo)? {
                if referenced.contains(&d) || linked_at > cutoff {
                    keep.insert(d);
                } else if self.meta.unlink_blob(&repo, &d)? {
                    report.links_removed += 1;
                }
            }
            keep.extend(referenced);
        }
        for info in self.store.list::<&str>(&[])? {
            if keep.contains(&info.digest) || info.created_at > cutoff {
                continue;
            }
            match self.store.delete(&info.digest) {
                Ok(()) => {
                    report.blobs_deleted += 1;
                    report.bytes_freed += info.size;
                }
                Err(e) if e.kind() == Kind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        let stale = now
            .checked_sub(upload_ttl)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        for st in self.store.list_statuses::<&str>(&[])? {
            if st.reference.starts_with("dm-registry/") && st.updated_at < stale {
                self.uploads.forget(&st.reference);
                if self.store.abort(&st.reference).is_ok() {
                    report.uploads_dropped += 1;
                }
            }
        }
        log::info!("gc: {report:?}");
        Ok(report)
    }
}
