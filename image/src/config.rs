//! Registry settings: mirrors and per-registry transport (plain HTTP, unverified TLS, extra CA),
//! read from a JSON file using docker's `daemon.json` keys where docker has one:
//!
//! ```json
//! {
//!   "registry-mirrors": ["https://mirror.example"],
//!   "insecure-registries": ["myhost:5000"],
//!   "registries": {
//!     "127.0.0.1:5000": {"plain-http": true},
//!     "quay.io": {"mirrors": ["http://127.0.0.1:6000"], "ca": "/etc/dockermind/quay-ca.pem"}
//!   }
//! }
//! ```
//!
//! `registry-mirrors` apply to docker.io as in docker. An insecure registry (as in docker, every
//! loopback host without an entry in `registries` is one) is tried over HTTPS without
//! certificate checks, then over plain HTTP.

use crate::reference::DEFAULT_DOMAIN;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where docker.io's registry API actually lives.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A registry config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("registry config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid JSON of the expected shape.
    #[error("registry config {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and what.
        source: serde_json::Error,
    },
    /// A mirror entry is not an http(s) URL or host.
    #[error("registry config: mirror {0:?} must be host[:port] or an http:// or https:// URL without a path")]
    BadMirror(String),
}

/// Settings for one registry host.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegistrySettings {
    /// Talk plain HTTP only.
    #[serde(default)]
    pub plain_http: bool,
    /// Accept any TLS certificate, then fall back to plain HTTP.
    #[serde(default)]
    pub insecure: bool,
    /// A PEM file of extra CA certificates to trust for this registry.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Mirrors tried in order before the registry itself.
    #[serde(default)]
    pub mirrors: Vec<String>,
}

/// The whole config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegistryConfig {
    /// docker's key: mirrors of docker.io.
    #[serde(default)]
    pub registry_mirrors: Vec<String>,
    /// docker's key: hosts talked to without TLS verification (then plain HTTP).
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    /// Per-host settings.
    #[serde(default)]
    pub registries: BTreeMap<String, RegistrySettings>,
}

/// How to reach one place serving a registry's API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://host[:port]` or `http://host[:port]`, no trailing slash.
    pub base: String,
    /// Skip certificate verification.
    pub skip_verify: bool,
    /// Extra CA file to trust.
    pub ca: Option<PathBuf>,
    /// A mirror rather than the registry itself.
    pub mirror: bool,
}

impl RegistryConfig {
    /// Reads `path`; a missing file is the empty config when `optional` (the default path).
    pub fn load(path: &Path, optional: bool) -> Result<RegistryConfig, ConfigError> {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(RegistryConfig::default())
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let cfg: RegistryConfig =
            serde_json::from_slice(&data).map_err(|source| ConfigError::Parse {
                path: path.to_owned(),
                source,
            })?;
        for m in cfg
            .registry_mirrors
            .iter()
            .chain(cfg.registries.values().flat_map(|r| &r.mirrors))
        {
            mirror_base(m)?;
        }
        Ok(cfg)
    }

    /// The settings that apply to `domain` (merged from every key that names it).
    pub fn settings(&self, domain: &str) -> RegistrySettings {
        let mut s = self.registries.get(domain).cloned().unwrap_or_default();
        if domain == DEFAULT_DOMAIN {
            s.mirrors.extend(self.registry_mirrors.iter().cloned());
        }
        // An explicit entry says exactly how to talk to the host; only without one do
        // loopback hosts get docker's insecure default.
        let loopback_default = !self.registries.contains_key(domain) && is_loopback(domain);
        s.insecure |= self.insecure_registries.iter().any(|h| h == domain) || loopback_default;
        s
    }

    /// Where to send requests for `domain`, in the order to try them.
    pub fn endpoints(&self, domain: &str) -> Result<Vec<Endpoint>, ConfigError> {
        let s = self.settings(domain);
        let mut out = Vec::new();
        for m in &s.mirrors {
            let (base, plain) = mirror_base(m)?;
            let host = base.split_once("://").map_or("", |(_, h)| h);
            let ms = self.settings(host);
            out.push(Endpoint {
                skip_verify: !plain && ms.insecure,
                ca: ms.ca,
                base,
                mirror: true,
            });
        }
        let host = if domain == DEFAULT_DOMAIN {
            DOCKER_HUB_API
        } else {
            domain
        };
        if !s.plain_http {
            out.push(Endpoint {
                base: format!("https://{host}"),
                skip_verify: s.insecure,
                ca: s.ca.clone(),
                mirror: false,
            });
        }
        if s.plain_http || s.insecure {
            out.push(Endpoint {
                base: format!("http://{host}"),
                skip_verify: false,
                ca: None,
                mirror: false,
            });
        }
        Ok(out)
    }
}

