//! `docker login`'s check: `GET /v2/` on a registry, answering its challenge (Basic, or a
//! Bearer token with no scope) with the credentials the client holds; 200 means they work.

use crate::client::Client;
use crate::error::{RegistryError, Result};
use crate::repository::{Repository, Request};
use reqwest::{Method, StatusCode};

/// Checks the client's credentials for registry `domain` (`host[:port]`), trying its endpoints
/// in order (mirrors are not asked: they do not hold the registry's accounts).
pub async fn login(client: &Client, domain: &str) -> Result<()> {
    let endpoints: Vec<_> = client
        .opts
        .config
        .endpoints(domain)
        .map_err(|e| RegistryError::Setup(e.to_string()))?
        .into_iter()
        .filter(|e| !e.mirror)
        .collect();
    let session = Repository::registry(client.clone(), domain, endpoints);
    let mut last = None;
    for (i, ep) in session.endpoints().iter().enumerate() {
        let url = format!("{}/v2/", ep.base);
        let refused = |status| RegistryError::LoginFailed {
            url: url.clone(),
            status,
        };
        match session
            .send_req(i, &Request::new(Method::GET, url.clone()))
            .await
        {
            Ok(resp) if resp.status() == StatusCode::OK => return Ok(()),
            Ok(resp) => return Err(refused(resp.status().as_u16())),
            // Credentials refused (the same challenge again, or by the token server).
            Err(RegistryError::Unauthorized { .. }) => return Err(refused(401)),
            // Not reachable this way (TLS on a plain HTTP registry): try the next endpoint.
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| RegistryError::Setup(format!("no endpoint for {domain}"))))
}
