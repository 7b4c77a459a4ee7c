//! Pushing an image from the content store: each blob is skipped if the registry has it
//! (HEAD), mounted from the repository it came from when that is on the same registry, else
//! uploaded (in one PUT, or in PATCH chunks when larger than the chunk size); then the
//! manifest is put under the tag.

use crate::client::Client;
use crate::error::{RegistryError, Result};
use crate::progress::{Event, Progress};
use crate::pull::Blob;
use crate::reference::Reference;
use crate::repository::{Repository, Request};
use dm_content::{Digest, Store};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION};
use reqwest::{Method, Response, StatusCode, Url};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Settings of a push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Blobs up to this size go up in one PUT; larger ones in PATCH chunks of this size.
    pub chunk_size: u64,
    /// Most blobs uploaded at once.
    pub concurrency: usize,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            chunk_size: 16 << 20,
            concurrency: 3,
        }
    }
}

/// What to push.
#[derive(Debug, Clone)]
pub struct PushSource {
    /// The manifest and its exact bytes.
    pub manifest: Blob,
    /// The config.
    pub config: Blob,
    /// The layers.
    pub layers: Vec<Blob>,
    /// Where the image was pulled from: its blobs can be mounted from there when the target
    /// is another repository of the same registry.
    pub from: Option<Reference>,
}

/// Pushes `src` to `target`; returns the manifest digest the registry has it under.
pub async fn push(
    client: &Client,
    store: &Store,
    src: &PushSource,
    target: &Reference,
    opts: &PushOptions,
    progress: &Progress,
) -> Result<Digest> {
    let repo = client.repository(target)?;
    let ep = pick_origin(&repo).await?;
    let mount_from = src
        .from
        .as_ref()
        .filter(|f| f.domain() == target.domain() && f.path() != target.path())
        .map(|f| f.path().to_owned());
    if let Some(from) = &mount_from {
        repo.add_scope(format!("repository:{from}:pull"));
    }
    let permits = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for b in std::iter::once(&src.config).chain(&src.layers) {
        let (repo, store, progress, permits) = (
            repo.clone(),
            store.clone(),
            progress.clone(),
            permits.clone(),
        );
        let (b, from, chunk) = (b.clone(), mount_from.clone(), opts.chunk_size.max(1));
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            push_blob(&repo, ep, &store, &b, from.as_deref(), chunk, &progress).await
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|e| RegistryError::Setup(format!("upload task failed: {e}")))??;
    }
    let bytes = crate::unpack::read_blob(store, &src.manifest.digest)?;
    let mut req = Request::new(
        Method::PUT,
        repo.api_url(ep, &format!("manifests/{}", target.object())),
    );
    req.headers
        .push((CONTENT_TYPE, src.manifest.media_type.clone()));
    req.body = Some(bytes.into());
    let resp = repo.send_req(ep, &req).await?;
    let resp = repo.check(resp, "manifest").await?;
    if let Some(d) = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
    {
        if d != src.manifest.digest.to_string() {
            return Err(RegistryError::BadDocument {
                what: format!("manifest push to {target}"),
                detail: format!("the registry stored it as {d}, not {}", src.manifest.digest),
            });
        }
    }
    Ok(src.manifest.digest.clone())
}

/// The first registry endpoint (mirrors are read-only) that answers `GET /v2/`.
async fn pick_origin(repo: &Repository) -> Result<usize> {
    let mut last = None;
    for (i, ep) in repo
        .endpoints()
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.mirror)
    {
        let url = format!("{}/v2/", ep.base);
        match repo.send_req(i, &Request::new(Method::GET, url)).await {
            Ok(_) | Err(RegistryError::Unauthorized { .. }) => return Ok(i),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| RegistryError::Setup(format!("no endpoint for {}", repo.domain()))))
}

async fn push_blob(
    repo: &Repository,
    ep: usize,
    store: &Store,
    b: &Blob,
    mount_from: Option<&str>,
    chunk: u64,
    progress: &Progress,
) -> Result<()> {
    let d = &b.digest;
    let head = repo
        .send_req(
            ep,
            &Request::new(Method::HEAD, repo.api_url(ep, &format!("blobs/{d}"))),
        )
        .await?;
    if head.status().is_success() {
        progress.emit(Event::Exists { digest: d.clone() });
        return Ok(());
    }
    let start = match mount_from {
        Some(from) => format!("blobs/uploads/?mount={d}&from={from}"),
        None => "blobs/uploads/".to_owned(),
    };
    let mut post = Request::new(Method::POST, repo.api_url(ep, &start));
    post.headers.push((CONTENT_LENGTH, "0".into()));
    let resp = repo.send_req(ep, &post).await?;
    if mount_from.is_some() && resp.status() == StatusCode::CREATED {
        progress.emit(Event::Mounted { digest: d.clone() });
        return Ok(());
    }
    let resp = repo.check(resp, "upload").await?;
    let mut location = next_location(&resp)?;
    let total = b.size;
    progress.emit(Event::Uploading {
        digest: d.clone(),
        offset: 0,
        total,
    });
    let mut offset = 0;
    let mut body = None;
    if total <= chunk {
        body = Some(read_range(store, d, 0, total)?);
    } else {
        while offset < total {
            let len = chunk.min(total - offset);
            let mut patch = Request::new(Method::PATCH, location.to_string());
            patch
                .headers
                .push((CONTENT_TYPE, "application/octet-stream".into()));
            patch
                .headers
                .push((CONTENT_RANGE, format!("{offset}-{}", offset + len - 1)));
            patch.body = Some(read_range(store, d, offset, len)?.into());
            let resp = repo.send_req(ep, &patch).await?;
            let resp = repo
                .check(resp, &format!("chunk at {offset} of {d}"))
                .await?;
            location = next_location(&resp)?;
            offset += len;
            progress.emit(Event::Uploading {
                digest: d.clone(),
                offset,
                total,
            });
        }
    }
    location
        .query_pairs_mut()
        .append_pair("digest", &d.to_string());
    let mut put = Request::new(Method::PUT, location.to_string());
    put.headers
        .push((CONTENT_TYPE, "application/octet-stream".into()));
    match body {
        Some(bytes) => put.body = Some(bytes.into()),
        None => put.headers.push((CONTENT_LENGTH, "0".into())),
    }
    let resp = repo.send_req(ep, &put).await?;
    repo.check(resp, &format!("upload of {d}")).await?;
    progress.emit(Event::Uploaded {
        digest: d.clone(),
        size: total,
    });
    Ok(())
}

/// The upload session URL a registry answered with (relative ones resolved).
fn next_location(resp: &Response) -> Result<Url> {
    let loc = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| RegistryError::BadDocument {
            what: format!("upload answer from {}", resp.url()),
            detail: "no Location header".into(),
        })?;
    resp.url()
        .join(loc)
        .map_err(|e| RegistryError::BadDocument {
            what: format!("upload answer from {}", resp.url()),
            detail: format!("Location {loc:?}: {e}"),
        })
}

/// `len` bytes of blob `d` from `offset` (the last range of a blob is verified on the way).
fn read_range(store: &Store, d: &Digest, offset: u64, len: u64) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(len as usize);
    store.read(d, offset, Some(len), 1 << 20, |_, chunk| {
        out.extend_from_slice(&chunk);
        true
    })?;
    Ok(out)
}
