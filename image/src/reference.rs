//! Image references with docker's normalisation: `busybox` is `docker.io/library/busybox:latest`,
//! a first component with a `.` or `:` (or `localhost`, or an upper-case letter) is a registry
//! host, and `name@sha256:…` pins a manifest digest.

use dm_content::Digest;
use std::fmt;
use std::str::FromStr;

/// The registry a name without a host part belongs to.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The tag a reference without tag or digest means.
pub const DEFAULT_TAG: &str = "latest";
const LEGACY_DOMAIN: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const MAX_NAME: usize = 255;
const MAX_TAG: usize = 128;

/// A reference that cannot be parsed, with the reason.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid reference {input:?}: {reason}")]
pub struct ReferenceError {
    /// What was given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A fully normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// The registry host, with its port if any (`docker.io`, `127.0.0.1:5000`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository inside the registry (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if the reference has one (a reference without a digest always has one).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The pinned manifest digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `domain/path`, the repository name without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// What the registry's manifest endpoint takes: the digest if pinned, else the tag.
    pub fn object(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_owned(),
        }
    }

    /// The same repository with another tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        format!("{}:{tag}", self.name()).parse()
    }

    /// The same repository pinned to `digest` (no tag).
    pub fn with_digest(&self, digest: &Digest) -> Reference {
        Reference {
            tag: None,
            digest: Some(digest.clone()),
            ..self.clone()
        }
    }

    /// The short form docker shows: `busybox:latest`, `user/app:v1`, `127.0.0.1:5000/x:y`.
    pub fn familiar(&self) -> String {
        let full = self.to_string();
        let short = match full.strip_prefix("docker.io/") {
            Some(rest) => rest.strip_prefix(OFFICIAL_PREFIX).unwrap_or(rest),
            None => return full,
        };
        short.to_owned()
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(input: &str) -> Result<Reference, ReferenceError> {
        let bad = |reason: String| ReferenceError {
            input: input.to_owned(),
            reason,
        };
        if input.is_empty() {
            return Err(bad("empty".into()));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => (
                r,
                Some(d.parse::<Digest>().map_err(|e| bad(e.to_string()))?),
            ),
            None => (input, None),
        };
        // A tag is after the last ':' that comes after the last '/' (a ':' before it is a port).
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            check_tag(t).map_err(bad)?;
        }
        if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(
                "a 64-character hex string is an image id, not a name".into()
            ));
        }
        let (domain, path) = split_domain(name);
        check_domain(&domain).map_err(bad)?;
        check_path(&path).map_err(bad)?;
        if domain.len() + 1 + path.len() > MAX_NAME {
            return Err(bad(format!("name is longer than {MAX_NAME} characters")));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAG.to_owned()),
        };
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }
}

/// docker's rule for telling a registry host from the first path component.
fn split_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first.to_owned(), rest.to_owned())
        }
        _ => (DEFAULT_DOMAIN.to_owned(), name.to_owned()),
    };
    let domain = if domain == LEGACY_DOMAIN {
        DEFAULT_DOMAIN.to_owned()
    } else {
        domain
    };
    let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
        format!("{OFFICIAL_PREFIX}{path}")
    } else {
        path
    };
    (domain, path)
}

/// `host[:port]`: dot-separated labels of letters, digits and inner hyphens, or `[ipv6]`.
fn check_domain(domain: &str) -> Result<(), String> {
    let (host, port) = match domain.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("registry host {domain:?} has an unclosed '['"))?;
            if addr.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!("registry host {domain:?} is not an IPv6 address"));
            }
            (
                None,
                after
                    .strip_prefix(':')
                    .or(Some(after).filter(|a| !a.is_empty())),
            )
        }
        None => match domain.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(domain), None),
        },
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if let Some(h) = host {
        if !h.split('.').all(label_ok) {
            return Err(format!("registry host {h:?} is not a valid host name"));
        }
    }
    if let Some(p) = port {
        let digits = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !digits || p.parse::<u16>().is_err() {
            return Err(format!("registry port {p:?} is not a port number"));
        }
    }
    Ok(())
}

