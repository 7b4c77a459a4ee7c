//! `POST /auth` (`docker login`): checks the credentials against the registry's `/v2/`
//! challenge with dm-image's client; the CLI stores them when the answer is a success.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body};
use crate::push::AuthConfig;
use dm_image::{AuthFile, RegistryError};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::json;
use std::sync::Arc;

/// Docker Hub's names, all meaning `docker.io`.
const HUB_ALIASES: &[&str] = &["index.docker.io", "registry-1.docker.io", "docker.io"];

/// The registry host of a login's server address (`https://host:port/v1/` -> `host:port`);
/// empty is Docker Hub, as for docker.
fn registry_host(address: &str) -> String {
    let rest = address
        .strip_prefix("https://")
        .or_else(|| address.strip_prefix("http://"))
        .unwrap_or(address);
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || HUB_ALIASES.contains(&host) {
        dm_image::reference::DEFAULT_DOMAIN.to_owned()
    } else {
        host.to_owned()
    }
}

/// `POST /auth`: `{"Status":"Login Succeeded","IdentityToken":""}`, or 401 with docker's
/// "login attempt to ... failed" when the registry refuses the credentials.
pub async fn login(d: &Arc<Daemon>, req: Request<Incoming>) -> ApiResult<Response<Body>> {
    let a: AuthConfig = http::read_json(req).await?;
    let host = registry_host(&a.serveraddress);
    let creds = a
        .credentials()
        .ok_or_else(|| ApiError::bad("username: a user name (or identitytoken) is required"))?;
    let client = d.images.client().with_auth(AuthFile::single(&host, creds));
    match dm_image::login(&client, &host).await {
        Ok(()) => Ok(http::json(
            StatusCode::OK,
            &json!({"Status": "Login Succeeded", "IdentityToken": ""}),
        )),
        Err(e @ RegistryError::LoginFailed { .. }) => {
            Err(ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))
        }
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_become_registry_hosts() {
        assert_eq!(registry_host("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(registry_host("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
        assert_eq!(registry_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_host(""), "docker.io");
    }
}
