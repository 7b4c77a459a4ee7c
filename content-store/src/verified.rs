//! Blobs known to match their digest, with the inode state they matched in.
//!
//! A blob is known good once this process has hashed it: when its ingest was committed, or
//! when a read reaching its end verified it. The entry holds the file's device, inode, size,
//! mtime and ctime; any write, truncate or replacement through the filesystem changes one of
//! them (ctime cannot be set from user space, and the kernel gives a changed file a ctime
//! distinct from one already observed), so the next end-reaching read hashes the blob again.

use crate::digest::Digest;
use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;

/// What a blob file looked like when it was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// The set of verified blobs, shared by all clones of a store.
#[derive(Debug, Default)]
pub(crate) struct Verified(Mutex<HashMap<Digest, Stamp>>);

impl Verified {
    /// Whether `d`, whose file now has metadata `m`, was verified in exactly that state.
    pub(crate) fn holds(&self, d: &Digest, m: &Metadata) -> bool {
        self.map().get(d) == Some(&Stamp::of(m))
    }

    /// Records that `d` matched its digest while its file had metadata `m`.
    pub(crate) fn record(&self, d: &Digest, m: &Metadata) {
        self.map().insert(d.clone(), Stamp::of(m));
    }

    /// Forgets `d` (deleted, or found corrupt).
    pub(crate) fn forget(&self, d: &Digest) {
        self.map().remove(d);
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, Stamp>> {
        // The map holds no invariant a panicking holder could break.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewrite_of_the_same_bytes_count_invalidates() {
        let dir = std::env::temp_dir().join(format!("dm-verified-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("blob");
        std::fs::write(&f, b"hello").unwrap();
        let d: Digest = Digest::of(b"hello");
        let v = Verified::default();
        let m = std::fs::metadata(&f).unwrap();
        assert!(!v.holds(&d, &m));
        v.record(&d, &m);
        assert!(v.holds(&d, &std::fs::metadata(&f).unwrap()));
        std::fs::write(&f, b"jello").unwrap();
        assert!(!v.holds(&d, &std::fs::metadata(&f).unwrap()));
        v.record(&d, &std::fs::metadata(&f).unwrap());
        v.forget(&d);
        assert!(!v.holds(&d, &std::fs::metadata(&f).unwrap()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
