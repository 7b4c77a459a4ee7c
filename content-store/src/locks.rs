//! In-process writer locks on ingest refs: one open writer per ref, as containerd enforces.
//! The store's root lock (see `Store::open`) makes this process the only one using the root,
//! so an in-memory table is enough.

use crate::clock::{go_duration, rfc3339};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

/// The set of refs with an open writer.
#[derive(Default)]
pub struct RefLocks(Mutex<HashMap<String, SystemTime>>);

impl RefLocks {
    fn table(&self) -> MutexGuard<'_, HashMap<String, SystemTime>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes `reference`, or fails with containerd's "locked" (unavailable) error.
    pub fn try_lock(self: &Arc<Self>, reference: &str) -> Result<RefGuard> {
        let mut t = self.table();
        if let Some(since) = t.get(reference) {
            let held = SystemTime::now().duration_since(*since).unwrap_or_default();
            return Err(Error::Locked {
                reference: reference.to_owned(),
                held: go_duration(held),
                since: rfc3339(*since),
            });
        }
        t.insert(reference.to_owned(), SystemTime::now());
        Ok(RefGuard {
            locks: Arc::clone(self),
            reference: reference.to_owned(),
        })
    }
}

/// Holds a ref's lock; dropping it releases the ref.
pub struct RefGuard {
    locks: Arc<RefLocks>,
    reference: String,
}

impl Drop for RefGuard {
    fn drop(&mut self) {
        self.locks.table().remove(&self.reference);
    }
}
