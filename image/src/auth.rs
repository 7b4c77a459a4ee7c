//! Registry credentials from a docker-style `config.json` (`auths.<host>.auth` =
//! base64 of `user:password`, or `username`/`password`, or an `identitytoken`; or a
//! credential helper named by `credHelpers`/`credsStore`), and the `WWW-Authenticate`
//! challenges a registry answers a 401 with (RFC 7235; distribution's token auth).

use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A credentials file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The file exists but cannot be read.
    #[error("auth file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not docker's config.json shape.
    #[error("auth file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and what.
        source: serde_json::Error,
    },
    /// An `auth` entry is not base64 of `user:password`.
    #[error("auth file {path}: auths.{host}.auth is not base64 of \"user:password\"")]
    BadAuth {
        /// The file.
        path: PathBuf,
        /// The entry's key.
        host: String,
    },
    /// A credential helper named in the file could not give an answer.
    #[error("credential helper docker-credential-{helper} for {host}: {message}")]
    Helper {
        /// The helper's suffix (`credsStore` or `credHelpers.<host>`).
        helper: String,
        /// The registry asked for.
        host: String,
        /// What went wrong (the helper's own output when it ran).
        message: String,
    },
}

/// A user name and password for one registry, or an OAuth2 refresh token (docker's
/// `identitytoken`) that the token server exchanges for access tokens.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password (or token used as one).
    pub password: String,
    /// A refresh token for distribution's OAuth2 token endpoint, used instead of the password
    /// when present.
    pub identity_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({:?}, <redacted>)", self.username)
    }
}

impl Credentials {
    /// The value of a Basic `Authorization` header.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

#[derive(Deserialize)]
struct FileEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    auths: BTreeMap<String, FileEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

/// Credentials by registry host.
#[derive(Debug, Clone, Default)]
pub struct AuthFile {
    by_host: BTreeMap<String, Credentials>,
    /// The helper for every host without its own (`credsStore`).
    creds_store: Option<String>,
    /// Helpers by host (`credHelpers`).
    cred_helpers: BTreeMap<String, String>,
    /// Helper answers by host: a pull asks once per challenge, a helper may be slow.
    asked: Arc<Mutex<BTreeMap<String, Option<Credentials>>>>,
}

/// The names docker.io's credentials may be stored under.
const DOCKER_HUB_KEYS: &[&str] = &["index.docker.io", "docker.io", "registry-1.docker.io"];

impl AuthFile {
    /// docker's default location: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
            return Some(PathBuf::from(d).join("config.json"));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
    }

