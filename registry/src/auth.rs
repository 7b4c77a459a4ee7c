//! Authentication and authorisation: htpasswd (bcrypt) users, HTTP Basic auth or scoped
//! bearer tokens issued by the registry's own `/token` endpoint, and anonymous pull.
//!
//! A token is `base64url(claims JSON) "." base64url(HMAC-SHA256(claims))` under a key made at
//! start (tokens die with the process, which is what a single registry needs). Clients treat
//! tokens as opaque, so the format is ours.

use crate::acl::Acl;
use crate::error::{Error, IoContext, Result};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::hmac;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How clients authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// HTTP Basic on every request.
    Basic,
    /// Bearer tokens from `/token` (which takes Basic credentials).
    Token,
}

/// What an action on a repository is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// Read manifests, blobs, tags, referrers.
    Pull,
    /// Upload blobs and manifests.
    Push,
    /// Delete manifests, tags and blobs.
    Delete,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }

    /// The actions a scope or ACL word names (`*` is all of them; unknown words none).
    pub fn parse(s: &str) -> Vec<Action> {
        match s {
            "pull" => vec![Action::Pull],
            "push" => vec![Action::Push],
            "delete" => vec![Action::Delete],
            "*" => vec![Action::Pull, Action::Push, Action::Delete],
            _ => vec![],
        }
    }
}

/// One access a request needs: an action on a repository, or the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Any authenticated identity (or anonymous where anonymous pull is on).
    Login,
    /// The catalog.
    Catalog,
    /// An action on a repository.
    Repo(String, Action),
}

impl Need {
    /// The scope string a token must carry for it.
    fn scope(&self) -> Option<String> {
        match self {
            Need::Login => None,
            Need::Catalog => Some("registry:catalog:*".into()),
            Need::Repo(name, a) => Some(format!("repository:{name}:{}", a.name())),
        }
    }
}

/// Access granted in a token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Repository name (or `catalog`).
    pub name: String,
    /// Granted actions.
    pub actions: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    access: Vec<Grant>,
}

/// Users and policy.
pub struct Auth {
    mode: Mode,
    users: HashMap<String, String>,
    anonymous_pull: bool,
    acl: Option<Acl>,
    key: hmac::Key,
    ttl: Duration,
    /// Credentials already checked against their bcrypt hash (bcrypt is slow by design; a
    /// client sends the same ones with every request).
    verified: Mutex<HashMap<String, [u8; 32]>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the hashes or the key.
        f.debug_struct("Auth")
            .field("mode", &self.mode)
            .field("users", &self.users.len())
            .field("anonymous_pull", &self.anonymous_pull)
            .finish()
    }
}

/// Who made a request (empty for anonymous).
#[derive(Debug, Clone, Default)]
pub struct Identity(pub String);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Parses an htpasswd file; only bcrypt entries (`$2y$`, `$2b$`, `$2a$`) are accepted.
pub fn load_htpasswd(path: &Path) -> Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).ctx("read htpasswd", path)?;
    let mut users = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| Error::Config(format!("{}:{}: {why}", path.display(), i + 1));
        let (user, hash) = line
            .split_once(':')
            .ok_or_else(|| bad("expected user:hash"))?;
        if !["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p)) {
            return Err(bad(&format!(
                "user {user:?}: only bcrypt hashes are supported (htpasswd -B)"
            )));
        }
        users.insert(user.to_owned(), hash.to_owned());
    }
    if users.is_empty() {
        return Err(Error::Config(format!("{}: no users", path.display())));
    }
    Ok(users)
}

/// Parses `repository:<name>:<actions>` and `registry:catalog:*` scopes.
fn parse_scope(s: &str) -> Option<(String, String, Vec<Action>)> {
    let (kind, rest) = s.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let acts: Vec<Action> = actions.split(',').flat_map(Action::parse).collect();
    Some((kind.to_owned(), name.to_owned(), acts))
}

