//! `POST /images/{name}/push`: dm-image's push with the request's `X-Registry-Auth`
//! credentials, reported as docker's JSON progress stream.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Query};
use crate::images::{familiar_repo, line, progress_bar, short};
use base64::Engine;
use dm_image::{AuthFile, Credentials, Event, Progress, PushOptions, Reference};
use hyper::{HeaderMap, Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

/// docker's `AuthConfig`: what the CLI encodes into `X-Registry-Auth` and posts to `/auth`.
#[derive(serde::Deserialize, Default)]
pub struct AuthConfig {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    /// The registry a login is for (`/auth` only).
    #[serde(default)]
    pub serveraddress: String,
    #[serde(default)]
    identitytoken: String,
}

impl AuthConfig {
    /// The credentials it holds; None without a user name or identity token.
    pub fn credentials(self) -> Option<Credentials> {
        if self.username.is_empty() && self.identitytoken.is_empty() {
            return None;
        }
        Some(Credentials {
            username: self.username,
            password: self.password,
            identity_token: Some(self.identitytoken).filter(|t| !t.is_empty()),
        })
    }
}

/// Credentials from `X-Registry-Auth` (base64url JSON). As dockerd does for a push, a header
/// that does not decode counts as none.
pub fn credentials(headers: &HeaderMap) -> Option<Credentials> {
    let raw = headers.get("X-Registry-Auth")?.to_str().ok()?.trim();
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    let bytes = [URL_SAFE, URL_SAFE_NO_PAD, STANDARD]
        .iter()
        .find_map(|e| e.decode(raw).ok())?;
    serde_json::from_slice::<AuthConfig>(&bytes)
        .ok()?
        .credentials()
}

/// The names to push: `name:tag`, or every tag of the repository when no tag is given.
fn targets(d: &Daemon, name: &str, tag: Option<&str>) -> ApiResult<Vec<Reference>> {
    let bad = |e: dm_image::ReferenceError| ApiError::bad(format!("invalid reference format: {e}"));
    let missing =
        |n: &str| ApiError::not_found(format!("An image does not exist locally with the tag: {n}"));
    match tag {
        Some(t) => {
            let r: Reference = format!("{name}:{t}").parse().map_err(bad)?;
            match d.images.resolve(&r.to_string()) {
                Ok(rec) if rec.name == r.to_string() => Ok(vec![r]),
                Ok(_) | Err(dm_image::ImageError::NotFound(_)) => Err(missing(&r.familiar())),
                Err(e) => Err(e.into()),
            }
        }
        None => {
            let repo: Reference = name.parse().map_err(bad)?;
            let want = familiar_repo(&repo);
            let all: Vec<Reference> = d
                .images
                .list()?
                .into_iter()
                .filter_map(|s| s.name.parse::<Reference>().ok())
                .filter(|r| r.tag().is_some() && familiar_repo(r) == want)
                .collect();
            if all.is_empty() {
                return Err(missing(&want));
            }
            Ok(all)
        }
    }
}

/// One dm-image event as docker's push message (the config blob is not shown, as in docker).
fn message(e: &Event, config: &str, from: &str) -> Option<Value> {
    let (status, digest, detail) = match e {
        Event::Uploading {
            digest,
            offset,
            total,
        } => {
            let detail = json!({"current": offset, "total": total});
            let m = json!({"status": "Pushing", "progressDetail": detail,
                           "progress": progress_bar(*offset, *total), "id": short(digest)});
            return (digest.to_string() != config).then_some(m);
        }
        Event::Uploaded { digest, .. } => ("Pushed".to_owned(), digest, json!({})),
        Event::Exists { digest } => ("Layer already exists".to_owned(), digest, json!({})),
        Event::Mounted { digest } => (format!("Mounted from {from}"), digest, json!({})),
        _ => return None,
    };
    (digest.to_string() != config)
        .then(|| json!({"status": status, "progressDetail": detail, "id": short(digest)}))
}

/// A registry client with the request's credentials for `domain`, if it carries any.
pub fn client_for(d: &Daemon, headers: &HeaderMap, domain: &str) -> Option<dm_image::Client> {
    credentials(headers).map(|c| d.images.client().with_auth(AuthFile::single(domain, c)))
}

/// `POST /images/{name}/push?tag=`.
pub async fn push(
    d: &Arc<Daemon>,
    name: &str,
    q: &Query,
    headers: &HeaderMap,
) -> ApiResult<Response<Body>> {
    let targets = targets(d, name, q.get("tag").filter(|t| !t.is_empty()))?;
    let client = client_for(d, headers, targets[0].domain());
    let (resp, tx) = http::streamed(StatusCode::OK, "application/json");
    let d = d.clone();
    tokio::spawn(async move {
        let repo = familiar_repo(&targets[0]);
        let _ = tx
            .send(line(
                json!({"status": format!("The push refers to repository [{repo}]")}),
            ))
            .await;
        for target in targets {
            let name = target.to_string();
            let rec = match d.images.resolve(&name) {
                Ok(r) => r,
                Err(e) => {
                    let m = e.to_string();
                    let _ = tx
                        .send(line(json!({"errorDetail": {"message": m}, "error": m})))
                        .await;
                    return;
                }
            };
            let (ptx, config, from) = (tx.clone(), rec.config.clone(), target.path().to_owned());
            let progress = Progress::new(move |e| {
                if let Some(m) = message(e, &config, &from) {
                    // Advisory, as for pulls: a slow client loses lines, not the result.
                    let _ = ptx.try_send(line(m));
                }
            });
            let client = client.as_ref().unwrap_or(d.images.client());
            let pushed = d
                .images
                .push_with(client, &name, None, &PushOptions::default(), &progress)
                .await;
            let msgs = match pushed {
                Ok(digest) => {
                    let size = d.images.content().size(&digest).unwrap_or_default();
                    let tag = target.tag().unwrap_or("latest").to_owned();
                    let familiar = target.familiar();
                    d.events
                        .emit("image", "push", &familiar, &[("name", familiar.as_str())]);
                    vec![
                        json!({"status": format!("{tag}: digest: {digest} size: {size}")}),
                        json!({"progressDetail": {},
                               "aux": {"Tag": tag, "Digest": digest.to_string(), "Size": size}}),
                    ]
                }
                Err(e) => {
                    let m = e.to_string();
                    vec![json!({"errorDetail": {"message": m}, "error": m})]
                }
            };
            let failed = msgs[0].get("error").is_some();
            for m in msgs {
                let _ = tx.send(line(m)).await;
            }
            if failed {
                return;
            }
        }
    });
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_auth_header_decodes_as_docker_sends_it() {
        let mut h = HeaderMap::new();
        let enc = base64::engine::general_purpose::URL_SAFE
            .encode(br#"{"username":"u","password":"p~?","serveraddress":"r"}"#);
        h.insert("X-Registry-Auth", enc.parse().unwrap());
        let c = credentials(&h).unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p~?"));
        let empty = base64::engine::general_purpose::URL_SAFE.encode(b"{}");
        h.insert("X-Registry-Auth", empty.parse().unwrap());
        assert!(credentials(&h).is_none());
        h.insert("X-Registry-Auth", "not base64!".parse().unwrap());
        assert!(credentials(&h).is_none());
    }
}
