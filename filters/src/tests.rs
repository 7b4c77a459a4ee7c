use super::*;
use std::collections::HashMap;

/// A snapshot-like item: plain fields plus labels.
struct Item {
    name: &'static str,
    labels: HashMap<String, String>,
}

impl Fields for Item {
    fn field(&self, path: &[String]) -> Option<String> {
        match path.first().map(String::as_str) {
            Some("name") if path.len() == 1 => Some(self.name.to_owned()),
            Some("labels") => label_field(&self.labels, &path[1..]),
            _ => None,
        }
    }
}

fn item() -> Item {
    Item {
        name: "default/12/sha256:abc",
        labels: [
            ("containerd.io/gc.root", "2024"),
            ("a.b", "c"),
            ("kind", "layer"),
            ("empty", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    }
}

fn check(filters: &[&str]) -> bool {
    Filter::parse_all(filters)
        .unwrap_or_else(|e| panic!("{filters:?}: {e}"))
        .matches(&item())
}

fn syntax_offset(filter: &str) -> usize {
    match Filter::parse_all(&[filter]) {
        Err(Error::Syntax { offset, .. }) => offset,
        other => panic!("{filter:?}: expected a syntax error, got {other:?}"),
    }
}

#[test]
fn no_filters_and_empty_filters_match_everything() {
    assert!(check(&[]));
    assert!(check(&[""]));
    assert!(check(&["name==other", ""]));
}

#[test]
fn quoted_label_keys_with_dots_and_slashes() {
    assert!(check(&[r#"labels."a.b"==c"#]));
    assert!(check(&["labels.a.b==c"]));
    assert!(!check(&[r#"labels."a.b"==d"#]));
    assert!(check(&[r#"labels."containerd.io/gc.root""#]));
    assert!(check(&[r#"labels."containerd.io/gc.root"=="2024""#]));
    assert!(!check(&["labels.missing"]));
    assert!(check(&["labels.empty"]));
}

#[test]
fn operators_follow_containerd_for_absent_fields() {
    assert!(check(&["labels.kind!=config"]));
    assert!(!check(&["labels.kind!=layer"]));
    // Absent fields read as "" for != and ~=, and never equal anything.
    assert!(check(&["labels.missing!=x"]));
    assert!(!check(&[r#"labels.missing!="""#]));
    assert!(!check(&["labels.missing==x"]));
    assert!(check(&["labels.missing~=^$"]));
}

#[test]
fn regex_values_plain_and_in_slash_or_bar_quotes() {
    assert!(check(&["name~=^default/12/"]));
    assert!(check(&["name~=/^default\\/[0-9]+\\//"]));
    assert!(check(&[r"name~=|sha256:\w+$|"]));
    assert!(!check(&["name~=^other"]));
    assert!(check(&[r"labels.kind~=/^l\.?ayer$/"]));
}

#[test]
fn commas_join_selectors_and_the_list_is_a_disjunction() {
    assert!(check(&["labels.kind==layer,name~=abc"]));
    assert!(check(&["labels.kind==layer , name~=abc"]));
    assert!(!check(&["labels.kind==layer,name==x"]));
    assert!(check(&["labels.kind==config", "labels.kind==\"layer\""]));
    assert!(!check(&["labels.kind==config", "name==x"]));
}

#[test]
fn go_escapes_in_quoted_strings() {
    let sels = parse_one(r#""a\"b\\c\x41\u00e9\101\n"==v"#)
        .unwrap()
        .unwrap();
    assert_eq!(sels[0].path, vec!["a\"b\\cAéA\n".to_owned()]);
    let sels = parse_one(r"f==|x\|y|").unwrap().unwrap();
    assert!(matches!(&sels[0].op, Op::Equal(v) if v == "x|y"));
}

#[test]
fn malformed_filters_name_the_filter_and_offset() {
    assert_eq!(syntax_offset("==x"), 0);
    assert_eq!(syntax_offset("name=="), 6);
    assert_eq!(syntax_offset("name=x"), 4);
    assert_eq!(syntax_offset("a b"), 2);
    assert_eq!(syntax_offset("a==b c"), 5);
    assert_eq!(syntax_offset("name,"), 5);
    assert_eq!(syntax_offset(r#"labels."open"#), 7);
    assert_eq!(syntax_offset(r#"labels."bad\q""#), 11);
    assert_eq!(syntax_offset(r#"labels."\x4""#), 8);
    let e = Filter::parse_all(&["name!x"]).unwrap_err().to_string();
    assert!(
        e.contains(r#"filter "name!x""#) && e.contains("operator"),
        "{e}"
    );
}

#[test]
fn bad_regex_is_its_own_error() {
    let e = Filter::parse_all(&["name~=("]).unwrap_err();
    assert!(
        matches!(&e, Error::Regex { pattern, .. } if pattern == "("),
        "{e}"
    );
    assert!(e.to_string().contains("regular expression"), "{e}");
}
