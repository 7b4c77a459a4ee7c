//! Docker's `filters` query parameter: `{"key":{"value":true}}` or the older
//! `{"key":["value"]}`, checked against the keys an endpoint knows.

use crate::error::{ApiError, ApiResult};
use crate::http::Query;
use serde_json::Value;
use std::collections::BTreeMap;

/// Filter values by key.
#[derive(Debug, Default, Clone)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses `filters` from `q`; a key not in `known` is docker's 400.
    pub fn parse(q: &Query, known: &[&str]) -> ApiResult<Filters> {
        let Some(raw) = q.get("filters").filter(|f| !f.is_empty()) else {
            return Ok(Filters::default());
        };
        let v: Value =
            serde_json::from_str(raw).map_err(|e| ApiError::bad(format!("invalid filter: {e}")))?;
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, vals) in v.as_object().into_iter().flatten() {
            if !known.contains(&k.as_str()) {
                return Err(ApiError::bad(format!("invalid filter '{k}'")));
            }
            let list = out.entry(k.clone()).or_default();
            match vals {
                Value::Object(m) => list.extend(m.keys().cloned()),
                Value::Array(a) => {
                    list.extend(a.iter().filter_map(|x| x.as_str().map(str::to_owned)))
                }
                _ => return Err(ApiError::bad(format!("invalid filter '{k}'"))),
            }
        }
        Ok(Filters(out))
    }

    /// The values given for `key` (none: the key is not filtered on).
    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map_or(&[], Vec::as_slice)
    }

    /// Whether `key` passes: not filtered, or `ok` holds for one of its values.
    pub fn any(&self, key: &str, ok: impl Fn(&str) -> bool) -> bool {
        let v = self.get(key);
        v.is_empty() || v.iter().any(|x| ok(x))
    }

    /// A boolean filter (`dangling=true`), refusing values other than true/false/1/0.
    pub fn boolean(&self, key: &str) -> ApiResult<Option<bool>> {
        match self.get(key).first().map(String::as_str) {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(v) => Err(ApiError::bad(format!(
                "invalid filter '{key}={v}': only true and false are accepted"
            ))),
        }
    }

    /// Whether every `label` filter (`key` or `key=value`) holds for `labels` and no `label!`
    /// one does.
    pub fn labels(&self, labels: &BTreeMap<String, String>) -> bool {
        let has = |spec: &str| {
            let (k, v) = spec
                .split_once('=')
                .map_or((spec, None), |(a, b)| (a, Some(b)));
            labels.get(k).is_some_and(|x| v.is_none_or(|v| v == x))
        };
        self.get("label").iter().all(|s| has(s)) && !self.get("label!").iter().any(|s| has(s))
    }

    /// The `until` filter as seconds since the epoch.
    pub fn until(&self) -> ApiResult<Option<f64>> {
        self.get("until")
            .first()
            .map(|v| {
                parse_time(v).ok_or_else(|| ApiError::bad(format!("invalid filter 'until={v}'")))
            })
            .transpose()
    }
}

/// A time as docker accepts it: `secs[.nanos]`, RFC 3339, or a duration before now (`10m`).
pub fn parse_time(v: &str) -> Option<f64> {
    if let Ok(t) = v.parse::<f64>() {
        return Some(t);
    }
    let since_epoch = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs_f64())
    };
    if let Ok(t) = humantime::parse_rfc3339_weak(v) {
        return since_epoch(t);
    }
    let d = humantime::parse_duration(v).ok()?;
    since_epoch(std::time::SystemTime::now().checked_sub(d)?)
}

/// Seconds since the epoch of a record's RFC 3339 creation time (0 when unreadable).
pub fn created_secs(rfc3339: &str) -> f64 {
    humantime::parse_rfc3339_weak(rfc3339.trim_end_matches('Z'))
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_filter_shapes_parse_and_unknown_keys_are_refused() {
        let q = Query::parse(Some(
            "filters=%7B%22label%22%3A%7B%22a%3D1%22%3Atrue%7D%2C%22dangling%22%3A%5B%22true%22%5D%7D",
        ));
        let f = Filters::parse(&q, &["label", "dangling"]).unwrap();
        assert_eq!(f.boolean("dangling").unwrap(), Some(true));
        let mut l = BTreeMap::new();
        l.insert("a".to_owned(), "1".to_owned());
        assert!(f.labels(&l));
        l.insert("a".to_owned(), "2".to_owned());
        assert!(!f.labels(&l));
        let e = Filters::parse(&q, &["label"]).unwrap_err();
        assert!(
            e.message.contains("invalid filter 'dangling'"),
            "{}",
            e.message
        );
        assert_eq!(parse_time("1700000000.5"), Some(1_700_000_000.5));
        assert!(parse_time("2023-11-14T22:13:20Z").is_some());
        assert!(parse_time("10m").is_some_and(|t| t > 1_700_000_000.0));
        assert!(parse_time("soon").is_none());
    }
}
