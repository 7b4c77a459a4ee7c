//! One repository on one registry: requests with the registry's auth dance (a 401 names a
//! Bearer token realm or Basic; the answer is cached for the session), endpoint fallback from
//! mirrors to the registry, and manifest fetches checked against their digest and a size limit.

mod answer;

use crate::auth::Challenge;
use crate::client::Client;
use crate::config::Endpoint;
use crate::error::{RegistryError, Result};
use crate::media;
use crate::reference::Reference;
use dm_content::{Algorithm, Digest};
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RANGE, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use std::sync::{Arc, Mutex};

/// Largest manifest or index accepted (what containerd and docker allow).
pub const MAX_MANIFEST: u64 = 4 << 20;

struct Inner {
    client: Client,
    domain: String,
    path: String,
    endpoints: Vec<Endpoint>,
    /// The endpoint that served the manifest; blobs come from the same place.
    chosen: Mutex<Option<usize>>,
    /// `Authorization` values by endpoint base, once a challenge was answered.
    authz: Mutex<Vec<(String, String)>>,
    /// Token scopes asked for besides the challenge's.
    extra_scopes: Mutex<Vec<String>>,
}

/// A request to send with [`Repository::send_req`].
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(reqwest::header::HeaderName, String)>,
    pub body: Option<bytes::Bytes>,
}

impl Request {
    pub fn new(method: Method, url: String) -> Request {
        Request {
            method,
            url,
            headers: Vec::new(),
            body: None,
        }
    }
}

/// A session on one repository; cheap to clone, shared by a pull's parallel downloads.
#[derive(Clone)]
pub struct Repository(Arc<Inner>);

/// A fetched manifest or index.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Its bytes, exactly as served (digests are over these).
    pub bytes: Vec<u8>,
    /// Its media type.
    pub media_type: String,
    /// Its digest (verified against the one asked for, if any).
    pub digest: Digest,
}

impl Repository {
    pub(crate) fn new(client: Client, r: &Reference, endpoints: Vec<Endpoint>) -> Repository {
        Repository(Arc::new(Inner {
            client,
            domain: r.domain().to_owned(),
            path: r.path().to_owned(),
            endpoints,
            chosen: Mutex::new(None),
            authz: Mutex::default(),
            extra_scopes: Mutex::default(),
        }))
    }

    /// A session on the registry itself (no repository): the `/v2/` login check. Token
    /// servers are asked for no scope.
    pub(crate) fn registry(client: Client, domain: &str, endpoints: Vec<Endpoint>) -> Repository {
        Repository(Arc::new(Inner {
            client,
            domain: domain.to_owned(),
            path: String::new(),
            endpoints,
            chosen: Mutex::new(None),
            authz: Mutex::default(),
            extra_scopes: Mutex::default(),
        }))
    }