impl Auth {
    /// Auth over `users` (from [`load_htpasswd`]).
    pub fn new(mode: Mode, users: HashMap<String, String>, anonymous_pull: bool) -> Auth {
        let mut k = [0u8; 32];
        if getrandom::getrandom(&mut k).is_err() {
            // No entropy source at all: refuse every token rather than sign with a guessable key.
            k.copy_from_slice(&crate::names::new_upload_id().as_bytes()[..32]);
        }
        Auth {
            mode,
            users,
            anonymous_pull,
            acl: None,
            key: hmac::Key::new(hmac::HMAC_SHA256, &k),
            ttl: Duration::from_secs(300),
            verified: Mutex::default(),
        }
    }

    /// Restricts authenticated users to what `acl` grants them (without one, they may do
    /// everything).
    pub fn with_acl(mut self, acl: Acl) -> Auth {
        self.acl = Some(acl);
        self
    }

    /// What `user` (authenticated; empty for anonymous) may do on `repo`.
    fn allowed(&self, user: Option<&str>, repo: &str) -> BTreeSet<Action> {
        match (user, &self.acl) {
            (None, _) if self.anonymous_pull => [Action::Pull].into(),
            (None, _) => BTreeSet::new(),
            (Some(_), None) => [Action::Pull, Action::Push, Action::Delete].into(),
            (Some(u), Some(acl)) => acl.allowed(u, repo),
        }
    }

    fn catalog_allowed(&self, user: &str) -> bool {
        self.acl.as_ref().is_none_or(|a| a.catalog(user))
    }

    /// Its mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Checks Basic credentials from an `Authorization` header value; `None` if there are none.
    fn basic(&self, header: Option<&str>) -> Result<Option<Identity>> {
        let Some(b64) = header.and_then(|h| h.strip_prefix("Basic ")) else {
            return Ok(None);
        };
        let fail = || Error::Unauthorized {
            challenge: "Basic realm=\"dm-registry\"".into(),
        };
        let raw = STANDARD.decode(b64.trim()).map_err(|_| fail())?;
        let text = String::from_utf8(raw).map_err(|_| fail())?;
        let (user, pass) = text.split_once(':').ok_or_else(fail)?;
        let hash = self.users.get(user).ok_or_else(fail)?;
        let fp: [u8; 32] = {
            let d =
                ring::digest::digest(&ring::digest::SHA256, format!("{hash}\0{pass}").as_bytes());
            let mut out = [0u8; 32];
            out.copy_from_slice(d.as_ref());
            out
        };
        let cache = |m: &Mutex<HashMap<String, [u8; 32]>>| {
            m.lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(user)
                .copied()
        };
        if cache(&self.verified) != Some(fp) {
            if !bcrypt::verify(pass, hash).unwrap_or(false) {
                return Err(fail());
            }
            self.verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(user.to_owned(), fp);
        }
        Ok(Some(Identity(user.to_owned())))
    }

