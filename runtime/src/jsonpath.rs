//! The JSON path (`linux.namespaces[0].type`) at a position in a JSON text, to name the field
//! a serde_json error points at.
//!
//! serde_path_to_error does this by wrapping every visitor, which doubles the deserializer code
//! for the whole spec and so the pages every `create` touches; errors are rare, so the path is
//! recovered afterwards by scanning the text up to the error's line and column instead.

enum Frame {
    /// An object, with the last key read and whether a key comes next.
    Object { key: Option<String>, want_key: bool },
    /// An array, with the index of the current element.
    Array { index: usize },
}

/// The path of the value being read at 1-based `line` and `column` of `data`, as
/// serde_path_to_error prints it; "." at the top level.
///
/// serde_json reports an error raised after a value was read (an unknown name, a custom check)
/// past the `,`, `]` or `}` that follows it; with `after_value` that punctuation is stepped
/// back over so the value itself is named, not the next element or the enclosing list.
pub fn path_at(data: &[u8], line: usize, column: usize, after_value: bool) -> String {
    let mut end = offset(data, line, column).min(data.len());
    if after_value {
        let trimmed = data[..end].trim_ascii_end();
        if let Some(b',' | b']' | b'}') = trimmed.last() {
            end = trimmed.len() - 1;
        }
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < end {
        match data[i] {
            b'"' => {
                let (s, next) = string(data, i + 1, end);
                i = next;
                if let Some(Frame::Object { key, want_key }) = stack.last_mut() {
                    if *want_key {
                        *key = Some(s);
                        *want_key = false;
                    }
                }
                continue;
            }
            b'{' => stack.push(Frame::Object {
                key: None,
                want_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { want_key, .. }) => *want_key = true,
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    render(&stack)
}

fn render(stack: &[Frame]) -> String {
    let mut out = String::new();
    for f in stack {
        match f {
            Frame::Object { key: Some(k), .. } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Frame::Object { key: None, .. } => {}
            Frame::Array { index } => out.push_str(&format!("[{index}]")),
        }
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// Whether serde_json raised `e` after reading the offending value (see [`path_at`]): every
/// data error except those found on peeking at the next token or at the end of a container.
pub fn after_value(e: &serde_json::Error) -> bool {
    let m = e.to_string();
    ![
        "invalid type",
        "missing field",
        "invalid length",
        "duplicate field",
    ]
    .iter()
    .any(|p| m.starts_with(p))
}

/// Byte offset of 1-based (line, column); serde_json counts columns in bytes.
fn offset(data: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match data[start..].iter().position(|&b| b == b'\n') {
            Some(p) => start += p + 1,
            None => return data.len(),
        }
    }
    start + column
}

/// Reads a string body starting after its opening quote; returns it (escapes kept as written
/// except `\"` and `\\`) and the index after the closing quote (or `end`).
fn string(data: &[u8], mut i: usize, end: usize) -> (String, usize) {
    let mut s = Vec::new();
    while i < end {
        match data[i] {
            b'"' => return (String::from_utf8_lossy(&s).into_owned(), i + 1),
            b'\\' if i + 1 < end => {
                let c = data[i + 1];
                if c != b'"' && c != b'\\' {
                    s.push(b'\\');
                }
                s.push(c);
                i += 2;
            }
            b => {
                s.push(b);
                i += 1;
            }
        }
    }
    (String::from_utf8_lossy(&s).into_owned(), end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::Spec;

    /// The path for the error serde_json reports when parsing `v` as a Spec.
    fn spec_error_path(v: serde_json::Value) -> String {
        let text = serde_json::to_string_pretty(&v).unwrap();
        let e = serde_json::from_str::<Spec>(&text).unwrap_err();
        path_at(text.as_bytes(), e.line(), e.column(), after_value(&e))
    }

    #[test]
    fn names_nested_fields_and_indices() {
        let p = spec_error_path(serde_json::json!({"ociVersion": "1.0.2",
            "linux": {"namespaces": [{"type": "pid"}, {"type": "bogus"}]}}));
        assert_eq!(p, "linux.namespaces[1].type");
        let p = spec_error_path(serde_json::json!({"ociVersion": "1.0.2",
            "process": {"cwd": "/", "user": {"uid": "root", "gid": 0}}}));
        assert_eq!(p, "process.user.uid");
        let p = spec_error_path(serde_json::json!({"ociVersion": "1.0.2",
            "mounts": [{"destination": "/a"}, {"destination": "/b", "options": [1]}]}));
        assert_eq!(p, "mounts[1].options[0]");
    }

    #[test]
    fn a_bad_list_element_is_named_not_its_neighbour() {
        let caps = |b: serde_json::Value| {
            spec_error_path(serde_json::json!({"ociVersion": "1.0.2",
                "process": {"cwd": "/", "capabilities": {"bounding": b}}}))
        };
        let b = "process.capabilities.bounding";
        assert_eq!(
            caps(serde_json::json!(["CAP_TYPO", "CAP_KILL"])),
            format!("{b}[0]")
        );
        assert_eq!(
            caps(serde_json::json!(["CAP_KILL", "CAP_TYPO"])),
            format!("{b}[1]")
        );
        assert_eq!(caps(serde_json::json!(["CAP_KILL", {}])), format!("{b}[1]"));
        assert_eq!(caps(serde_json::json!([{}, "CAP_KILL"])), format!("{b}[0]"));
    }

    #[test]
    fn a_value_of_the_wrong_shape_names_its_field() {
        let p = spec_error_path(serde_json::json!({"ociVersion": "1.0.2",
            "hooks": {"prestart": {"path": "/x"}}}));
        assert_eq!(p, "hooks.prestart");
    }

    #[test]
    fn missing_fields_name_the_object() {
        let p = spec_error_path(serde_json::json!({"ociVersion": "1.0.2",
            "hooks": {"prestart": [{"args": ["x"]}]}}));
        assert_eq!(p, "hooks.prestart[0]");
    }

    #[test]
    fn keys_with_escapes_and_top_level() {
        let text = br#"{"a\"b": [1, {"c": x}]}"#;
        let e = serde_json::from_slice::<serde_json::Value>(text).unwrap_err();
        assert_eq!(path_at(text, e.line(), e.column(), false), "a\"b[1].c");
        assert_eq!(path_at(b"", 1, 0, false), ".");
    }
}
