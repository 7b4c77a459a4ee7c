//! Manifest endpoints (pull, push, delete), tag listing, the catalog and the referrers API.

use crate::body::{empty, full, Body};
use crate::error::{Error, Result};
use crate::manifest::{self, OCI_INDEX};
use crate::names::{new_upload_id, Reference};
use crate::routes::query;
use crate::server::{build, reply, Registry};
use dm_content::{Digest, Labels};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// `n`/`last` pagination over sorted `items`: the page, and whether more follow.
fn paginate(items: Vec<String>, n: Option<usize>, last: Option<&str>) -> (Vec<String>, bool) {
    let rest: Vec<String> = match last {
        Some(l) => items.into_iter().filter(|i| i.as_str() > l).collect(),
        None => items,
    };
    match n {
        Some(n) if rest.len() > n => (rest[..n].to_vec(), true),
        _ => (rest, false),
    }
}

/// Most `tag` parameters one manifest push may carry (the spec asks for at least 10).
const MAX_TAG_PARAMS: usize = 100;

/// The `?tag=` parameters of a push by digest (distribution-spec: tags applied with the
/// push, answered by `OCI-Tag`), all checked before anything is stored.
fn tag_params(req: &Request<Incoming>, r: &Reference) -> Result<Vec<String>> {
    let mut tags = query(req.uri().query()).remove("tag").unwrap_or_default();
    if tags.is_empty() {
        return Ok(tags);
    }
    let bad = |why: String| Error::Parameter { name: "tag", why };
    if matches!(r, Reference::Tag(_)) {
        return Err(bad("tag parameters need a push by digest".into()));
    }
    if tags.len() > MAX_TAG_PARAMS {
        return Err(bad(format!("more than {MAX_TAG_PARAMS} tags in one push")));
    }
    for t in &tags {
        crate::names::validate_tag(t).map_err(|e| bad(e.to_string()))?;
    }
    tags.sort();
    tags.dedup();
    Ok(tags)
}

fn page_params(req: &Request<Incoming>) -> Result<(Option<usize>, Option<String>)> {
    let q = query(req.uri().query());
    let n = match q.get("n").and_then(|v| v.last()) {
        Some(v) => Some(v.parse::<usize>().map_err(|_| Error::Parameter {
            name: "n",
            why: format!("{v:?} is not a non-negative number"),
        })?),
        None => None,
    };
    Ok((n, q.get("last").and_then(|v| v.last()).cloned()))
}

/// A page of a list as JSON, with the Link header pointing at the next page if there is one.
fn page(
    path: &str,
    key: &str,
    extra: Option<(&str, &str)>,
    items: Vec<String>,
    n: Option<usize>,
    last: Option<&str>,
) -> Response<Body> {
    let (items, more) = paginate(items, n, last);
    let mut b = reply(StatusCode::OK).header("Content-Type", "application/json");
    if let (true, Some(n), Some(l)) = (more, n, items.last()) {
        b = b.header("Link", format!("<{path}?n={n}&last={l}>; rel=\"next\""));
    }
    let mut v = serde_json::json!({ key: items });
    if let Some((k, val)) = extra {
        v[k] = val.into();
    }
    build(b, full(v.to_string()))
}

impl Registry {
    /// The digest a reference names in the repository, and the manifest's media type.
    fn resolve(&self, name: &str, r: &Reference) -> Result<(Digest, String)> {
        let unknown = || Error::ManifestUnknown(format!("{name}:{r}"));
        let d = match r {
            Reference::Digest(d) => d.clone(),
            Reference::Tag(t) => self.meta.tag(name, t)?.ok_or_else(unknown)?,
        };
        let mut media = self.meta.manifest(name, &d)?.ok_or_else(unknown)?;
        if media.is_empty() {
            // Its record lost its bytes in a power cut (see `meta`): the manifest says its type.
            media = manifest::parse(&self.read_small(&d)?, None)
                .map(|m| m.media_type)
                .unwrap_or_else(|_| manifest::OCI_MANIFEST.into());
        }
        Ok((d, media))
    }