    fn sign(&self, claims: &Claims) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let tag = hmac::sign(&self.key, body.as_bytes());
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    fn verify_token(&self, token: &str) -> Option<Claims> {
        let (body, tag) = token.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.key, body.as_bytes(), &tag).ok()?;
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
        (claims.exp > now()).then_some(claims)
    }

    /// Whether a request without credentials may go on. The `/v2/` check always challenges:
    /// clients decide from it whether to authenticate at all, and one that meant to push would
    /// otherwise never send its credentials.
    fn anonymous_ok(&self, needs: &[Need]) -> bool {
        self.anonymous_pull
            && needs
                .iter()
                .all(|n| matches!(n, Need::Repo(_, Action::Pull)))
    }

    fn challenge(&self, realm: &str, needs: &[Need], insufficient: bool) -> String {
        match self.mode {
            Mode::Basic => "Basic realm=\"dm-registry\"".into(),
            Mode::Token => {
                let scopes: Vec<String> = needs.iter().filter_map(Need::scope).collect();
                let mut c = format!("Bearer realm=\"{realm}\",service=\"dm-registry\"");
                if !scopes.is_empty() {
                    c.push_str(&format!(",scope=\"{}\"", scopes.join(" ")));
                }
                if insufficient {
                    c.push_str(",error=\"insufficient_scope\"");
                }
                c
            }
        }
    }

    /// Checks that the request's credentials cover `needs`; `realm` is the token endpoint's
    /// URL for the challenge.
    pub fn authorize(
        &self,
        authorization: Option<&str>,
        needs: &[Need],
        realm: &str,
    ) -> Result<Identity> {
        let unauthorized = |insufficient| Error::Unauthorized {
            challenge: self.challenge(realm, needs, insufficient),
        };
        match self.mode {
            Mode::Basic => match self.basic(authorization) {
                Ok(Some(id)) => {
                    let ok = needs.iter().all(|n| match n {
                        Need::Login => true,
                        Need::Catalog => self.catalog_allowed(&id.0),
                        Need::Repo(name, a) => self.allowed(Some(&id.0), name).contains(a),
                    });
                    if ok {
                        Ok(id)
                    } else {
                        Err(Error::Denied)
                    }
                }
                Ok(None) if self.anonymous_ok(needs) => Ok(Identity::default()),
                _ => Err(unauthorized(false)),
            },
            Mode::Token => {
                let Some(claims) = authorization
                    .and_then(|h| h.strip_prefix("Bearer "))
                    .and_then(|t| self.verify_token(t.trim()))
                else {
                    if authorization.is_none() && self.anonymous_ok(needs) {
                        return Ok(Identity::default());
                    }
                    return Err(unauthorized(false));
                };
                let granted = |n: &Need| match n {
                    // An anonymous token is no login where anonymous users may do nothing.
                    Need::Login => !claims.sub.is_empty() || self.anonymous_pull,
                    Need::Catalog => claims
                        .access
                        .iter()
                        .any(|g| g.kind == "registry" && g.name == "catalog"),
                    Need::Repo(name, a) => claims.access.iter().any(|g| {
                        g.kind == "repository"
                            && &g.name == name
                            && g.actions.iter().any(|x| x == a.name())
                    }),
                };
                if needs.iter().all(granted) {
                    Ok(Identity(claims.sub))
                } else {
                    Err(unauthorized(true))
                }
            }
        }
    }

    /// Serves the token endpoint: checks Basic credentials (or none), grants the requested
    /// `scopes` the identity may have, and returns the token response JSON.
    ///
    /// A client without credentials gets a token too, carrying only what anonymous users may
    /// do (nothing unless anonymous pull is on): the token spec makes missing access the
    /// registry's answer (401 `insufficient_scope`), not the token server's. Docker reads a 401
    /// from the token endpoint as a transient failure and retries a push for a minute, while
    /// `insufficient_scope` stops it at once.
    pub fn issue(&self, authorization: Option<&str>, scopes: &[String]) -> Result<String> {
        let who = self.basic(authorization)?;
        let user = who.as_ref().map(|i| i.0.as_str());
        let mut access = Vec::new();
        for s in scopes.iter().flat_map(|s| s.split(' ')) {
            let Some((kind, name, acts)) = parse_scope(s) else {
                continue;
            };
            let allowed = self.allowed(user, &name);
            let acts: BTreeSet<Action> = acts.into_iter().filter(|a| allowed.contains(a)).collect();
            let ok_name = match kind.as_str() {
                "repository" => crate::names::validate_repo(&name).is_ok(),
                "registry" => name == "catalog" && user.is_some_and(|u| self.catalog_allowed(u)),
                _ => false,
            };
            if !ok_name || acts.is_empty() && kind == "repository" {
                continue;
            }
            access.push(Grant {
                kind,
                name,
                actions: if acts.is_empty() {
                    vec!["*".into()]
                } else {
                    acts.iter().map(|a| a.name().to_owned()).collect()
                },
            });
        }
        let claims = Claims {
            sub: who.map(|i| i.0).unwrap_or_default(),
            exp: now() + self.ttl.as_secs(),
            access,
        };
        let token = self.sign(&claims);
        Ok(serde_json::json!({
            "token": token,
            "access_token": token,
            "expires_in": self.ttl.as_secs(),
        })
        .to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> HashMap<String, String> {
        [("alice".to_owned(), bcrypt::hash("secret", 4).unwrap())].into()
    }

    fn basic(u: &str, p: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{u}:{p}")))
    }

    fn token(a: &Auth, who: Option<&str>, scope: &str) -> String {
        let v: serde_json::Value =
            serde_json::from_str(&a.issue(who, &[scope.to_owned()]).unwrap()).unwrap();
        format!("Bearer {}", v["token"].as_str().unwrap())
    }

    #[test]
    fn tokens_carry_only_the_scopes_granted() {
        let a = Auth::new(Mode::Token, users(), true);
        let alice = basic("alice", "secret");
        let pull_a = Need::Repo("a".into(), Action::Pull);
        let push_a = Need::Repo("a".into(), Action::Push);
        let push_b = Need::Repo("b".into(), Action::Push);
        let t = token(&a, Some(&alice), "repository:a:pull,push");
        a.authorize(Some(&t), &[pull_a.clone(), push_a.clone()], "r")
            .unwrap();
        let e = a
            .authorize(Some(&t), std::slice::from_ref(&push_b), "r")
            .unwrap_err();
        match e {
            Error::Unauthorized { challenge } => {
                assert!(
                    challenge.contains("scope=\"repository:b:push\""),
                    "{challenge}"
                );
                assert!(challenge.contains("insufficient_scope"), "{challenge}");
            }
            e => panic!("{e}"),
        }
        // Anonymous: pull only, whatever is asked.
        let anon = token(&a, None, "repository:a:pull,push");
        a.authorize(Some(&anon), std::slice::from_ref(&pull_a), "r")
            .unwrap();
        assert!(a
            .authorize(Some(&anon), std::slice::from_ref(&push_a), "r")
            .is_err());
        // Forged or tampered tokens are refused.
        let forged = format!("{}x", t);
        assert!(a.authorize(Some(&forged), &[pull_a], "r").is_err());
        assert!(a.issue(Some(&basic("alice", "wrong")), &[]).is_err());
        assert!(a.issue(Some(&basic("bob", "secret")), &[]).is_err());
    }

    #[test]
    fn basic_mode_with_and_without_anonymous_pull() {
        let pull = [Need::Repo("a".into(), Action::Pull)];
        let push = [Need::Repo("a".into(), Action::Push)];
        let closed = Auth::new(Mode::Basic, users(), false);
        assert!(closed.authorize(None, &pull, "r").is_err());
        let id = closed
            .authorize(Some(&basic("alice", "secret")), &push, "r")
            .unwrap();
        assert_eq!(id.0, "alice");
        // Cached after the first bcrypt check, and a wrong password still fails.
        closed
            .authorize(Some(&basic("alice", "secret")), &push, "r")
            .unwrap();
        assert!(closed
            .authorize(Some(&basic("alice", "nope")), &push, "r")
            .is_err());
        let open = Auth::new(Mode::Basic, users(), true);
        open.authorize(None, &pull, "r").unwrap();
        assert!(open.authorize(None, &push, "r").is_err());
    }

    #[test]
    fn htpasswd_accepts_bcrypt_only_and_names_the_line() {
        let dir = dm_testkit::TempDir::new("dm-registry-htpasswd");
        let p = dir.path().join("htpasswd");
        std::fs::write(&p, "# users\nalice:$2y$05$abcdefghijklmnopqrstuu\n").unwrap();
        assert_eq!(load_htpasswd(&p).unwrap().len(), 1);
        std::fs::write(&p, "alice:$2y$05$x\nbob:{SHA}abc\n").unwrap();
        let e = load_htpasswd(&p).unwrap_err().to_string();
        assert!(
            e.contains(":2:") && e.contains("bob") && e.contains("bcrypt"),
            "{e}"
        );
    }
}