    /// Reads `path`; a missing file means no credentials when `optional`.
    pub fn load(path: &Path, optional: bool) -> Result<AuthFile, AuthError> {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(AuthFile::default())
            }
            Err(source) => {
                return Err(AuthError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let file: File = serde_json::from_slice(&data).map_err(|source| AuthError::Parse {
            path: path.to_owned(),
            source,
        })?;
        let mut by_host = BTreeMap::new();
        for (key, e) in file.auths {
            let bad = || AuthError::BadAuth {
                path: path.to_owned(),
                host: key.clone(),
            };
            let token = e.identitytoken.filter(|t| !t.is_empty());
            let creds = match (e.auth.filter(|a| !a.is_empty()), e.username, e.password) {
                _ if token.is_some() => Credentials {
                    identity_token: token,
                    ..Credentials::default()
                },
                (Some(a), _, _) => {
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(a.trim())
                        .map_err(|_| bad())?;
                    let text = String::from_utf8(raw).map_err(|_| bad())?;
                    let (u, p) = text.split_once(':').ok_or_else(bad)?;
                    Credentials {
                        username: u.to_owned(),
                        password: p.to_owned(),
                        identity_token: None,
                    }
                }
                (None, Some(username), Some(password)) => Credentials {
                    username,
                    password,
                    identity_token: None,
                },
                _ => continue,
            };
            by_host.insert(host_of(&key), creds);
        }
        let cred_helpers = file
            .cred_helpers
            .into_iter()
            .map(|(k, v)| (host_of(&k), v))
            .collect();
        Ok(AuthFile {
            by_host,
            creds_store: file.creds_store.filter(|s| !s.is_empty()),
            cred_helpers,
            asked: Arc::default(),
        })
    }

    /// An auth file holding `creds` for `host` only (for library users and tests).
    pub fn single(host: &str, creds: Credentials) -> AuthFile {
        AuthFile {
            by_host: BTreeMap::from([(host.to_owned(), creds)]),
            ..AuthFile::default()
        }
    }

    /// The credentials for registry `domain`, if any: from its credential helper when the
    /// file names one (as docker does, the file's own entry is the fallback when the helper
    /// has none), else from the file.
    pub fn get(&self, domain: &str) -> Result<Option<Credentials>, AuthError> {
        let hub = domain == crate::reference::DEFAULT_DOMAIN;
        let helper = self
            .cred_helpers
            .get(domain)
            .or_else(|| {
                hub.then(|| {
                    DOCKER_HUB_KEYS
                        .iter()
                        .find_map(|k| self.cred_helpers.get(*k))
                })
                .flatten()
            })
            .or(self.creds_store.as_ref());
        if let Some(helper) = helper {
            let mut asked = self.asked.lock().unwrap_or_else(|p| p.into_inner());
            let answer = match asked.get(domain) {
                Some(a) => a.clone(),
                None => {
                    let a = crate::credhelper::get(helper, domain, hub)?;
                    asked.insert(domain.to_owned(), a.clone());
                    a
                }
            };
            if answer.is_some() {
                return Ok(answer);
            }
        }
        if let Some(c) = self.by_host.get(domain) {
            return Ok(Some(c.clone()));
        }
        Ok(hub
            .then(|| DOCKER_HUB_KEYS.iter().find_map(|k| self.by_host.get(*k)))
            .flatten()
            .cloned())
    }
}

/// The host part of a config.json key, which may be a URL (`https://index.docker.io/v1/`).
fn host_of(key: &str) -> String {
    let rest = key.split_once("://").map_or(key, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// One parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `bearer` or `basic` (lower-cased).
    pub scheme: String,
    /// Its parameters (keys lower-cased): `realm`, `service`, `scope`, ...
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// Parses a header value holding one challenge: `Scheme k="v", k2=v2`.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.is_empty() {
            return None;
        }
        let mut params = BTreeMap::new();
        let mut chars = rest.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
                chars.next();
            }
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            if key.is_empty() {
                break;
            }
            let mut value = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|c| *c != ',') {
                    value.push(c);
                }
                value = value.trim().to_owned();
            }
            params.insert(key.trim().to_ascii_lowercase(), value);
        }
        Some(Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_with_quoted_and_bare_values() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.docker.io/token");
        assert_eq!(c.params["service"], "registry.docker.io");
        assert_eq!(c.params["scope"], "repository:library/busybox:pull,push");
        let c = Challenge::parse(r#"Basic Realm="a \"q\" b", x=1"#).unwrap();
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.params["realm"], r#"a "q" b"#);
        assert_eq!(c.params["x"], "1");
        assert_eq!(Challenge::parse(""), None);
    }

    #[test]
    fn config_json_entries_by_host_and_docker_hub_aliases() {
        let dir = dm_testkit::TempDir::new("dm-image-auth");
        let p = dir.path().join("config.json");
        assert!(AuthFile::load(&p, true)
            .unwrap()
            .get("x")
            .unwrap()
            .is_none());
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3:cret");
        std::fs::write(
            &p,
            format!(
                r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{auth}"}},
                   "127.0.0.1:5000": {{"username": "bob", "password": "pw"}},
                   "tok.io": {{"identitytoken": "rt-1"}},
                   "empty.io": {{}}}}}}"#
            ),
        )
        .unwrap();
        let f = AuthFile::load(&p, false).unwrap();
        let hub = f.get("docker.io").unwrap().unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("alice", "s3:cret")
        );
        assert_eq!(f.get("127.0.0.1:5000").unwrap().unwrap().username, "bob");
        assert!(f.get("empty.io").unwrap().is_none());
        let tok = f.get("tok.io").unwrap().unwrap();
        assert_eq!(tok.identity_token.as_deref(), Some("rt-1"));
        assert!(
            !format!("{hub:?}").contains("s3:cret"),
            "passwords stay out of logs"
        );
        std::fs::write(&p, r#"{"auths": {"h": {"auth": "!!"}}}"#).unwrap();
        let e = AuthFile::load(&p, false).unwrap_err().to_string();
        assert!(e.contains("auths.h.auth"), "{e}");
    }
}
