//! The json-file log driver: `HostConfig.LogConfig` checked as dockerd checks it, lines
//! appended as `{"log":..,"stream":..,"time":..}`, rotation by `max-size`/`max-file`
//! (`<log>.1` is the newest rotated file), and reading across the rotated files in order.

use crate::error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// `HostConfig.LogConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    /// The driver (`""` means json-file).
    #[serde(rename = "Type")]
    pub kind: String,
    /// Driver options (`--log-opt`).
    pub config: BTreeMap<String, String>,
}

/// The options json-file accepts (the rest of docker's are accepted and have no effect here).
const KNOWN: &[&str] = &[
    "max-size",
    "max-file",
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
];

/// Rotation settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate once the file holds this many bytes (None: never).
    pub max_size: Option<u64>,
    /// Files kept, the current one included.
    pub max_file: u32,
}

/// docker's size syntax (`10m`, `512k`, `1g`, `100`; binary units).
fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1u64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        't' => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.trim().parse().ok().filter(|n: &f64| *n >= 0.0)?;
    Some((n * mult as f64) as u64)
}

/// Checks a container's log config (over the daemon's `--log-opt` defaults) and returns its
/// rotation; errors carry dockerd's messages.
pub fn rotation(
    cfg: Option<&LogConfig>,
    defaults: &BTreeMap<String, String>,
) -> ApiResult<Rotation> {
    let kind = cfg.map_or("", |c| c.kind.as_str());
    if !matches!(kind, "" | "json-file") {
        return Err(ApiError::bad(format!(
            "logger: no log driver named '{kind}' is registered"
        )));
    }
    let mut opts = defaults.clone();
    opts.extend(cfg.map(|c| c.config.clone()).unwrap_or_default());
    for k in opts.keys() {
        if !KNOWN.contains(&k.as_str()) {
            return Err(ApiError::bad(format!(
                "unknown log opt '{k}' for json-file log driver"
            )));
        }
    }
    let max_size = match opts.get("max-size").filter(|v| !v.is_empty()) {
        Some(v) => Some(parse_size(v).filter(|n| *n > 0).ok_or_else(|| {
            ApiError::bad(format!("invalid max-size for json-file log driver: {v}"))
        })?),
        None => None,
    };
    let max_file = match opts.get("max-file").filter(|v| !v.is_empty()) {
        Some(v) => {
            let n: i64 = v.parse().map_err(|_| {
                ApiError::bad(format!("invalid max-file for json-file log driver: {v}"))
            })?;
            if n < 1 {
                return Err(ApiError::bad("max-file cannot be less than 1"));
            }
            n as u32
        }
        None => 1,
    };
    if max_file > 1 && max_size.is_none() {
        return Err(ApiError::bad(
            "max-file cannot be greater than 1 when max-size is not set",
        ));
    }
    if let Some(v) = opts.get("compress") {
        match v.as_str() {
            "" | "false" | "0" => {}
            "true" | "1" => {
                return Err(ApiError::bad(
                    "compress=true is not supported by dockermind's json-file log driver",
                ))
            }
            _ => return Err(ApiError::bad(format!("invalid value for compress: {v}"))),
        }
    }
    Ok(Rotation { max_size, max_file })
}

/// Daemon-wide `--log-opt KEY=VALUE` defaults.
pub fn parse_defaults(opts: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for o in opts {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--log-opt {o:?}: want KEY=VALUE"))?;
        out.insert(k.to_owned(), v.to_owned());
    }
    rotation(None, &out).map_err(|e| anyhow::anyhow!("--log-opt: {}", e.message))?;
    Ok(out)
}

/// `<log>.<n>`.
fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

struct Open {
    file: std::fs::File,
    size: u64,
}

/// Appends docker json-file lines, rotating as configured.
pub struct JsonLog {
    path: PathBuf,
    rot: Rotation,
    open: Mutex<Open>,
}

impl JsonLog {
    /// Opens (creating) the log file for appending.
    pub fn open(path: &Path, rot: Rotation) -> std::io::Result<Arc<JsonLog>> {
        let file = Self::append(path)?;
        let size = file.metadata()?.len();
        Ok(Arc::new(JsonLog {
            path: path.to_owned(),
            rot,
            open: Mutex::new(Open { file, size }),
        }))
    }

