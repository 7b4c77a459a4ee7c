//! containerd's filter expressions, as its List, ListStatuses and Walk requests carry them.
//!
//! A request holds a list of filters; an item passes if any filter matches it (no filters, or
//! an empty filter string, match everything). A filter is a comma-separated list of selectors
//! that must all match:
//!
//! ```text
//! selectors := selector ("," selector)*
//! selector  := fieldpath [operator value]
//! fieldpath := field ("." field)*
//! field     := quoted | [A-Za-z0-9_-]+
//! operator  := "==" | "!=" | "~="
//! value     := quoted | [^\s,]+
//! quoted    := "..." | /.../ | |...|
//! ```
//!
//! A selector without an operator tests that the field is present. `~=` takes a regular
//! expression. Quoted strings take Go's escapes (`\n`, `\t`, `\\`, `\xNN`, `\uNNNN`, the quote
//! itself, ...); inside `/.../` and `|...|`, which exist for regular expressions, any other
//! escape is kept as written so that `\d` or `\.` reach the regex engine (containerd refuses
//! those, so every filter containerd accepts means the same here).

mod parser;

use regex::Regex;

pub use parser::parse_one;

/// Why a filter was refused. The message names the filter and where it went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The filter does not follow the grammar.
    #[error("filter {filter:?}: {what} at offset {offset}")]
    Syntax {
        /// The whole filter string.
        filter: String,
        /// Byte offset of the problem.
        offset: usize,
        /// What was expected or found.
        what: String,
    },
    /// A `~=` value is not a valid regular expression.
    #[error("filter {filter:?}: bad regular expression {pattern:?}: {source}")]
    Regex {
        /// The whole filter string.
        filter: String,
        /// The expression as unquoted.
        pattern: String,
        /// The regex engine's complaint.
        #[source]
        source: Box<regex::Error>,
    },
}

/// What a filter can look at: the value of a field path, if the item has that field.
pub trait Fields {
    /// The value at `path` (e.g. `["labels", "containerd.io/gc.root"]`), or `None` if absent.
    fn field(&self, path: &[String]) -> Option<String>;
}

/// One comparison of a selector.
#[derive(Debug, Clone)]
pub enum Op {
    /// The field exists.
    Present,
    /// The field exists and equals the value.
    Equal(String),
    /// The field differs from the value (an absent field reads as "").
    NotEqual(String),
    /// The regex matches the field (an absent field reads as "").
    Matches(Regex),
}

/// `fieldpath op value`.
#[derive(Debug, Clone)]
pub struct Selector {
    /// The field path, unquoted.
    pub path: Vec<String>,
    /// The comparison.
    pub op: Op,
}

impl Selector {
    /// True if `item` passes this selector (containerd's semantics for absent fields).
    pub fn matches(&self, item: &impl Fields) -> bool {
        let value = item.field(&self.path);
        match &self.op {
            Op::Present => value.is_some(),
            Op::Equal(v) => value.as_deref() == Some(v.as_str()),
            Op::NotEqual(v) => value.as_deref().unwrap_or("") != v,
            Op::Matches(re) => re.is_match(value.as_deref().unwrap_or("")),
        }
    }
}

/// Parsed filters: an item matches if all selectors of any one filter match it.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    any_of: Vec<Vec<Selector>>,
    always: bool,
}

impl Filter {
    /// Parses a request's filter list.
    pub fn parse_all<S: AsRef<str>>(filters: &[S]) -> Result<Filter, Error> {
        let mut f = Filter {
            any_of: Vec::new(),
            always: filters.is_empty(),
        };
        for s in filters {
            match parse_one(s.as_ref())? {
                Some(sels) => f.any_of.push(sels),
                None => f.always = true,
            }
        }
        Ok(f)
    }

    /// True if `item` passes.
    pub fn matches(&self, item: &impl Fields) -> bool {
        self.always
            || self
                .any_of
                .iter()
                .any(|all| all.iter().all(|s| s.matches(item)))
    }
}

/// The value of `labels.<key>` paths: `rest` is the path after `labels`, joined by `.` so that
/// an unquoted `labels.a.b` finds label `a.b` as containerd's adaptors do.
pub fn label_field(
    labels: &std::collections::HashMap<String, String>,
    rest: &[String],
) -> Option<String> {
    if rest.is_empty() {
        return None;
    }
    labels.get(&rest.join(".")).cloned()
}

#[cfg(test)]
mod tests;
