//! Tables, sizes and ages as docker prints them.

use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

/// Prints rows under a header, columns padded to their widest cell plus three spaces.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let n = cells.len();
        let mut s = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            if i + 1 == n {
                s.push_str(&c);
            } else {
                s.push_str(&format!("{c:<w$}", w = width[i] + 3));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        out.push_str(&line(r.clone()));
    }
    out
}

/// A size in docker's units (powers of 1000, three significant digits).
pub fn size(bytes: i64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes.max(0) as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    let digits = if v >= 100.0 || i == 0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.digits$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    format!("{s}{}", units[i])
}

/// "5 seconds ago" style age of a unix time.
pub fn ago(unix: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let d = (now - unix).max(0);
    let (n, unit) = match d {
        0 => return "Less than a second ago".into(),
        1..=59 => (d, "second"),
        60..=3599 => (d / 60, "minute"),
        3600..=86399 => (d / 3600, "hour"),
        86400..=1209599 => (d / 86400, "day"),
        1209600..=4838399 => (d / 604800, "week"),
        4838400..=31535999 => (d / 2419200, "month"),
        _ => (d / 31536000, "year"),
    };
    let unit = if n == 1 {
        match unit {
            "hour" => return "About an hour ago".into(),
            "minute" => return "About a minute ago".into(),
            u => format!("{n} {u}"),
        }
    } else {
        format!("{n} {unit}s")
    };
    format!("{unit} ago")
}

/// The first 12 hex digits of an id (without `sha256:`).
pub fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// A string field of a JSON object ("" when missing).
pub fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// Quotes and truncates a command as `docker ps` does.
pub fn command(cmd: &str) -> String {
    let c: String = if cmd.chars().count() > 20 {
        cmd.chars().take(19).collect::<String>() + "…"
    } else {
        cmd.to_owned()
    };
    format!("\"{c}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_three_significant_digits() {
        assert_eq!(size(0), "0B");
        assert_eq!(size(999), "999B");
        assert_eq!(size(4_261_000), "4.26MB");
        assert_eq!(size(12_300_000), "12.3MB");
        assert_eq!(size(1_000_000), "1MB");
    }

    #[test]
    fn tables_pad_columns_to_the_widest_cell() {
        let t = table(
            &["A", "BB"],
            &[
                vec!["xyz".into(), "1".into()],
                vec!["q".into(), "22".into()],
            ],
        );
        assert_eq!(t, "A     BB\nxyz   1\nq     22\n");
    }
}
