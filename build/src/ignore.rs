//! `.dockerignore`: Docker's pattern rules. Each line is a path pattern relative to the
//! context (a leading `/` and `./` do not matter); `*`, `?` and `[...]` match within one path
//! element, `**` any number of elements; a pattern that matches a directory excludes what is
//! under it; the last matching line wins, and a line starting with `!` re-includes.

/// One pattern line.
#[derive(Debug, Clone)]
struct Pattern {
    parts: Vec<String>,
    exception: bool,
}

/// The patterns of a `.dockerignore` file.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    /// Parses a `.dockerignore`'s text (comments `#` and blank lines skipped).
    pub fn parse(text: &str) -> Ignore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, p) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let parts = clean(p);
            if parts.is_empty() {
                continue;
            }
            patterns.push(Pattern { parts, exception });
        }
        Ignore { patterns }
    }

    /// Whether the context path `rel` (`a/b/c`, no leading slash) is excluded.
    pub fn excluded(&self, rel: &str) -> bool {
        let path = clean(rel);
        let mut out = false;
        for p in &self.patterns {
            // A pattern matching a parent directory matches everything under it.
            let hit = (1..=path.len()).any(|n| match_parts(&p.parts, &path[..n]));
            if hit {
                out = !p.exception;
            }
        }
        out
    }

    /// Whether an exception could re-include something under the excluded directory `rel`
    /// (then the walk must still descend into it).
    pub fn may_reinclude_under(&self, rel: &str) -> bool {
        let depth = clean(rel).len();
        self.patterns
            .iter()
            .any(|p| p.exception && (p.parts.len() > depth || p.parts.iter().any(|s| s == "**")))
    }
}

/// Path elements after dropping `.`, empty elements and resolving `..` lexically.
fn clean(p: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s.to_owned()),
        }
    }
    out
}

/// Whether the whole path (elements) matches the pattern (elements).
pub fn match_parts(pat: &[String], path: &[String]) -> bool {
    match pat.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| match_parts(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((p, prest)) => glob(first.as_bytes(), p.as_bytes()) && match_parts(rest, prest),
            None => false,
        },
    }
}

/// Go's `filepath.Match` for one element: `*`, `?`, `[...]` (with `^`/`!` negation and
/// ranges) and `\` escapes.
pub fn glob(pat: &[u8], name: &[u8]) -> bool {
    match pat.first() {
        None => name.is_empty(),
        Some(b'*') => (0..=name.len()).any(|i| glob(&pat[1..], &name[i..])),
        Some(b'?') => !name.is_empty() && glob(&pat[1..], &name[1..]),
        Some(b'[') => {
            let Some((&c, rest_name)) = name.split_first() else {
                return false;
            };
            let Some(end) = pat.iter().skip(1).position(|&b| b == b']') else {
                return false;
            };
            let mut class = &pat[1..1 + end];
            let negate = matches!(class.first(), Some(b'^' | b'!'));
            if negate {
                class = &class[1..];
            }
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && glob(&pat[end + 2..], rest_name)
        }
        Some(b'\\') if pat.len() > 1 => {
            name.first() == Some(&pat[1]) && glob(&pat[2..], &name[1..])
        }
        Some(&b) => name.first() == Some(&b) && glob(&pat[1..], &name[1..]),
    }
}

/// Whether a COPY source has glob characters.
pub fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Splits a relative path into the elements [`match_parts`] takes.
pub fn parts(p: &str) -> Vec<String> {
    clean(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_rules() {
        let ig = Ignore::parse(
            "# comment\n\n*.md\n!README.md\n/build\ntemp?\n**/*.log\ndocs/**/secret\n!keep/**\n\
             node_modules\n./dist/\n[a-c]x\n",
        );
        for p in [
            "a.md",
            "build",
            "build/x/y",
            "temp1",
            "x.log",
            "a/b/c.log",
            "docs/secret",
            "docs/a/b/secret",
            "node_modules/pkg/i.js",
            "dist/app",
            "bx",
        ] {
            assert!(ig.excluded(p), "{p} should be excluded");
        }
        for p in [
            "README.md",
            "sub/a.md",
            "temp12",
            "src/main.rs",
            "keep/x.log",
            "dx",
            "docs/public",
        ] {
            assert!(!ig.excluded(p), "{p} should be kept");
        }
    }

    #[test]
    fn exceptions_inside_excluded_directories() {
        let ig = Ignore::parse("data\n!data/keep.txt\n");
        assert!(ig.excluded("data/other"));
        assert!(!ig.excluded("data/keep.txt"));
        assert!(ig.may_reinclude_under("data"));
        assert!(!Ignore::parse("data\n").may_reinclude_under("data"));
    }

    #[test]
    fn globs() {
        assert!(glob(b"*.t?t", b"a.txt"));
        assert!(!glob(b"*.txt", b"a.tx"));
        assert!(glob(b"[!a]b", b"cb") && !glob(b"[^a]b", b"ab"));
        assert!(glob(b"a\\*", b"a*") && !glob(b"a\\*", b"ab"));
    }
}
