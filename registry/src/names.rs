//! Validation of what clients put in URLs: repository names, tags, digests, upload ids. Every
//! one of them ends up in a path under the root, so nothing unvalidated reaches the filesystem.

use crate::error::{Error, Result};
use dm_content::Digest;

/// Longest repository name accepted (the spec's practical limit with a host name in front).
pub const MAX_NAME: usize = 255;

/// Checks a repository name against the spec's grammar: `/`-separated components matching
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
pub fn validate_repo(name: &str) -> Result<()> {
    let bad = |why: &str| Error::NameInvalid(format!("repository name {name:?}: {why}"));
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(bad(&format!("must have 1 to {MAX_NAME} characters")));
    }
    for comp in name.split('/') {
        if !component_ok(comp) {
            return Err(bad(&format!(
                "component {comp:?} must be lowercase letters and digits, separated by one \
                 '.', one or two '_', or '-'s"
            )));
        }
    }
    Ok(())
}

fn component_ok(comp: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let b: Vec<char> = comp.chars().collect();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep: String = b[start..i].iter().collect();
        let ok = sep == "." || sep == "_" || sep == "__" || sep.chars().all(|c| c == '-');
        if !ok {
            return false;
        }
    }
    true
}

/// Checks a tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<()> {
    let ok_first = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let ok_rest = |c: char| ok_first(c) || c == '.' || c == '-';
    let mut chars = tag.chars();
    let valid = tag.len() <= 128 && chars.next().is_some_and(ok_first) && chars.all(ok_rest);
    if valid {
        Ok(())
    } else {
        Err(Error::NameInvalid(format!(
            "tag {tag:?}: must match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}"
        )))
    }
}

/// Parses a digest given by a client.
pub fn parse_digest(s: &str) -> Result<Digest> {
    s.parse().map_err(|e: dm_content::Error| {
        let msg = e.to_string();
        Error::DigestInvalid(msg.trim_end_matches(": invalid argument").to_owned())
    })
}

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq)]
pub enum Reference {
    /// A tag.
    Tag(String),
    /// A digest.
    Digest(Digest),
}

impl Reference {
    /// Parses a reference: a digest if it holds `:`, a tag otherwise.
    pub fn parse(s: &str) -> Result<Reference> {
        if s.contains(':') {
            parse_digest(s).map(Reference::Digest)
        } else {
            validate_tag(s)?;
            Ok(Reference::Tag(s.to_owned()))
        }
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reference::Tag(t) => f.write_str(t),
            Reference::Digest(d) => write!(f, "{d}"),
        }
    }
}

/// Checks an upload session id: 32 lowercase hex characters, as this registry issues them.
pub fn validate_upload_id(id: &str) -> Result<()> {
    if id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(Error::UploadUnknown(id.to_owned()))
    }
}

/// A fresh random upload session id.
pub fn new_upload_id() -> String {
    let mut b = [0u8; 16];
    // getrandom only fails where the OS has no entropy source at all; a time-based id is
    // still unique within this process, which owns the root.
    if getrandom::getrandom(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        b = t.to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_follow_the_spec_grammar() {
        for ok in [
            "busybox",
            "library/busybox",
            "a/b/c",
            "a.b",
            "a_b",
            "a__b",
            "a---b",
            "0",
            "my-org/my.app_v2",
        ] {
            validate_repo(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let long = "a".repeat(MAX_NAME + 1);
        for bad in [
            "",
            "Busybox",
            "../etc",
            "a/../b",
            "a//b",
            "/a",
            "a/",
            "a___b",
            "a..b",
            "-a",
            "a-",
            "a b",
            "a%2fb",
            ".",
            long.as_str(),
        ] {
            let e = validate_repo(bad).unwrap_err();
            assert_eq!(e.code(), "NAME_INVALID", "{bad}");
        }
    }

    #[test]
    fn tags_and_references() {
        for ok in ["latest", "v1.0-rc_1", "_x", &"a".repeat(128)] {
            validate_tag(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in ["", ".x", "-x", "a/b", "..", &"a".repeat(129)] {
            assert_eq!(
                validate_tag(bad).unwrap_err().code(),
                "NAME_INVALID",
                "{bad}"
            );
        }
        let d = Digest::of(b"x");
        assert_eq!(
            Reference::parse(&d.to_string()).unwrap(),
            Reference::Digest(d)
        );
        assert_eq!(
            Reference::parse("sha256:../../x").unwrap_err().code(),
            "DIGEST_INVALID"
        );
    }

    #[test]
    fn upload_ids_are_hex_only() {
        let id = new_upload_id();
        validate_upload_id(&id).unwrap();
        assert_ne!(id, new_upload_id());
        for bad in ["", "../x", &"g".repeat(32), &"a".repeat(31)] {
            assert!(validate_upload_id(bad).is_err(), "{bad}");
        }
    }
}