    /// `host/path`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.0.domain, self.0.path)
    }

    /// Fetches the manifest `object` (tag or digest), trying mirrors before the registry.
    pub async fn manifest(&self, object: &str) -> Result<Fetched> {
        let mut last = None;
        for i in 0..self.0.endpoints.len() {
            match self.manifest_from(i, object).await {
                Ok(f) => {
                    *self.0.chosen.lock().unwrap_or_else(|p| p.into_inner()) = Some(i);
                    return Ok(f);
                }
                // Bad content is not fixed by asking elsewhere.
                Err(
                    e @ (RegistryError::DigestMismatch { .. } | RegistryError::TooLarge { .. }),
                ) => return Err(e),
                Err(e) => {
                    // docker falls back as quietly (from TLS to plain HTTP on loopback).
                    if i + 1 < self.0.endpoints.len() {
                        log::info!(
                            "{}: {e}; trying the next endpoint",
                            self.0.endpoints[i].base
                        );
                    }
                    last = Some(e);
                }
            }
        }
        Err(last
            .unwrap_or_else(|| RegistryError::Setup(format!("no endpoint for {}", self.0.domain))))
    }

    async fn manifest_from(&self, ep: usize, object: &str) -> Result<Fetched> {
        let suffix = format!("manifests/{object}");
        let resp = self.send(ep, Method::GET, &suffix, None).await?;
        let url = resp.url().to_string();
        let resp = self.check(resp, object).await?;
        let too_large = || RegistryError::TooLarge {
            what: object.to_owned(),
            limit: MAX_MANIFEST,
        };
        if resp.content_length().is_some_and(|n| n > MAX_MANIFEST) {
            return Err(too_large());
        }
        let header_type = content_type(resp.headers());
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok());
        let mut resp = resp;
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| RegistryError::transport(&url, &e))?
        {
            if bytes.len() as u64 + chunk.len() as u64 > MAX_MANIFEST {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        let wanted: Option<Digest> = object.parse().ok();
        let alg = wanted.as_ref().map_or(Algorithm::Sha256, Digest::algorithm);
        let digest = Digest::of_with(alg, &bytes);
        let expected = wanted.or(header_digest.filter(|d| d.algorithm() == alg));
        if let Some(expected) = expected.filter(|e| *e != digest) {
            return Err(RegistryError::DigestMismatch {
                what: "manifest",
                expected,
                actual: digest,
            });
        }
        let media_type =
            media_type_of(header_type, &bytes).ok_or_else(|| RegistryError::UnknownMediaType {
                what: format!("manifest {}:{object}", self.name()),
                media_type: "(none given)".into(),
            })?;
        Ok(Fetched {
            bytes,
            media_type,
            digest,
        })
    }

    /// GET a blob from byte `from` on (the endpoint that served the manifest).
    pub(crate) async fn blob(&self, digest: &Digest, from: u64) -> Result<Response> {
        let ep = self.chosen_endpoint();
        let range = (from > 0).then(|| format!("bytes={from}-"));
        let resp = self
            .send(ep, Method::GET, &format!("blobs/{digest}"), range)
            .await?;
        self.check(resp, &digest.to_string()).await
    }

    fn chosen_endpoint(&self) -> usize {
        let chosen = *self.0.chosen.lock().unwrap_or_else(|p| p.into_inner());
        chosen.unwrap_or(self.0.endpoints.len().saturating_sub(1))
    }

    /// Sends a request under `/v2/<path>/`, answering auth challenges.
    async fn send(
        &self,
        ep_index: usize,
        method: Method,
        suffix: &str,
        range: Option<String>,
    ) -> Result<Response> {
        let ep = &self.0.endpoints[ep_index];
        let mut req = Request::new(method, format!("{}/v2/{}/{suffix}", ep.base, self.0.path));
        req.headers
            .push((ACCEPT, media::MANIFEST_ACCEPT.to_owned()));
        if let Some(r) = range {
            req.headers.push((RANGE, r));
        }
        self.send_req(ep_index, &req).await
    }

    /// Sends `req`; a 401 is answered (Basic, or a Bearer token for the scope the challenge
    /// names) and the request sent again. The same challenge twice means the credentials
    /// were refused; a new scope (pull, then push) gets a new token.
    pub(crate) async fn send_req(&self, ep_index: usize, req: &Request) -> Result<Response> {
        let ep = &self.0.endpoints[ep_index];
        let http = self.0.client.http(ep)?;
        let mut answered: Vec<Challenge> = Vec::new();
        loop {
            let mut rb = http.request(req.method.clone(), &req.url);
            for (k, v) in &req.headers {
                rb = rb.header(k, v);
            }
            if let Some(b) = &req.body {
                rb = rb.body(b.clone());
            }
            if let Some(a) = self.cached_authz(&ep.base) {
                rb = rb.header(AUTHORIZATION, a);
            }
            let resp = rb
                .send()
                .await
                .map_err(|e| RegistryError::transport(&req.url, &e))?;
            if resp.status() != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            let challenge = resp
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(Challenge::parse)
                .ok_or_else(|| {
                    self.unauthorized("401 without a usable WWW-Authenticate challenge")
                })?;
            if answered.contains(&challenge) || answered.len() >= 3 {
                return Err(self.unauthorized("the registry refused the credentials"));
            }
            let value = self.answer(ep, &challenge).await?;
            let mut authz = self.0.authz.lock().unwrap_or_else(|p| p.into_inner());
            authz.retain(|(b, _)| *b != ep.base);
            authz.push((ep.base.clone(), value));
            answered.push(challenge);
        }
    }

    /// Also asks token servers for `scope` (e.g. pull on the source of a cross-repository
    /// mount).
    pub(crate) fn add_scope(&self, scope: String) {
        let mut s = self
            .0
            .extra_scopes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !s.contains(&scope) {
            s.push(scope);
        }
    }

    /// The endpoints, in the order they are tried.
    pub(crate) fn endpoints(&self) -> &[Endpoint] {
        &self.0.endpoints
    }

    /// `host/path` of this repository's API root at endpoint `ep`: `<base>/v2/<path>/`.
    pub(crate) fn api_url(&self, ep: usize, suffix: &str) -> String {
        format!("{}/v2/{}/{suffix}", self.0.endpoints[ep].base, self.0.path)
    }

    /// The repository path (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.0.path
    }

    /// The registry host.
    pub fn domain(&self) -> &str {
        &self.0.domain
    }

    fn cached_authz(&self, base: &str) -> Option<String> {
        let authz = self.0.authz.lock().unwrap_or_else(|p| p.into_inner());
        authz
            .iter()
            .find(|(b, _)| b == base)
            .map(|(_, v)| v.clone())
    }

    fn unauthorized(&self, detail: &str) -> RegistryError {
        RegistryError::Unauthorized {
            registry: self.0.domain.clone(),
            detail: detail.to_owned(),
        }
    }

    /// Passes success statuses; turns the rest into errors with the registry's message.
    pub(crate) async fn check(&self, resp: Response, what: &str) -> Result<Response> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        if status == StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound {
                what: what.to_owned(),
                repository: self.name(),
            });
        }
        let url = resp.url().to_string();
        let body = resp.text().await.unwrap_or_default();
        Err(RegistryError::Status {
            url,
            status: status.as_u16(),
            message: error_message(&body),
        })
    }
}

