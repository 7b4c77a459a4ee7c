//! The registry client: registry settings, credentials, and one HTTP connection pool per
//! TLS setting (verified, unverified, or with a registry's own CA).

use crate::auth::AuthFile;
use crate::config::{Endpoint, RegistryConfig};
use crate::error::{RegistryError, Result};
use crate::reference::Reference;
use crate::repository::Repository;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Mirrors and per-registry transport settings.
    pub config: RegistryConfig,
    /// Credentials.
    pub auth: AuthFile,
    /// Longest wait for a TCP connection and TLS handshake.
    pub connect_timeout: Duration,
    /// Longest wait for any read (a registry that stops answering fails after this).
    pub read_timeout: Duration,
    /// Most redirects followed per request (blob downloads often go to object storage).
    pub max_redirects: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            config: RegistryConfig::default(),
            auth: AuthFile::default(),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            max_redirects: 10,
        }
    }
}

/// HTTP clients by (skip verification, extra CA file).
type Pools = HashMap<(bool, Option<PathBuf>), reqwest::Client>;

/// A registry client; cheap to clone.
#[derive(Clone)]
pub struct Client {
    pub(crate) opts: Arc<ClientOptions>,
    pools: Arc<Mutex<Pools>>,
}

impl Client {
    /// A client with `opts`.
    pub fn new(opts: ClientOptions) -> Client {
        // reqwest is built without a default provider: ring is ours (no cmake, links statically).
        let _ = rustls::crypto::ring::default_provider().install_default();
        Client {
            opts: Arc::new(opts),
            pools: Arc::default(),
        }
    }

    /// The same client (registry settings, timeouts) with other credentials: a daemon's
    /// per-request `X-Registry-Auth`.
    pub fn with_auth(&self, auth: AuthFile) -> Client {
        let mut opts = (*self.opts).clone();
        opts.auth = auth;
        Client::new(opts)
    }

    /// A session on the repository `reference` names.
    pub fn repository(&self, reference: &Reference) -> Result<Repository> {
        let endpoints = self
            .opts
            .config
            .endpoints(reference.domain())
            .map_err(|e| RegistryError::Setup(e.to_string()))?;
        Ok(Repository::new(self.clone(), reference, endpoints))
    }

    /// The connection pool for `ep`'s TLS settings.
    pub(crate) fn http(&self, ep: &Endpoint) -> Result<reqwest::Client> {
        let key = (ep.skip_verify, ep.ca.clone());
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = pools.get(&key) {
            return Ok(c.clone());
        }
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("dm-image/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.opts.connect_timeout)
            .read_timeout(self.opts.read_timeout)
            .redirect(reqwest::redirect::Policy::limited(self.opts.max_redirects))
            .tls_danger_accept_invalid_certs(ep.skip_verify);
        if let Some(ca) = &ep.ca {
            let setup =
                |why: String| RegistryError::Setup(format!("CA file {}: {why}", ca.display()));
            let pem = std::fs::read(ca).map_err(|e| setup(e.to_string()))?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| setup(e.to_string()))?;
            b = b.tls_certs_merge(certs);
        }
        let c = b
            .build()
            .map_err(|e| RegistryError::Setup(format!("HTTP client: {e}")))?;
        pools.insert(key, c.clone());
        Ok(c)
    }
}
