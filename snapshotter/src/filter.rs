//! containerd's filter syntax for List/Walk: `selector[,selector...]`, where a selector is
//! `fieldpath`, `fieldpath==value`, `fieldpath!=value` or `fieldpath~=regex`. Selectors joined by
//! `,` must all match; several filter strings match when any of them does.
//! Snapshot fields are `kind`, `name`, `parent` and `labels.<key>` (quote keys with dots:
//! `labels."containerd.io/gc.root"`).

use crate::info::Info;
use crate::{Error, Result};
use regex::Regex;

/// A parsed set of filters (empty matches everything).
#[derive(Debug, Default)]
pub struct Filter {
    any_of: Vec<Vec<Selector>>,
}

#[derive(Debug)]
struct Selector {
    path: Vec<String>,
    op: Op,
}

#[derive(Debug)]
enum Op {
    Present,
    Eq(String),
    Ne(String),
    Matches(Regex),
}

impl Filter {
    /// Parses containerd filter strings; an error names the filter and the position.
    pub fn parse<S: AsRef<str>>(filters: &[S]) -> Result<Filter> {
        let mut any_of = Vec::new();
        for f in filters {
            let f = f.as_ref();
            if f.trim().is_empty() {
                continue;
            }
            any_of.push(Parser { s: f, pos: 0 }.selectors()?);
        }
        Ok(Filter { any_of })
    }

    /// True when `info` passes.
    pub fn matches(&self, info: &Info) -> bool {
        self.any_of.is_empty()
            || self
                .any_of
                .iter()
                .any(|all| all.iter().all(|s| s.matches(info)))
    }
}

impl Selector {
    fn matches(&self, info: &Info) -> bool {
        let value: Option<&str> = match self.path.iter().map(String::as_str).collect::<Vec<_>>()[..]
        {
            ["kind"] => Some(info.kind.as_str()),
            ["name"] => Some(&info.name),
            ["parent"] => Some(&info.parent),
            ["labels", ref rest @ ..] if !rest.is_empty() => {
                info.labels.get(&rest.join(".")).map(String::as_str)
            }
            _ => None,
        };
        match (&self.op, value) {
            (Op::Present, v) => v.is_some(),
            (Op::Eq(want), Some(v)) => v == want,
            (Op::Ne(want), Some(v)) => v != want,
            (Op::Ne(_), None) => true,
            (Op::Matches(re), Some(v)) => re.is_match(v),
            (_, None) => false,
        }
    }
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> Error {
        Error::invalid(
            "filters",
            format!("{what} at offset {} in {:?}", self.pos, self.s),
        )
    }

    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.s.len() - trimmed.len();
    }

    fn selectors(mut self) -> Result<Vec<Selector>> {
        let mut out = Vec::new();
        loop {
            out.push(self.selector()?);
            self.skip_ws();
            if self.rest().is_empty() {
                return Ok(out);
            }
            if !self.rest().starts_with(',') {
                return Err(self.err("expected `,`"));
            }
            self.pos += 1;
        }
    }

    fn selector(&mut self) -> Result<Selector> {
        let mut path = vec![self.field()?];
        while self.rest().starts_with('.') {
            self.pos += 1;
            path.push(self.field()?);
        }
        self.skip_ws();
        let op = ["==", "!=", "~="]
            .into_iter()
            .find(|op| self.rest().starts_with(op));
        let Some(op) = op else {
            return Ok(Selector {
                path,
                op: Op::Present,
            });
        };
        self.pos += 2;
        self.skip_ws();
        let value = self.value()?;
        let op = match op {
            "==" => Op::Eq(value),
            "!=" => Op::Ne(value),
            _ => Op::Matches(
                Regex::new(&value).map_err(|e| self.err(&format!("bad regex {value:?}: {e}")))?,
            ),
        };
        Ok(Selector { path, op })
    }

    fn field(&mut self) -> Result<String> {
        self.skip_ws();
        if self.rest().starts_with('"') {
            return self.quoted();
        }
        let n = self
            .rest()
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '/'))
            .unwrap_or(self.rest().len());
        if n == 0 {
            return Err(self.err("expected a field name"));
        }
        let f = self.rest()[..n].to_owned();
        self.pos += n;
        Ok(f)
    }

    fn value(&mut self) -> Result<String> {
        if self.rest().starts_with('"') {
            return self.quoted();
        }
        let n = self.rest().find(',').unwrap_or(self.rest().len());
        let v = self.rest()[..n].trim_end().to_owned();
        if v.is_empty() {
            return Err(self.err("expected a value"));
        }
        self.pos += n;
        Ok(v)
    }

    fn quoted(&mut self) -> Result<String> {
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, c)) => out.push(c),
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err(self.err("unterminated quoted string"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::Kind;
    use std::collections::HashMap;
    use std::time::SystemTime;

    fn info(name: &str, kind: Kind, labels: &[(&str, &str)]) -> Info {
        Info {
            kind,
            name: name.into(),
            parent: "p".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
            created: SystemTime::UNIX_EPOCH,
            updated: SystemTime::UNIX_EPOCH,
        }
    }

    fn m(filters: &[&str], i: &Info) -> bool {
        Filter::parse(filters).unwrap().matches(i)
    }

    #[test]
    fn fields_operators_and_combinations() {
        let a = info(
            "ns/1/a",
            Kind::Active,
            &[("containerd.io/gc.root", "x"), ("t", "1")],
        );
        assert!(m(&[], &a));
        assert!(m(&["kind==active"], &a));
        assert!(!m(&["kind==committed"], &a));
        assert!(m(&["kind!=committed"], &a));
        assert!(m(&["name~=^ns/1/"], &a));
        assert!(m(&["parent==p"], &a));
        assert!(m(&[r#"labels."containerd.io/gc.root""#], &a));
        assert!(!m(&["labels.missing"], &a));
        assert!(m(&["labels.t==1,kind==active"], &a));
        assert!(!m(&["labels.t==1,kind==view"], &a));
        assert!(m(&["kind==view", "labels.t==1"], &a));
        assert!(m(&[r#"name=="ns/1/a""#], &a));
    }

    #[test]
    fn malformed_filters_are_refused_with_position() {
        for bad in ["kind==", "==x", r#"name=="open"#, "name~=(", "kind==a;b c,"] {
            let e = Filter::parse(&[bad]).unwrap_err().to_string();
            assert!(e.contains("filters"), "{bad}: {e}");
        }
    }
}
