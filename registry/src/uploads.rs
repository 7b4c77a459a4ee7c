//! Upload sessions: each is a dm-content ingest named `dm-registry/<repo>/<id>`, so its bytes
//! survive a dropped connection (and a restart) and become a blob only when a commit has
//! verified their digest. Writers between requests are kept open here so that a chunked
//! upload is not re-hashed on every chunk; after a restart they are reopened from disk.

use crate::error::{Error, Result};
use crate::names::new_upload_id;
use dm_content::{Kind, Store, Writer};
use std::collections::HashMap;
use std::sync::Mutex;

/// The open upload sessions.
pub struct Uploads {
    store: Store,
    idle: Mutex<HashMap<String, Writer>>,
}

/// Open writers kept between requests; beyond this, one is closed (its upload stays on disk
/// and is reopened, re-hashed, by its next request), so abandoned uploads cannot exhaust
/// file descriptors.
const MAX_IDLE: usize = 512;

fn ingest_ref(repo: &str, id: &str) -> String {
    format!("dm-registry/{repo}/{id}")
}

impl Uploads {
    /// Sessions on `store`.
    pub fn new(store: Store) -> Uploads {
        Uploads {
            store,
            idle: Mutex::default(),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, HashMap<String, Writer>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a session in `repo`; returns its id and writer.
    pub fn start(&self, repo: &str) -> Result<(String, Writer)> {
        let id = new_upload_id();
        let w = self.store.writer(&ingest_ref(repo, &id), None, None)?;
        Ok((id, w))
    }

    /// Takes the writer of session `id` for one request; give it back with [`Uploads::put`].
    pub fn take(&self, repo: &str, id: &str) -> Result<Writer> {
        let r = ingest_ref(repo, id);
        if let Some(w) = self.idle().remove(&r) {
            return Ok(w);
        }
        match self.store.status(&r) {
            Ok(_) => {}
            Err(e) if e.kind() == Kind::NotFound => return Err(Error::UploadUnknown(id.into())),
            Err(e) => return Err(e.into()),
        }
        self.store
            .writer(&r, None, None)
            .map_err(|e| match e.kind() {
                Kind::Unavailable => {
                    Error::UploadInvalid(format!("upload {id} is busy with another request"))
                }
                _ => e.into(),
            })
    }

    /// Returns a writer taken with [`Uploads::take`] or made by [`Uploads::start`].
    pub fn put(&self, repo: &str, id: &str, w: Writer) {
        let mut idle = self.idle();
        if idle.len() >= MAX_IDLE {
            if let Some(k) = idle.keys().next().cloned() {
                idle.remove(&k);
            }
        }
        idle.insert(ingest_ref(repo, id), w);
    }

    /// Bytes received so far by session `id`.
    pub fn offset(&self, repo: &str, id: &str) -> Result<u64> {
        let r = ingest_ref(repo, id);
        if let Some(w) = self.idle().get(&r) {
            return Ok(w.offset());
        }
        match self.store.status(&r) {
            Ok(s) => Ok(s.offset),
            Err(e) if e.kind() == Kind::NotFound => Err(Error::UploadUnknown(id.into())),
            Err(e) => Err(e.into()),
        }
    }

    /// Closes the idle writer of ingest `reference` if there is one (before its ingest is
    /// aborted).
    pub fn forget(&self, reference: &str) {
        drop(self.idle().remove(reference));
    }

    /// Drops session `id` and its bytes.
    pub fn cancel(&self, repo: &str, id: &str) -> Result<()> {
        let r = ingest_ref(repo, id);
        drop(self.idle().remove(&r));
        match self.store.abort(&r) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == Kind::NotFound => Err(Error::UploadUnknown(id.into())),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_writers_are_capped_and_closed_ones_reopen_from_disk() {
        let dir = dm_testkit::TempDir::new("dm-registry-uploads");
        let u = Uploads::new(Store::open(dir.path()).unwrap());
        let mut ids = Vec::new();
        for i in 0..MAX_IDLE + 20 {
            let (id, mut w) = u.start("r").unwrap();
            w.write(format!("upload {i}").as_bytes()).unwrap();
            u.put("r", &id, w);
            ids.push(id);
        }
        assert_eq!(u.idle().len(), MAX_IDLE);
        for (i, id) in ids.iter().enumerate() {
            let w = u.take("r", id).unwrap();
            assert_eq!(w.offset(), format!("upload {i}").len() as u64, "{id}");
            u.put("r", id, w);
        }
        assert!(matches!(
            u.take("other", &ids[0]),
            Err(Error::UploadUnknown(_))
        ));
    }
}
