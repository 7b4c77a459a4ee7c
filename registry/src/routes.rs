//! Mapping request paths to endpoints. Repository names hold `/`, so a path is matched from
//! its end: `<name>/manifests/<ref>`, `<name>/blobs/<digest>`, `<name>/blobs/uploads/[<id>]`,
//! `<name>/tags/list`, `<name>/referrers/<digest>`.

use crate::error::{Error, Result};
use crate::names::{parse_digest, validate_repo, validate_upload_id, Reference};
use dm_content::Digest;
use http::Method;
use percent_encoding::percent_decode_str;
use std::collections::HashMap;

/// An endpoint with its validated path parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// `GET /v2/`: the version check.
    Base,
    /// `GET /v2/_catalog`.
    Catalog,
    /// `/v2/<name>/manifests/<reference>`.
    Manifest {
        /// Repository.
        name: String,
        /// Tag or digest.
        reference: Reference,
    },
    /// `/v2/<name>/blobs/<digest>`.
    Blob {
        /// Repository.
        name: String,
        /// The blob.
        digest: Digest,
    },
    /// `POST /v2/<name>/blobs/uploads/`.
    UploadStart {
        /// Repository.
        name: String,
    },
    /// `/v2/<name>/blobs/uploads/<id>`.
    Upload {
        /// Repository.
        name: String,
        /// Session id.
        id: String,
    },
    /// `GET /v2/<name>/tags/list`.
    Tags {
        /// Repository.
        name: String,
    },
    /// `GET /v2/<name>/referrers/<digest>`.
    Referrers {
        /// Repository.
        name: String,
        /// The subject.
        digest: Digest,
    },
    /// `POST|GET /token`: the bearer token endpoint.
    Token,
    /// `GET /metrics`.
    Metrics,
    /// `GET /healthz`.
    Health,
    /// `POST /gc`: a garbage collection now.
    Gc,
}

impl Route {
    /// Parses the path of a `method` request. A manifest reference that is no valid tag or
    /// digest names nothing there is: reading or deleting it is 404 `MANIFEST_UNKNOWN` (as
    /// distribution answers and the distribution-spec conformance suite expects), pushing to
    /// it stays a 400 naming what is wrong.
    pub fn parse_for(method: &Method, raw_path: &str) -> Result<Route> {
        let e = match Route::parse(raw_path) {
            Err(e @ (Error::NameInvalid(_) | Error::DigestInvalid(_))) if method != Method::PUT => {
                e
            }
            r => return r,
        };
        let mut segs = raw_path.rsplitn(3, '/');
        match (segs.next(), segs.next()) {
            (Some(last), Some("manifests")) if Reference::parse(last).is_err() => {
                Err(Error::ManifestUnknown(format!("{last}: {e}")))
            }
            _ => Err(e),
        }
    }