/// Path components: lower-case letters and digits, separated by `.`, `_`, `__` or runs of `-`.
fn check_path(path: &str) -> Result<(), String> {
    for comp in path.split('/') {
        let b = comp.as_bytes();
        let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        let ends_ok = b.first().is_some_and(|&c| alnum(c)) && b.last().is_some_and(|&c| alnum(c));
        let seps_ok = comp
            .split(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            .all(|sep| matches!(sep, "" | "." | "_" | "__") || sep.bytes().all(|c| c == b'-'));
        if !ends_ok || !seps_ok {
            return Err(format!(
                "repository name component {comp:?} must be lower-case letters and digits \
                 separated by '.', '_', '__' or '-'"
            ));
        }
    }
    Ok(())
}

/// Tags: a word character, then up to 127 word characters, `.` or `-`.
fn check_tag(tag: &str) -> Result<(), String> {
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let b = tag.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= MAX_TAG
        && word(b[0])
        && b.iter().all(|&c| word(c) || c == b'.' || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag {tag:?} must be 1 to {MAX_TAG} letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn norm(s: &str) -> String {
        s.parse::<Reference>().unwrap().to_string()
    }

    #[test]
    fn docker_normalisation() {
        let cases = [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("user/app", "docker.io/user/app:latest"),
            ("docker.io/busybox", "docker.io/library/busybox:latest"),
            (
                "index.docker.io/library/busybox:x",
                "docker.io/library/busybox:x",
            ),
            ("quay.io/a/b/c:v_1.2-rc", "quay.io/a/b/c:v_1.2-rc"),
            ("localhost/app", "localhost/app:latest"),
            ("localhost:5000/app:v1", "localhost:5000/app:v1"),
            (
                "127.0.0.1:5000/dm/busybox",
                "127.0.0.1:5000/dm/busybox:latest",
            ),
            ("Registry/app", "Registry/app:latest"),
            ("[::1]:5000/app", "[::1]:5000/app:latest"),
            ("a__b/c-d--e/f.g", "docker.io/a__b/c-d--e/f.g:latest"),
        ];
        for (input, want) in cases {
            assert_eq!(norm(input), want, "{input}");
        }
    }

    #[test]
    fn digests_pin_and_tags_stay_when_both_given() {
        let r: Reference = format!("busybox@{D}").parse().unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.object(), D);
        assert_eq!(r.to_string(), format!("docker.io/library/busybox@{D}"));
        let r: Reference = format!("host:5000/x:v1@{D}").parse().unwrap();
        assert_eq!(
            (r.domain(), r.path(), r.tag()),
            ("host:5000", "x", Some("v1"))
        );
        assert_eq!(r.object(), D, "the digest wins over the tag");
    }

    #[test]
    fn familiar_names_drop_docker_io_and_library() {
        let f = |s: &str| s.parse::<Reference>().unwrap().familiar();
        assert_eq!(f("docker.io/library/busybox"), "busybox:latest");
        assert_eq!(f("user/app:v2"), "user/app:v2");
        assert_eq!(f("127.0.0.1:5000/x"), "127.0.0.1:5000/x:latest");
    }

    #[test]
    fn bad_references_name_what_is_wrong() {
        let cases = [
            ("", "empty"),
            ("Busybox", "lower-case"),
            ("busybox:", "tag \"\""),
            ("busybox:-x", "tag \"-x\""),
            ("busybox@sha256:abc", "sha256 needs 64"),
            ("a//b", "component \"\""),
            ("a/b_", "component \"b_\""),
            ("host:99999/a", "port \"99999\""),
            ("host:/a", "port \"\""),
            ("-bad.io/a", "host"),
            ("[zz]:1/a", "IPv6"),
            (&"a".repeat(64).replace('a', "f"), "image id"),
            (&format!("x/{}", "a".repeat(260)), "longer than 255"),
            (&format!("busybox:{}", "t".repeat(129)), "1 to 128"),
        ];
        for (input, why) in cases {
            let e = input.parse::<Reference>().unwrap_err();
            assert_eq!(e.input, input);
            assert!(e.reason.contains(why), "{input:?}: {e}");
        }
    }

    #[test]
    fn retagging_keeps_the_repository() {
        let r: Reference = "127.0.0.1:5000/dm/busybox:a".parse().unwrap();
        assert_eq!(
            r.with_tag("b").unwrap().to_string(),
            "127.0.0.1:5000/dm/busybox:b"
        );
        assert!(r.with_tag("no good").is_err());
        let d: Digest = D.parse().unwrap();
        assert_eq!(
            r.with_digest(&d).to_string(),
            format!("127.0.0.1:5000/dm/busybox@{D}")
        );
    }
}