/// A mirror's base URL and whether it is plain HTTP.
fn mirror_base(m: &str) -> Result<(String, bool), ConfigError> {
    let trimmed = m.trim_end_matches('/');
    let (scheme, host) = match trimmed.split_once("://") {
        Some((s @ ("http" | "https"), h)) => (s, h),
        Some(_) => return Err(ConfigError::BadMirror(m.to_owned())),
        None => ("https", trimmed),
    };
    if host.is_empty() || host.contains('/') {
        return Err(ConfigError::BadMirror(m.to_owned()));
    }
    Ok((format!("{scheme}://{host}"), scheme == "http"))
}

/// docker treats registries on loopback addresses as insecure without being told.
fn is_loopback(domain: &str) -> bool {
    let host = match domain.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => domain.split(':').next().unwrap_or(""),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> RegistryConfig {
        serde_json::from_str(json).unwrap()
    }

    fn bases(cfg: &RegistryConfig, domain: &str) -> Vec<(String, bool)> {
        let eps = cfg.endpoints(domain).unwrap();
        eps.into_iter().map(|e| (e.base, e.skip_verify)).collect()
    }

    #[test]
    fn docker_hub_goes_to_registry_1_after_its_mirrors() {
        let cfg = parse(r#"{"registry-mirrors": ["https://m.example/", "127.0.0.1:7000"]}"#);
        assert_eq!(
            bases(&cfg, "docker.io"),
            [
                ("https://m.example".to_owned(), false),
                ("https://127.0.0.1:7000".to_owned(), true),
                ("https://registry-1.docker.io".to_owned(), false),
            ]
        );
    }

    #[test]
    fn plain_http_insecure_and_loopback_hosts() {
        let cfg = parse(
            r#"{"insecure-registries": ["my.host:5000"],
                "registries": {"plain.host": {"plain-http": true, "mirrors": ["http://mm:1"]}}}"#,
        );
        assert_eq!(
            bases(&cfg, "plain.host"),
            [
                ("http://mm:1".to_owned(), false),
                ("http://plain.host".to_owned(), false)
            ]
        );
        let tls_then_http = |h: &str| {
            vec![
                (format!("https://{h}"), true),
                (format!("http://{h}"), false),
            ]
        };
        assert_eq!(bases(&cfg, "my.host:5000"), tls_then_http("my.host:5000"));
        assert_eq!(
            bases(&cfg, "127.0.0.1:5000"),
            tls_then_http("127.0.0.1:5000")
        );
        assert_eq!(bases(&cfg, "localhost"), tls_then_http("localhost"));
        assert_eq!(bases(&cfg, "[::1]:5000"), tls_then_http("[::1]:5000"));
        let explicit = parse(r#"{"registries": {"127.0.0.1:5000": {"ca": "/ca.pem"}}}"#);
        let eps = explicit.endpoints("127.0.0.1:5000").unwrap();
        assert_eq!(
            eps.len(),
            1,
            "an explicit entry is verified TLS only: {eps:?}"
        );
        assert!(!eps[0].skip_verify && eps[0].ca.as_deref() == Some(Path::new("/ca.pem")));
        assert_eq!(
            bases(&cfg, "quay.io"),
            [("https://quay.io".to_owned(), false)]
        );
    }

    #[test]
    fn bad_files_name_the_file_and_the_field() {
        let dir = dm_testkit::TempDir::new("dm-image-cfg");
        let p = dir.path().join("registries.json");
        assert!(RegistryConfig::load(&p, true)
            .unwrap()
            .registries
            .is_empty());
        let e = RegistryConfig::load(&p, false).unwrap_err().to_string();
        assert!(
            e.contains("registries.json") && e.contains("No such file"),
            "{e}"
        );
        std::fs::write(&p, r#"{"registries": {"h": {"plain_http": true}}}"#).unwrap();
        let e = RegistryConfig::load(&p, true).unwrap_err().to_string();
        assert!(e.contains("unknown field `plain_http`"), "{e}");
        std::fs::write(&p, r#"{"registry-mirrors": ["ftp://x"]}"#).unwrap();
        let e = RegistryConfig::load(&p, true).unwrap_err().to_string();
        assert!(e.contains("mirror \"ftp://x\""), "{e}");
        std::fs::write(&p, r#"{"registries": {"h": {"plain-http": true}}}"#).unwrap();
        assert!(
            RegistryConfig::load(&p, true)
                .unwrap()
                .settings("h")
                .plain_http
        );
    }
}
