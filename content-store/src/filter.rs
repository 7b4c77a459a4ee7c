//! containerd's filter language, as used by List and ListStatuses.
//!
//! A request carries a list of filters; an item matches if any filter matches. A filter is a
//! comma-separated list of selectors that must all match. A selector is a field path
//! (`digest`, `labels."containerd.io/gc.root"`) optionally followed by `==`, `!=` or `~=`
//! (regular expression) and a value; a bare field path tests presence. Path components and
//! values may be quoted with `"..."` (backslash escapes) or `/.../` (for expressions).

use crate::error::{Error, Result};
use regex::Regex;

/// One comparison.
#[derive(Debug, Clone)]
enum Op {
    Present,
    Equal(String),
    NotEqual(String),
    Matches(Regex),
}

#[derive(Debug, Clone)]
struct Selector {
    path: Vec<String>,
    op: Op,
}

/// Parsed filters: any of the conjunctions must match.
#[derive(Debug, Clone, Default)]
pub struct Filter(Vec<Vec<Selector>>);

/// Something filters can look at: returns the value at a field path and whether it exists.
pub trait Fields {
    /// The value of `path`, if the item has that field.
    fn field(&self, path: &[String]) -> Option<String>;
}

impl Filter {
    /// Parses a request's filter list; an empty list matches everything.
    pub fn parse_all<S: AsRef<str>>(filters: &[S]) -> Result<Filter> {
        let mut all = Vec::new();
        for f in filters {
            let f = f.as_ref();
            if f.trim().is_empty() {
                continue;
            }
            all.push(Parser::new(f).conjunction()?);
        }
        Ok(Filter(all))
    }

    /// True if `item` matches.
    pub fn matches(&self, item: &impl Fields) -> bool {
        self.0.is_empty() || self.0.iter().any(|c| c.iter().all(|s| s.matches(item)))
    }
}

impl Selector {
    fn matches(&self, item: &impl Fields) -> bool {
        let value = item.field(&self.path);
        match &self.op {
            Op::Present => value.is_some(),
            Op::Equal(v) => value.as_deref() == Some(v),
            Op::NotEqual(v) => value.as_deref().unwrap_or("") != v,
            Op::Matches(re) => re.is_match(value.as_deref().unwrap_or("")),
        }
    }
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Parser { src, pos: 0 }
    }

    fn err(&self, what: &str) -> Error {
        Error::InvalidArgument(format!(
            "filter {:?}: {what} at position {}",
            self.src, self.pos
        ))
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.src.len() - trimmed.len();
    }

    fn conjunction(&mut self) -> Result<Vec<Selector>> {
        let mut sels = vec![self.selector()?];
        loop {
            self.skip_space();
            if self.rest().is_empty() {
                return Ok(sels);
            }
            if !self.rest().starts_with(',') {
                return Err(self.err("expected ',' between selectors"));
            }
            self.pos += 1;
            sels.push(self.selector()?);
        }
    }

    fn selector(&mut self) -> Result<Selector> {
        let mut path = vec![self.field()?];
        while self.rest().starts_with('.') {
            self.pos += 1;
            path.push(self.field()?);
        }
        self.skip_space();
        let op = ["==", "!=", "~="]
            .into_iter()
            .find(|o| self.rest().starts_with(o));
        let Some(op) = op else {
            return Ok(Selector {
                path,
                op: Op::Present,
            });
        };
        self.pos += 2;
        self.skip_space();
        let value = self.value()?;
        let op = match op {
            "==" => Op::Equal(value),
            "!=" => Op::NotEqual(value),
            _ => Op::Matches(
                Regex::new(&value).map_err(|e| self.err(&format!("bad expression: {e}")))?,
            ),
        };
        Ok(Selector { path, op })
    }

    fn field(&mut self) -> Result<String> {
        self.skip_space();
        if let Some(q) = self.quoted()? {
            return Ok(q);
        }
        let n = self
            .rest()
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(self.rest().len());
        if n == 0 {
            return Err(self.err("expected a field name"));
        }
        let f = self.rest()[..n].to_owned();
        self.pos += n;
        Ok(f)
    }

    fn value(&mut self) -> Result<String> {
        if let Some(q) = self.quoted()? {
            return Ok(q);
        }
        let n = self
            .rest()
            .find(|c: char| c == ',' || c.is_whitespace() || c == '"')
            .unwrap_or(self.rest().len());
        if n == 0 {
            return Err(self.err("expected a value"));
        }
        let v = self.rest()[..n].to_owned();
        self.pos += n;
        Ok(v)
    }

    /// A `"..."` or `/.../` quoted string, if one starts here.
    fn quoted(&mut self) -> Result<Option<String>> {
        let Some(quote) = self
            .rest()
            .chars()
            .next()
            .filter(|c| *c == '"' || *c == '/')
        else {
            return Ok(None);
        };
        let mut out = String::new();
        let mut chars = self.rest().char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.pos += i + 1;
                return Ok(Some(out));
            }
            if c == '\\' {
                let Some((_, e)) = chars.next() else { break };
                match (quote, e) {
                    (_, 'n') => out.push('\n'),
                    (_, 't') => out.push('\t'),
                    ('"', e) if e == '"' || e == '\\' => out.push(e),
                    ('/', '/') => out.push('/'),
                    (_, e) => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            } else {
                out.push(c);
            }
        }
        Err(self.err("unterminated quoted string"))
    }
}

/// Field lookup in a label map for paths `labels.<key>` (the rest of the path joined by `.`).
pub fn label_field(labels: &crate::labels::Labels, rest: &[String]) -> Option<String> {
    if rest.is_empty() {
        return None;
    }
    labels.get(&rest.join(".")).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Item(HashMap<&'static str, &'static str>);

    impl Fields for Item {
        fn field(&self, path: &[String]) -> Option<String> {
            self.0.get(path.join(".").as_str()).map(|s| s.to_string())
        }
    }

    fn item() -> Item {
        Item(HashMap::from([
            ("digest", "sha256:abc"),
            ("labels.containerd.io/gc.root", "2024"),
            ("labels.kind", "layer"),
        ]))
    }

    fn check(filters: &[&str]) -> bool {
        Filter::parse_all(filters).unwrap().matches(&item())
    }

    #[test]
    fn selectors_and_quoting_match_as_in_containerd() {
        assert!(check(&[]));
        assert!(check(&["digest==sha256:abc"]));
        assert!(!check(&["digest==sha256:abd"]));
        assert!(check(&[r#"labels."containerd.io/gc.root""#]));
        assert!(check(&["labels.kind==layer, digest~=/^sha256:a/"]));
        assert!(!check(&["labels.kind==layer,digest!=sha256:abc"]));
        assert!(check(&["labels.kind==config", "labels.kind==\"layer\""]));
        assert!(check(&["labels.missing!=x"]));
        assert!(!check(&["labels.missing"]));
    }

    #[test]
    fn malformed_filters_are_invalid_arguments() {
        for bad in ["==x", "digest==", "labels.\"open", "digest~=(", "a b"] {
            let err = Filter::parse_all(&[bad]).unwrap_err();
            assert_eq!(
                err.kind(),
                crate::error::Kind::InvalidArgument,
                "{bad}: {err}"
            );
        }
    }
}
