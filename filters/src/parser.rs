//! The filter grammar (see the crate docs): a hand-rolled scanner over one filter string.

use crate::{Error, Op, Selector};
use regex::Regex;

/// Parses one filter string into its selectors; `None` for an empty (match-all) filter.
pub fn parse_one(filter: &str) -> Result<Option<Vec<Selector>>, Error> {
    if filter.is_empty() {
        return Ok(None);
    }
    let mut p = Parser {
        src: filter,
        pos: 0,
    };
    let mut sels = vec![p.selector()?];
    loop {
        p.skip_space();
        match p.peek() {
            None => return Ok(Some(sels)),
            Some(',') => {
                p.pos += 1;
                sels.push(p.selector()?);
            }
            Some(c) => return Err(p.err(format!("expected ',' or the end, found {c:?}"))),
        }
    }
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

fn is_field_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn is_quote(c: char) -> bool {
    matches!(c, '"' | '/' | '|')
}

impl Parser<'_> {
    fn err(&self, what: impl Into<String>) -> Error {
        Error::Syntax {
            filter: self.src.to_owned(),
            offset: self.pos,
            what: what.into(),
        }
    }

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_space(&mut self) {
        self.pos = self.src.len() - self.rest().trim_start().len();
    }

    fn selector(&mut self) -> Result<Selector, Error> {
        let mut path = vec![self.field()?];
        loop {
            self.skip_space();
            if self.peek() != Some('.') {
                break;
            }
            self.pos += 1;
            path.push(self.field()?);
        }
        let op = match self.peek() {
            None | Some(',') => {
                return Ok(Selector {
                    path,
                    op: Op::Present,
                })
            }
            _ => self.operator()?,
        };
        self.skip_space();
        let value = self.value()?;
        let op = match op {
            "==" => Op::Equal(value),
            "!=" => Op::NotEqual(value),
            _ => Op::Matches(Regex::new(&value).map_err(|e| Error::Regex {
                filter: self.src.to_owned(),
                pattern: value.clone(),
                source: Box::new(e),
            })?),
        };
        Ok(Selector { path, op })
    }

    fn operator(&mut self) -> Result<&'static str, Error> {
        let op = ["==", "!=", "~="]
            .into_iter()
            .find(|o| self.rest().starts_with(o))
            .ok_or_else(|| self.err("expected an operator (==, != or ~=)"))?;
        self.pos += op.len();
        Ok(op)
    }

    fn field(&mut self) -> Result<String, Error> {
        self.skip_space();
        if let Some(q) = self.quoted()? {
            return Ok(q);
        }
        let n = self
            .rest()
            .find(|c: char| !is_field_char(c))
            .unwrap_or(self.rest().len());
        if n == 0 {
            return Err(self.err("expected a field name or a quoted string"));
        }
        let f = self.rest()[..n].to_owned();
        self.pos += n;
        Ok(f)
    }

    fn value(&mut self) -> Result<String, Error> {
        if let Some(q) = self.quoted()? {
            return Ok(q);
        }
        let n = self
            .rest()
            .find(|c: char| c == ',' || c.is_whitespace())
            .unwrap_or(self.rest().len());
        if n == 0 {
            return Err(self.err("expected a value or a quoted string"));
        }
        let v = self.rest()[..n].to_owned();
        self.pos += n;
        Ok(v)
    }

    /// A quoted string starting here, unquoted; `None` if no quote starts here.
    fn quoted(&mut self) -> Result<Option<String>, Error> {
        let Some(quote) = self.peek().filter(|c| is_quote(*c)) else {
            return Ok(None);
        };
        let start = self.pos;
        let mut out = String::new();
        let mut chars = self.rest().char_indices().skip(1).peekable();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.pos += i + 1;
                return Ok(Some(out));
            }
            if c == '\n' {
                break;
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some((j, e)) = chars.next() else { break };
            let simple = match e {
                'a' => Some('\x07'),
                'b' => Some('\x08'),
                'f' => Some('\x0c'),
                'n' => Some('\n'),
                'r' => Some('\r'),
                't' => Some('\t'),
                'v' => Some('\x0b'),
                '\\' => Some('\\'),
                e if e == quote => Some(e),
                _ => None,
            };
            if let Some(s) = simple {
                out.push(s);
                continue;
            }
            let digits = match e {
                '0'..='7' => Some((8, 3, 0)),
                'x' => Some((16, 2, 1)),
                'u' => Some((16, 4, 1)),
                'U' => Some((16, 8, 1)),
                _ => None,
            };
            if let Some((radix, n, skip)) = digits {
                let from = self.pos + j + skip;
                let text = self.src.get(from..from + n).unwrap_or("");
                let c = (text.len() == n)
                    .then(|| u32::from_str_radix(text, radix).ok())
                    .flatten()
                    .and_then(char::from_u32)
                    .ok_or_else(|| {
                        self.err_at(self.pos + j - 1, format!("bad escape \\{e}{text}"))
                    })?;
                out.push(c);
                for _ in 0..(n + skip - 1) {
                    chars.next();
                }
            } else if quote == '"' {
                return Err(self.err_at(self.pos + j - 1, format!("unknown escape \\{e}")));
            } else {
                out.push('\\');
                out.push(e);
            }
        }
        self.pos = start;
        Err(self.err(format!("unterminated {quote}-quoted string")))
    }

    fn err_at(&self, offset: usize, what: String) -> Error {
        Error::Syntax {
            filter: self.src.to_owned(),
            offset,
            what,
        }
    }
}
