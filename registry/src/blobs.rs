//! Blob endpoints: pull (with Range), delete, and the upload protocol (monolithic POST,
//! POST+PUT, chunked PATCH with Content-Range, status, cross-repository mount).

use crate::body::{empty, Body, ChannelBody};
use crate::error::{Error, Result};
use crate::names::{parse_digest, validate_repo};
use crate::routes::query;
use crate::server::{build, reply, Registry};
use bytes::Bytes;
use dm_content::{Digest, Labels, Writer};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// Bytes per chunk when streaming a blob out.
const READ_CHUNK: usize = 1 << 20;

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Parses a single `bytes=a-b`, `bytes=a-` or `bytes=-n` range over `size` bytes into
/// (offset, length).
fn parse_range(spec: &str, size: u64) -> Result<(u64, u64)> {
    let bad = |why: &str| Error::RangeInvalid {
        why: format!("Range {spec:?}: {why}"),
        current: size,
        upload: false,
    };
    let r = spec
        .strip_prefix("bytes=")
        .ok_or_else(|| bad("only bytes ranges are supported"))?;
    if r.contains(',') {
        return Err(bad("multiple ranges are not supported"));
    }
    let (a, b) = r.split_once('-').ok_or_else(|| bad("expected start-end"))?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad("not a number"));
    let (start, end) = match (a.trim().is_empty(), b.trim().is_empty()) {
        (false, false) => (num(a)?, num(b)?.min(size.saturating_sub(1))),
        (false, true) => (num(a)?, size.saturating_sub(1)),
        (true, false) => {
            let n = num(b)?.min(size);
            if n == 0 {
                return Err(bad("empty suffix"));
            }
            (size - n, size - 1)
        }
        (true, true) => return Err(bad("expected start-end")),
    };
    if start >= size || end < start {
        return Err(bad("outside the blob"));
    }
    Ok((start, end - start + 1))
}

/// Parses an upload chunk's `Content-Range: <start>-<end>` (a `bytes ` prefix and `/total`
/// suffix are tolerated).
fn parse_content_range(v: &str, current: u64) -> Result<(u64, u64)> {
    let bad = |why: &str| Error::RangeInvalid {
        why: format!("Content-Range {v:?}: {why}"),
        current,
        upload: true,
    };
    let r = v.trim().trim_start_matches("bytes").trim();
    let r = r.split('/').next().unwrap_or(r);
    let (a, b) = r
        .split_once('-')
        .ok_or_else(|| bad("expected <start>-<end>"))?;
    let start: u64 = a.trim().parse().map_err(|_| bad("start is not a number"))?;
    let end: u64 = b.trim().parse().map_err(|_| bad("end is not a number"))?;
    if end < start {
        return Err(bad("end before start"));
    }
    Ok((start, end))
}

fn upload_location(name: &str, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

/// 202 Accepted for an upload in progress at `offset`.
fn upload_accepted(status: StatusCode, name: &str, id: &str, offset: u64) -> Response<Body> {
    build(
        reply(status)
            .header("Location", upload_location(name, id))
            .header("Docker-Upload-UUID", id)
            .header("Range", format!("0-{}", offset.saturating_sub(1)))
            .header("Content-Length", "0"),
        empty(),
    )
}

fn blob_created(name: &str, d: &Digest) -> Response<Body> {
    build(
        reply(StatusCode::CREATED)
            .header("Location", format!("/v2/{name}/blobs/{d}"))
            .header("Docker-Content-Digest", d.to_string())
            .header("Content-Length", "0"),
        empty(),
    )
}

/// Appends a request body to an upload, up to `limit` bytes in all; the writer keeps
/// whatever arrived before an error.
async fn pump(body: Incoming, w: &mut Writer, limit: Option<u64>) -> Result<u64> {
    let mut body = body;
    let mut n = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Error::UploadInvalid(format!("request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if let Some(l) = limit {
                if w.offset() + data.len() as u64 > l {
                    return Err(Error::TooLarge {
                        what: "blob",
                        limit: l as usize,
                    });
                }
            }
            w.write(&data)?;
            n += data.len() as u64;
        }
    }
    Ok(n)
}

