//! Per-user access rules: which actions a user may take on which repositories.
//!
//! One rule a line, `<user> <repositories> <actions>`: user is a name from the htpasswd file or
//! `*` (any authenticated user); repositories is a name, a prefix ending in `/*`, or `*`;
//! actions is a comma list of `pull`, `push`, `delete` or `*`. A user's access is the union of
//! the rules naming them; `#` starts a comment. The catalog needs a rule on `*`.

use crate::auth::Action;
use crate::error::{Error, IoContext, Result};
use std::collections::BTreeSet;
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    user: String,
    pattern: String,
    actions: BTreeSet<Action>,
}

/// The rules of an ACL file.
#[derive(Debug, Clone, PartialEq)]
pub struct Acl(Vec<Rule>);

impl Acl {
    /// Reads and checks an ACL file; errors name the line.
    pub fn load(path: &Path) -> Result<Acl> {
        let text = std::fs::read_to_string(path).ctx("read ACL", path)?;
        Acl::parse(&text)
            .map_err(|(line, why)| Error::Config(format!("{}:{line}: {why}", path.display())))
    }

    fn parse(text: &str) -> std::result::Result<Acl, (usize, String)> {
        let mut rules = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            let [user, pattern, actions] = f[..] else {
                return Err((i + 1, "expected <user> <repositories> <actions>".into()));
            };
            let name = pattern.strip_suffix("/*").unwrap_or(pattern);
            if pattern != "*" && crate::names::validate_repo(name).is_err() {
                return Err((
                    i + 1,
                    format!("repositories {pattern:?}: not a name, name/* or *"),
                ));
            }
            let mut acts = BTreeSet::new();
            for a in actions.split(',') {
                let parsed = Action::parse(a);
                if parsed.is_empty() {
                    return Err((
                        i + 1,
                        format!("action {a:?}: expected pull, push, delete or *"),
                    ));
                }
                acts.extend(parsed);
            }
            rules.push(Rule {
                user: user.to_owned(),
                pattern: pattern.to_owned(),
                actions: acts,
            });
        }
        Ok(Acl(rules))
    }

    /// What `user` may do on repository `repo`.
    pub fn allowed(&self, user: &str, repo: &str) -> BTreeSet<Action> {
        self.0
            .iter()
            .filter(|r| r.user == "*" || r.user == user)
            .filter(|r| {
                r.pattern == "*"
                    || r.pattern == repo
                    || r.pattern
                        .strip_suffix("/*")
                        .is_some_and(|p| repo.strip_prefix(p).is_some_and(|t| t.starts_with('/')))
            })
            .flat_map(|r| r.actions.iter().copied())
            .collect()
    }

    /// Whether `user` may list the catalog (has a rule on every repository).
    pub fn catalog(&self, user: &str) -> bool {
        self.0
            .iter()
            .any(|r| (r.user == "*" || r.user == user) && r.pattern == "*")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_union_per_user_and_pattern() {
        let acl = Acl::parse(
            "# team\nalice alice/* *\n* library/* pull\nbob bob push,pull\nops * pull\n",
        )
        .unwrap();
        let all: BTreeSet<Action> = [Action::Pull, Action::Push, Action::Delete].into();
        assert_eq!(acl.allowed("alice", "alice/app"), all);
        assert_eq!(acl.allowed("alice", "alice"), BTreeSet::new());
        assert_eq!(acl.allowed("alice", "alicex/app"), BTreeSet::new());
        assert_eq!(acl.allowed("bob", "library/busybox"), [Action::Pull].into());
        assert_eq!(
            acl.allowed("bob", "bob"),
            [Action::Pull, Action::Push].into()
        );
        assert!(acl.catalog("ops") && !acl.catalog("bob"));
    }

    #[test]
    fn bad_lines_are_named() {
        for (text, line, why) in [
            ("alice *\n", 1, "expected"),
            ("\nalice ../x pull\n", 2, "repositories"),
            ("alice x write\n", 1, "action \"write\""),
        ] {
            let (l, w) = Acl::parse(text).unwrap_err();
            assert_eq!(l, line, "{text}");
            assert!(w.contains(why), "{w}");
        }
    }
}