    fn append(path: &Path) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    }

    /// Shifts `<log>` to `<log>.1` (and older ones up, dropping the oldest); with one file,
    /// starts it over.
    fn rotate(&self, o: &mut Open) -> std::io::Result<()> {
        let keep = self.rot.max_file;
        if keep > 1 {
            let _ = std::fs::remove_file(rotated(&self.path, keep - 1));
            for n in (1..keep - 1).rev() {
                let _ = std::fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1));
            }
            std::fs::rename(&self.path, rotated(&self.path, 1))?;
        } else {
            std::fs::remove_file(&self.path)?;
        }
        o.file = Self::append(&self.path)?;
        o.size = 0;
        Ok(())
    }

    /// Writes one entry (rotating first when the file is full, as dockerd does).
    pub fn write(&self, stream: &str, line: &[u8]) {
        let entry = serde_json::json!({
            "log": String::from_utf8_lossy(line),
            "stream": stream,
            "time": crate::record::now_rfc3339(),
        });
        let mut b = serde_json::to_vec(&entry).unwrap_or_default();
        b.push(b'\n');
        let Ok(mut o) = self.open.lock() else { return };
        if self.rot.max_size.is_some_and(|m| o.size >= m) {
            if let Err(e) = self.rotate(&mut o) {
                eprintln!("dockermindd: rotate {}: {e}", self.path.display());
            }
        }
        // A full disk loses log lines, never the container's output to attached clients.
        if o.file.write_all(&b).is_ok() {
            o.size += b.len() as u64;
        }
    }
}

/// The entries of a json-file log and its rotated files, oldest first, as (stream, bytes, time).
pub fn read(path: &Path) -> Vec<(u8, Vec<u8>, String)> {
    let mut files: Vec<PathBuf> = (1..)
        .map(|n| rotated(path, n))
        .take_while(|p| p.exists())
        .collect();
    files.reverse();
    files.push(path.to_owned());
    files
        .iter()
        .flat_map(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            text.lines()
                .filter_map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).ok()?;
                    let stream = if v["stream"] == "stderr" {
                        crate::stdio::STDERR
                    } else {
                        crate::stdio::STDOUT
                    };
                    Some((
                        stream,
                        v["log"].as_str()?.as_bytes().to_vec(),
                        v["time"].as_str().unwrap_or_default().to_owned(),
                    ))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(kind: &str, opts: &[(&str, &str)]) -> LogConfig {
        LogConfig {
            kind: kind.into(),
            config: opts
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        }
    }

    #[test]
    fn log_configs_are_checked_like_dockerd() {
        let none = BTreeMap::new();
        let r = rotation(
            Some(&cfg("json-file", &[("max-size", "1k"), ("max-file", "3")])),
            &none,
        );
        assert_eq!(
            r.unwrap(),
            Rotation {
                max_size: Some(1024),
                max_file: 3
            }
        );
        let msg = |c: LogConfig| rotation(Some(&c), &none).unwrap_err().message;
        assert_eq!(
            msg(cfg("syslog", &[])),
            "logger: no log driver named 'syslog' is registered"
        );
        assert_eq!(
            msg(cfg("", &[("bogus", "1")])),
            "unknown log opt 'bogus' for json-file log driver"
        );
        assert!(msg(cfg("", &[("max-file", "0")])).contains("less than 1"));
        assert!(msg(cfg("", &[("max-file", "2")])).contains("max-size is not set"));
        assert!(msg(cfg("", &[("max-size", "lots")])).contains("max-size"));
        assert_eq!(parse_size("10m"), Some(10 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("2kb"), Some(2048));
    }

    #[test]
    fn rotation_keeps_max_file_files_and_reads_back_in_order() {
        let dir = std::env::temp_dir().join(format!("dm-jsonlog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c-json.log");
        let rot = Rotation {
            max_size: Some(300),
            max_file: 3,
        };
        let log = JsonLog::open(&path, rot).unwrap();
        for i in 0..40 {
            log.write("stdout", format!("line {i}\n").as_bytes());
        }
        assert!(path.exists() && rotated(&path, 1).exists() && rotated(&path, 2).exists());
        assert!(!rotated(&path, 3).exists());
        let got: Vec<String> = read(&path)
            .into_iter()
            .map(|(_, b, _)| String::from_utf8(b).unwrap())
            .collect();
        assert_eq!(got.last().unwrap(), "line 39\n");
        let first: usize = got[0].trim().trim_start_matches("line ").parse().unwrap();
        let want: Vec<String> = (first..40).map(|i| format!("line {i}\n")).collect();
        assert_eq!(got, want, "the retained tail, in order");
        assert!(first > 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