impl Registry {
    /// The repository must hold the blob and the store must still have it.
    fn repo_blob(&self, name: &str, d: &Digest) -> Result<dm_content::Blob> {
        if !self.meta.has_blob(name, d) {
            return Err(Error::BlobUnknown(d.clone()));
        }
        self.store.open_blob(d).map_err(|e| match e {
            dm_content::Error::BlobNotFound(d) => Error::BlobUnknown(d),
            e => e.into(),
        })
    }

    pub(crate) fn get_blob(
        &self,
        req: &Request<Incoming>,
        name: &str,
        d: &Digest,
        head: bool,
    ) -> Result<Response<Body>> {
        let blob = self.repo_blob(name, d)?;
        let size = blob.size();
        let (status, offset, len) = match header(req.headers(), "Range") {
            Some(r) => {
                let (o, l) = parse_range(r, size)?;
                (StatusCode::PARTIAL_CONTENT, o, l)
            }
            None => (StatusCode::OK, 0, size),
        };
        let mut b = reply(status)
            .header("Content-Type", "application/octet-stream")
            .header("Docker-Content-Digest", d.to_string())
            .header("Accept-Ranges", "bytes")
            .header("Content-Length", len.to_string());
        if status == StatusCode::PARTIAL_CONTENT {
            b = b.header(
                "Content-Range",
                format!("bytes {offset}-{}/{size}", offset + len - 1),
            );
        }
        if head || len == 0 {
            return Ok(build(b, empty()));
        }
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let r = store.read_blob(&blob, offset, Some(len), READ_CHUNK, |_, data| {
                tx.blocking_send(Ok(Bytes::from(data))).is_ok()
            });
            if let Err(e) = r {
                log::error!("reading blob: {e}");
                let _ = tx.blocking_send(Err(std::io::Error::other(e)));
            }
        });
        Ok(build(b, http_body_util::BodyExt::boxed(ChannelBody(rx))))
    }

    pub(crate) fn delete_blob(&self, name: &str, d: &Digest) -> Result<Response<Body>> {
        if !self.cfg.allow_delete {
            return Err(Error::Unsupported("deletes are disabled".into()));
        }
        if !self.meta.unlink_blob(name, d)? {
            return Err(Error::BlobUnknown(d.clone()));
        }
        Ok(build(
            reply(StatusCode::ACCEPTED).header("Content-Length", "0"),
            empty(),
        ))
    }

    /// Commits an upload's writer as `d` and links it into the repository; a digest mismatch
    /// drops the upload (its bytes can never become `d`).
    fn commit(&self, name: &str, id: &str, w: Writer, d: &Digest) -> Result<()> {
        // Commit and link under the GC lock: an existing blob the commit finds already there
        // must not be collected before the link keeps it.
        let _shared = self.gc_lock.read().unwrap_or_else(|p| p.into_inner());
        let r = tokio::task::block_in_place(|| w.commit(None, Some(d.clone()), &Labels::new()));
        match r {
            Ok(_) => self.meta.link_blob(name, d),
            Err(e) => {
                let _ = self.uploads.cancel(name, id);
                Err(match e {
                    dm_content::Error::DigestMismatch { actual, expected } => Error::DigestInvalid(
                        format!("uploaded content has digest {actual}, not {expected}"),
                    ),
                    e => e.into(),
                })
            }
        }
    }

    pub(crate) async fn start_upload(
        &self,
        req: Request<Incoming>,
        name: &str,
    ) -> Result<Response<Body>> {
        let q = query(req.uri().query());
        let one = |k: &str| q.get(k).and_then(|v| v.last()).cloned();
        if let Some(mount) = one("mount") {
            let d = parse_digest(&mount)?;
            if let Some(from) = one("from") {
                validate_repo(&from)?;
                let _shared = self.gc_lock.read().unwrap_or_else(|p| p.into_inner());
                if self.meta.has_blob(&from, &d) && self.store.size(&d).is_ok() {
                    self.meta.link_blob(name, &d)?;
                    return Ok(blob_created(name, &d));
                }
            }
        }
        let digest = one("digest").map(|d| parse_digest(&d)).transpose()?;
        let (id, mut w) = self.uploads.start(name)?;
        match digest {
            Some(d) => {
                if let Err(e) = pump(req.into_body(), &mut w, self.cfg.max_blob_bytes).await {
                    drop(w);
                    let _ = self.uploads.cancel(name, &id);
                    return Err(e);
                }
                self.commit(name, &id, w, &d)?;
                Ok(blob_created(name, &d))
            }
            None => {
                self.uploads.put(name, &id, w);
                Ok(upload_accepted(StatusCode::ACCEPTED, name, &id, 0))
            }
        }
    }

    pub(crate) fn upload_status(&self, name: &str, id: &str) -> Result<Response<Body>> {
        let offset = self.uploads.offset(name, id)?;
        Ok(upload_accepted(StatusCode::NO_CONTENT, name, id, offset))
    }

    /// Appends a request's body to upload `id`, honouring its Content-Range; hands the writer
    /// back to the session table whatever happens, so a broken chunk can be resumed.
    async fn append(&self, req: Request<Incoming>, name: &str, id: &str) -> Result<Writer> {
        let mut w = self.uploads.take(name, id)?;
        let current = w.offset();
        let h = req.headers();
        let range = match header(h, "Content-Range") {
            Some(v) => match parse_content_range(v, current) {
                Ok(r) => Some(r),
                Err(e) => {
                    self.uploads.put(name, id, w);
                    return Err(e);
                }
            },
            None => None,
        };
        if let Some((start, _)) = range {
            if start != current {
                self.uploads.put(name, id, w);
                return Err(Error::RangeInvalid {
                    why: format!("chunk starts at {start}, the upload is at {current}"),
                    current,
                    upload: true,
                });
            }
        }
        let r = pump(req.into_body(), &mut w, self.cfg.max_blob_bytes).await;
        let n = match r {
            Ok(n) => n,
            Err(e) => {
                self.uploads.put(name, id, w);
                return Err(e);
            }
        };
        if let Some((start, end)) = range {
            if n != end - start + 1 {
                let at = w.offset();
                self.uploads.put(name, id, w);
                return Err(Error::RangeInvalid {
                    why: format!(
                        "Content-Range {start}-{end} announced {} bytes, {n} arrived",
                        end - start + 1
                    ),
                    current: at,
                    upload: true,
                });
            }
        }
        Ok(w)
    }

    pub(crate) async fn patch_upload(
        &self,
        req: Request<Incoming>,
        name: &str,
        id: &str,
    ) -> Result<Response<Body>> {
        let w = self.append(req, name, id).await?;
        let offset = w.offset();
        self.uploads.put(name, id, w);
        Ok(upload_accepted(StatusCode::ACCEPTED, name, id, offset))
    }

    pub(crate) async fn finish_upload(
        &self,
        req: Request<Incoming>,
        name: &str,
        id: &str,
    ) -> Result<Response<Body>> {
        let q = query(req.uri().query());
        let Some(d) = q.get("digest").and_then(|v| v.last()) else {
            return Err(Error::DigestInvalid(
                "PUT completing an upload needs the digest query parameter".into(),
            ));
        };
        let d = parse_digest(d)?;
        let w = self.append(req, name, id).await?;
        self.commit(name, id, w, &d)?;
        Ok(blob_created(name, &d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), (0, 10));
        assert_eq!(parse_range("bytes=90-", 100).unwrap(), (90, 10));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), (90, 10));
        assert_eq!(parse_range("bytes=95-200", 100).unwrap(), (95, 5));
        for bad in [
            "bytes=100-",
            "bytes=5-2",
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=-0",
            "bytes=x-1",
        ] {
            let e = parse_range(bad, 100).unwrap_err();
            assert_eq!(e.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{bad}");
        }
        assert_eq!(parse_content_range("0-99", 0).unwrap(), (0, 99));
        assert_eq!(parse_content_range("bytes 5-9/*", 0).unwrap(), (5, 9));
        assert!(parse_content_range("9-5", 0).is_err());
    }
}