    /// Parses a request path (still percent-encoded).
    pub fn parse(raw_path: &str) -> Result<Route> {
        // Segments are decoded one by one so that an encoded `/` cannot make new segments.
        let segs: Vec<String> = raw_path
            .split('/')
            .map(|s| percent_decode_str(s).decode_utf8().map(|c| c.into_owned()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| Error::NotFound(raw_path.to_owned()))?;
        let path = segs.join("/");
        match path.as_str() {
            "/v2/" | "/v2" => return Ok(Route::Base),
            "/v2/_catalog" => return Ok(Route::Catalog),
            "/token" => return Ok(Route::Token),
            "/metrics" => return Ok(Route::Metrics),
            "/healthz" => return Ok(Route::Health),
            "/gc" => return Ok(Route::Gc),
            _ => {}
        }
        if segs.len() < 3 || !segs[0].is_empty() || segs[1] != "v2" {
            return Err(Error::NotFound(raw_path.to_owned()));
        }
        let parts: Vec<&str> = segs[2..].iter().map(String::as_str).collect();
        let n = parts.len();
        let name_of = |k: usize| -> Result<String> {
            if n <= k {
                return Err(Error::NotFound(raw_path.to_owned()));
            }
            let comps = &parts[..n - k];
            let name = comps.join("/");
            if comps.iter().any(|c| c.contains('/')) {
                return Err(Error::NameInvalid(format!("repository name {name:?}")));
            }
            validate_repo(&name)?;
            Ok(name)
        };
        let tail = |k: usize| -> &[&str] { &parts[n.saturating_sub(k)..] };
        if n >= 3 && tail(3)[..2] == ["blobs", "uploads"] {
            let name = name_of(3)?;
            if parts[n - 1].is_empty() {
                return Ok(Route::UploadStart { name });
            }
            validate_upload_id(parts[n - 1])?;
            return Ok(Route::Upload {
                name,
                id: parts[n - 1].to_owned(),
            });
        }
        if n >= 2 {
            let last = parts[n - 1];
            match parts[n - 2] {
                "tags" if last == "list" => return Ok(Route::Tags { name: name_of(2)? }),
                "blobs" if last == "uploads" => {
                    return Ok(Route::UploadStart { name: name_of(2)? })
                }
                "manifests" => {
                    let name = name_of(2)?;
                    let reference = Reference::parse(last)?;
                    return Ok(Route::Manifest { name, reference });
                }
                "blobs" => {
                    let name = name_of(2)?;
                    return Ok(Route::Blob {
                        name,
                        digest: parse_digest(last)?,
                    });
                }
                "referrers" => {
                    let name = name_of(2)?;
                    return Ok(Route::Referrers {
                        name,
                        digest: parse_digest(last)?,
                    });
                }
                _ => {}
            }
        }
        Err(Error::NotFound(raw_path.to_owned()))
    }

    /// A short label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Route::Base => "base",
            Route::Catalog => "catalog",
            Route::Manifest { .. } => "manifest",
            Route::Blob { .. } => "blob",
            Route::UploadStart { .. } | Route::Upload { .. } => "upload",
            Route::Tags { .. } => "tags",
            Route::Referrers { .. } => "referrers",
            Route::Token => "token",
            Route::Metrics => "metrics",
            Route::Health => "health",
            Route::Gc => "gc",
        }
    }

    /// The repository the route is about, if any.
    pub fn repository(&self) -> Option<&str> {
        match self {
            Route::Manifest { name, .. }
            | Route::Blob { name, .. }
            | Route::UploadStart { name }
            | Route::Upload { name, .. }
            | Route::Tags { name }
            | Route::Referrers { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// Decoded query parameters (the last value of a repeated key wins; `scope` collects all).
pub fn query(q: Option<&str>) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        out.entry(dec(k)).or_default().push(dec(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> Digest {
        Digest::of(b"x")
    }

    #[test]
    fn paths_map_to_endpoints_from_their_end() {
        let cases = [
            ("/v2/", Route::Base),
            ("/v2/_catalog", Route::Catalog),
            (
                "/v2/a/b/manifests/latest",
                Route::Manifest {
                    name: "a/b".into(),
                    reference: Reference::Tag("latest".into()),
                },
            ),
            (
                &format!("/v2/blobs/blobs/{}", d()),
                Route::Blob {
                    name: "blobs".into(),
                    digest: d(),
                },
            ),
            (
                &format!("/v2/x/manifests/{}", d().to_string().replace(':', "%3A")),
                Route::Manifest {
                    name: "x".into(),
                    reference: Reference::Digest(d()),
                },
            ),
            (
                "/v2/a/blobs/uploads/",
                Route::UploadStart { name: "a".into() },
            ),
            (
                &format!("/v2/a/blobs/uploads/{}", "0".repeat(32)),
                Route::Upload {
                    name: "a".into(),
                    id: "0".repeat(32),
                },
            ),
            ("/v2/a/tags/list", Route::Tags { name: "a".into() }),
        ];
        for (path, want) in cases {
            assert_eq!(Route::parse(path).unwrap(), want, "{path}");
        }
    }

    #[test]
    fn traversal_and_garbage_are_refused() {
        for (path, code) in [
            ("/v2/../manifests/latest", "NAME_INVALID"),
            ("/v2/a/%2e%2e/manifests/latest", "NAME_INVALID"),
            ("/v2/a/blobs/sha256:..%2f..%2fetc", "DIGEST_INVALID"),
            ("/v2/a/blobs/uploads/..", "BLOB_UPLOAD_UNKNOWN"),
            ("/v2/a/manifests/..", "NAME_INVALID"),
            ("/v2/a/nothing", "NOT_FOUND"),
            ("/etc/passwd", "NOT_FOUND"),
        ] {
            assert_eq!(Route::parse(path).unwrap_err().code(), code, "{path}");
        }
    }

    #[test]
    fn query_parameters_are_decoded() {
        let q = query(Some("n=2&last=a%2Fb&scope=x&scope=y"));
        assert_eq!(q["n"], ["2"]);
        assert_eq!(q["last"], ["a/b"]);
        assert_eq!(q["scope"], ["x", "y"]);
    }
}
