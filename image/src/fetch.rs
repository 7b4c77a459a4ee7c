//! Downloading one blob into the content store: streamed into an ingest that hashes as it
//! writes, resumed with `Range` after a broken connection, committed only if size and digest
//! match the descriptor; on any failure the ingest is removed, so nothing half-written stays.

use crate::error::{RegistryError, Result};
use crate::progress::{Event, Progress};
use crate::repository::Repository;
use dm_content::{Digest, Store};
use reqwest::StatusCode;

/// How many times a broken download is resumed before the pull fails.
const RESUMES: u32 = 5;
/// Bytes between progress events.
const PROGRESS_STEP: u64 = 4 << 20;

/// Whether a blob was downloaded or already present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Already in the store: nothing fetched.
    Present,
    /// Fetched, verified and committed.
    Fetched,
}

/// Makes sure blob `digest` of `size` bytes is in `store`, fetching it from `repo` if not.
pub async fn fetch_blob(
    repo: &Repository,
    store: &Store,
    digest: &Digest,
    size: u64,
    progress: &Progress,
) -> Result<Outcome> {
    if store.size(digest).is_ok() {
        progress.emit(Event::Exists {
            digest: digest.clone(),
        });
        return Ok(Outcome::Present);
    }
    let reference = format!("dm-image-pull-{digest}");
    let writer = match store.writer(&reference, Some(size), Some(digest.clone())) {
        Ok(w) => w,
        Err(dm_content::Error::AlreadyExists(_)) => return Ok(Outcome::Present),
        Err(e) => return Err(e.into()),
    };
    let result = download(repo, writer, digest, size, progress).await;
    if result.is_err() {
        // The writer is gone by now (moved into download), so its lock is released.
        let _ = store.abort(&reference);
    }
    result
}

async fn download(
    repo: &Repository,
    mut w: dm_content::Writer,
    digest: &Digest,
    size: u64,
    progress: &Progress,
) -> Result<Outcome> {
    progress.emit(Event::Downloading {
        digest: digest.clone(),
        offset: w.offset(),
        total: size,
    });
    let mut broken = 0;
    let mut last_error = None;
    while w.offset() < size && broken <= RESUMES {
        match copy_body(repo, &mut w, digest, size, progress).await {
            Ok(()) if w.offset() == size => break,
            // A body that ended early without an error is resumed like a broken one.
            Ok(()) => {}
            Err(e @ RegistryError::Transport { .. }) => last_error = Some(e),
            Err(e) => return Err(e),
        }
        broken += 1;
        if broken <= RESUMES {
            log::info!(
                "blob {digest}: connection broke at {} of {size} bytes; resuming",
                w.offset()
            );
        }
    }
    if w.offset() != size {
        return Err(last_error.unwrap_or(RegistryError::SizeMismatch {
            digest: digest.clone(),
            expected: size,
            got: w.offset(),
        }));
    }
    match w.commit(Some(size), Some(digest.clone()), &Default::default()) {
        Ok(_) => {}
        Err(dm_content::Error::DigestMismatch { actual, expected }) => {
            return Err(RegistryError::DigestMismatch {
                what: "blob",
                expected,
                actual,
            })
        }
        Err(e) => return Err(e.into()),
    }
    progress.emit(Event::Done {
        digest: digest.clone(),
        size,
    });
    Ok(Outcome::Fetched)
}

/// Appends the blob's bytes from the writer's offset on; Ok when the body ends.
async fn copy_body(
    repo: &Repository,
    w: &mut dm_content::Writer,
    digest: &Digest,
    size: u64,
    progress: &Progress,
) -> Result<()> {
    let from = w.offset();
    let mut resp = repo.blob(digest, from).await?;
    let url = resp.url().to_string();
    if from > 0 && resp.status() != StatusCode::PARTIAL_CONTENT {
        // The server ignored the Range: start over from its first byte.
        w.truncate(0)?;
    }
    let mut next_event = w.offset() + PROGRESS_STEP;
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => return Ok(()),
            Err(e) => return Err(RegistryError::transport(&url, &e)),
        };
        if w.offset() + chunk.len() as u64 > size {
            return Err(RegistryError::SizeMismatch {
                digest: digest.clone(),
                expected: size,
                got: w.offset() + chunk.len() as u64,
            });
        }
        w.write(&chunk)?;
        if w.offset() >= next_event {
            next_event = w.offset() + PROGRESS_STEP;
            progress.emit(Event::Downloading {
                digest: digest.clone(),
                offset: w.offset(),
                total: size,
            });
        }
    }
}

/// Stores `bytes` (already verified to be `digest`) as a blob, unless present.
pub fn put_bytes(store: &Store, digest: &Digest, bytes: &[u8]) -> Result<()> {
    Ok(store.put("dm-image", digest, bytes)?)
}