/// `code: message` of a distribution-spec error body, else its first line.
fn error_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let errors = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(|e| e.as_array());
    match errors {
        Some(list) => list
            .iter()
            .map(|e| {
                let s = |k| e.get(k).and_then(|v| v.as_str()).unwrap_or("");
                format!("{}: {}", s("code"), s("message"))
            })
            .collect::<Vec<_>>()
            .join("; "),
        None => body
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect(),
    }
}

fn content_type(h: &HeaderMap) -> Option<String> {
    let v = h.get(CONTENT_TYPE)?.to_str().ok()?;
    Some(v.split(';').next().unwrap_or(v).trim().to_owned())
}

/// The manifest's media type: the header's if it is a manifest type, else the document's own
/// `mediaType`, else guessed from its shape (OCI allows omitting it).
fn media_type_of(header: Option<String>, bytes: &[u8]) -> Option<String> {
    if let Some(h) = header
        .as_ref()
        .filter(|h| media::manifest_kind(h).is_some())
    {
        return Some(h.clone());
    }
    let doc: Option<serde_json::Value> = serde_json::from_slice(bytes).ok();
    let doc = doc.as_ref();
    if let Some(mt) = doc
        .and_then(|d| d.get("mediaType"))
        .and_then(|m| m.as_str())
    {
        return Some(mt.to_owned());
    }
    if doc.is_some_and(|d| d.get("manifests").is_some()) {
        Some(media::OCI_INDEX.to_owned())
    } else if doc.is_some_and(|d| d.get("layers").is_some()) {
        Some(media::OCI_MANIFEST.to_owned())
    } else {
        // Named in the error, e.g. schema 1's `...manifest.v1+prettyjws`.
        header.filter(|h| !h.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_error_bodies_become_one_line() {
        let body =
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(error_message(body), "MANIFEST_UNKNOWN: manifest unknown");
        assert_eq!(error_message("oops\nmore"), "oops");
    }

    #[test]
    fn media_types_from_header_then_body() {
        let idx = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(
            media_type_of(Some("application/json".into()), idx).unwrap(),
            media::OCI_INDEX
        );
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#;
        assert_eq!(media_type_of(None, m).unwrap(), media::DOCKER_MANIFEST);
        assert_eq!(
            media_type_of(Some(media::OCI_MANIFEST.into()), b"{}").unwrap(),
            media::OCI_MANIFEST
        );
        assert_eq!(media_type_of(None, b"{}"), None);
    }
}