    pub(crate) fn read_small(&self, d: &Digest) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.store.read(d, 0, None, 1 << 20, |_, data| {
            out.extend_from_slice(&data);
            true
        })?;
        Ok(out)
    }

    pub(crate) fn get_manifest(
        &self,
        name: &str,
        r: &Reference,
        head: bool,
    ) -> Result<Response<Body>> {
        let (d, media) = self.resolve(name, r)?;
        let data = match self.read_small(&d) {
            Err(Error::Content(dm_content::Error::BlobNotFound(_))) => {
                return Err(Error::ManifestUnknown(format!("{name}:{r}")))
            }
            r => r?,
        };
        let b = reply(StatusCode::OK)
            .header("Content-Type", media)
            .header("Docker-Content-Digest", d.to_string())
            .header("Content-Length", data.len().to_string());
        Ok(build(b, if head { empty() } else { full(data) }))
    }

    pub(crate) async fn put_manifest(
        &self,
        req: Request<Incoming>,
        name: &str,
        r: &Reference,
    ) -> Result<Response<Body>> {
        let limit = self.cfg.max_manifest_bytes;
        let too_large = Error::TooLarge {
            what: "manifest",
            limit,
        };
        let declared = req
            .headers()
            .get("Content-Length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|l| l > limit as u64) {
            return Err(too_large);
        }
        let tags = tag_params(&req, r)?;
        let content_type = req
            .headers()
            .get("Content-Type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = req.into_body();
        let mut data = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Error::ManifestInvalid(format!("request body: {e}")))?;
            if let Ok(chunk) = frame.into_data() {
                if data.len() + chunk.len() > limit {
                    return Err(too_large);
                }
                data.extend_from_slice(&chunk);
            }
        }
        let m = manifest::parse(&data, content_type.as_deref())?;
        let d = match r {
            Reference::Digest(want) => {
                let got = Digest::of_with(want.algorithm(), &data);
                if &got != want {
                    return Err(Error::DigestInvalid(format!(
                        "manifest has digest {got}, not {want}"
                    )));
                }
                got
            }
            Reference::Tag(_) => Digest::of(&data),
        };
        // Held from the reference checks to the last link, so a collection cannot delete a
        // blob this manifest was found to reference.
        let _shared = self.gc_lock.read().unwrap_or_else(|p| p.into_inner());
        for b in &m.blobs {
            if !self.meta.has_blob(name, b) || self.store.size(b).is_err() {
                return Err(Error::ManifestBlobUnknown(b.clone()));
            }
        }
        for c in &m.manifests {
            if self.meta.manifest(name, c)?.is_none() {
                return Err(Error::ManifestBlobUnknown(c.clone()));
            }
        }
        tokio::task::block_in_place(|| self.store_manifest(name, &d, &data))?;
        self.meta.link_manifest(name, &d, &m.media_type)?;
        if let Some(s) = &m.subject {
            self.meta.link_referrer(name, s, &d)?;
        }
        if let Reference::Tag(t) = r {
            self.meta.set_tag(name, t, &d)?;
        }
        for t in &tags {
            self.meta.set_tag(name, t, &d)?;
        }
        let mut b = reply(StatusCode::CREATED)
            .header("Location", format!("/v2/{name}/manifests/{d}"))
            .header("Docker-Content-Digest", d.to_string())
            .header("Content-Length", "0");
        if !tags.is_empty() {
            b = b.header("OCI-Tag", tags.join(", "));
        }
        if let Some(s) = &m.subject {
            b = b.header("OCI-Subject", s.to_string());
        }
        Ok(build(b, empty()))
    }

    /// Stores manifest bytes as a blob (already there is fine: same digest, same bytes).
    fn store_manifest(&self, name: &str, d: &Digest, data: &[u8]) -> Result<()> {
        if self.store.size(d).is_ok() {
            return Ok(());
        }
        // A fresh ingest per push: concurrent pushes of one manifest must not share a writer.
        let reference = format!("dm-registry/{name}/manifest/{}", new_upload_id());
        let mut w = self.store.writer(&reference, None, None)?;
        w.write(data)?;
        w.commit(Some(data.len() as u64), Some(d.clone()), &Labels::new())?;
        Ok(())
    }

    pub(crate) fn delete_manifest(&self, name: &str, r: &Reference) -> Result<Response<Body>> {
        if !self.cfg.allow_delete {
            return Err(Error::Unsupported("deletes are disabled".into()));
        }
        let gone = match r {
            Reference::Tag(t) => self.meta.untag(name, t)?,
            Reference::Digest(d) => self.meta.unlink_manifest(name, d)?,
        };
        if !gone {
            return Err(Error::ManifestUnknown(format!("{name}:{r}")));
        }
        Ok(build(
            reply(StatusCode::ACCEPTED).header("Content-Length", "0"),
            empty(),
        ))
    }

    pub(crate) fn tags(&self, req: &Request<Incoming>, name: &str) -> Result<Response<Body>> {
        if !self.meta.repo_exists(name) {
            return Err(Error::NameUnknown(name.to_owned()));
        }
        let (n, last) = page_params(req)?;
        Ok(page(
            req.uri().path(),
            "tags",
            Some(("name", name)),
            self.meta.tags(name)?,
            n,
            last.as_deref(),
        ))
    }

    pub(crate) fn catalog(&self, req: &Request<Incoming>) -> Result<Response<Body>> {
        let (n, last) = page_params(req)?;
        Ok(page(
            req.uri().path(),
            "repositories",
            None,
            self.meta.repositories()?,
            n,
            last.as_deref(),
        ))
    }

    pub(crate) fn referrers(
        &self,
        req: &Request<Incoming>,
        name: &str,
        subject: &Digest,
    ) -> Result<Response<Body>> {
        let q = query(req.uri().query());
        let filter = q.get("artifactType").and_then(|v| v.last()).cloned();
        let mut descriptors = Vec::new();
        for d in self.meta.referrers(name, subject)? {
            let Some(media) = self.meta.manifest(name, &d)? else {
                continue;
            };
            let Ok(data) = self.read_small(&d) else {
                continue;
            };
            let Ok(m) = manifest::parse(&data, Some(&media)) else {
                continue;
            };
            if filter.is_some() && m.artifact_type != filter {
                continue;
            }
            let mut desc = serde_json::json!({
                "mediaType": media, "digest": d.to_string(), "size": data.len(),
            });
            if let Some(a) = &m.artifact_type {
                desc["artifactType"] = a.clone().into();
            }
            if !m.annotations.is_empty() {
                desc["annotations"] = serde_json::json!(m.annotations);
            }
            descriptors.push(desc);
        }
        let index = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors,
        });
        let mut b = reply(StatusCode::OK).header("Content-Type", OCI_INDEX);
        if filter.is_some() {
            b = b.header("OCI-Filters-Applied", "artifactType");
        }
        Ok(build(b, full(index.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagination_follows_last_and_n() {
        let items: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        assert_eq!(
            paginate(items.clone(), Some(2), None),
            (vec!["a".into(), "b".into()], true)
        );
        assert_eq!(
            paginate(items.clone(), Some(2), Some("b")),
            (vec!["c".into(), "d".into()], false)
        );
        assert_eq!(paginate(items.clone(), Some(0), None), (vec![], true));
        assert_eq!(paginate(items.clone(), None, Some("d")), (vec![], false));
    }
}
