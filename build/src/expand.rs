//! Variable substitution as Dockerfiles do it: `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR:+alternative}`, with the escape character keeping a `$` literal.

/// Expands `s` with `lookup`; unknown variables become empty.
pub fn expand(s: &str, escape: char, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == escape && chars.get(i + 1) == Some(&'$') {
            out.push('$');
            i += 2;
            continue;
        }
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'{') {
            let Some(end) = chars[i + 2..].iter().position(|&c| c == '}') else {
                out.extend(&chars[i..]);
                break;
            };
            let inner: String = chars[i + 2..i + 2 + end].iter().collect();
            out.push_str(&braced(&inner, escape, lookup));
            i += end + 3;
            continue;
        }
        let name: String = chars[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
            .collect();
        if name.is_empty() {
            out.push('$');
            i += 1;
        } else {
            out.push_str(&lookup(&name).unwrap_or_default());
            i += 1 + name.chars().count();
        }
    }
    out
}

fn braced(inner: &str, escape: char, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    if let Some((name, default)) = inner.split_once(":-") {
        return match lookup(name).filter(|v| !v.is_empty()) {
            Some(v) => v,
            None => expand(default, escape, lookup),
        };
    }
    if let Some((name, alt)) = inner.split_once(":+") {
        return match lookup(name).filter(|v| !v.is_empty()) {
            Some(_) => expand(alt, escape, lookup),
            None => String::new(),
        };
    }
    lookup(inner).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let look = |n: &str| match n {
            "A" => Some("1".to_owned()),
            "E" => Some(String::new()),
            _ => None,
        };
        let x = |s| expand(s, '\\', &look);
        assert_eq!(x("$A-${A}/x$A_"), "1-1/x");
        assert_eq!(x("${B:-d$A} ${E:-e} ${A:+alt} ${B:+alt}."), "d1 e alt .");
        assert_eq!(x("\\$A costs $ 5 ${A"), "$A costs $ 5 ${A");
        assert_eq!(expand("`$A", '`', &look), "$A");
    }
}
