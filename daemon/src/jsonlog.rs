//! The json-file log driver: `HostConfig.LogConfig` checked as dockerd checks it, lines
//! appended as `{"log":..,"stream":..,"time":..}`, rotation by `max-size`/`max-file`
//! (`<log>.1` is the newest rotated file; `<log>.1.gz` with `compress=true`, gzipped off the
//! writer's path as dockerd does), and reading across the rotated files in order.

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
    /// Rotated files are gzipped (`compress=true`).
    pub compress: bool,
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
    let compress = match opts.get("compress").map(String::as_str) {
        None => false,
        // Go's strconv.ParseBool, which dockerd uses.
        Some("1" | "t" | "T" | "TRUE" | "true" | "True") => true,
        Some("0" | "f" | "F" | "FALSE" | "false" | "False") => false,
        Some(v) => {
            return Err(ApiError::bad(format!(
                "strconv.ParseBool: parsing {v:?}: invalid syntax"
            )))
        }
    };
    if compress && (max_file == 1 || max_size.is_none()) {
        return Err(ApiError::bad(
            "compress cannot be true when max-file is less than 2 or max-size is not set",
        ));
    }
    Ok(Rotation {
        max_size,
        max_file,
        compress,
    })
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

/// `<log><suffix>`.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `<log>.<n>`.
fn rotated(path: &Path, n: u32) -> PathBuf {
    with_suffix(path, &format!(".{n}"))
}

/// `<log>.<n>.gz`.
fn rotated_gz(path: &Path, n: u32) -> PathBuf {
    with_suffix(path, &format!(".{n}.gz"))
}

/// Gzips `src` into `<src>.gz` (through a temporary name, so a reader sees the whole file or
/// none) and removes `src`.
fn gzip(src: &Path) -> std::io::Result<()> {
    let dst = with_suffix(src, ".gz");
    let tmp = with_suffix(src, ".gz.tmp");
    let mut r = std::fs::File::open(src)?;
    let mut w =
        flate2::write::GzEncoder::new(std::fs::File::create(&tmp)?, flate2::Compression::default());
    std::io::copy(&mut r, &mut w)?;
    w.finish()?.sync_all()?;
    std::fs::rename(&tmp, &dst)?;
    std::fs::remove_file(src)
}

struct Open {
    file: std::fs::File,
    size: u64,
    /// The compression of the last rotated file, still running.
    gzipping: Option<std::thread::JoinHandle<()>>,
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
            open: Mutex::new(Open {
                file,
                size,
                gzipping: None,
            }),
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
        // One compression at a time: `<log>.1` must be `<log>.1.gz` before it moves up.
        if let Some(h) = o.gzipping.take() {
            let _ = h.join();
        }
        if keep > 1 {
            let name = if self.rot.compress {
                rotated_gz
            } else {
                rotated
            };
            let _ = std::fs::remove_file(name(&self.path, keep - 1));
            for n in (1..keep - 1).rev() {
                let _ = std::fs::rename(name(&self.path, n), name(&self.path, n + 1));
            }
            let first = rotated(&self.path, 1);
            std::fs::rename(&self.path, &first)?;
            if self.rot.compress {
                // Off the writer's path: the container's output keeps flowing meanwhile.
                o.gzipping = Some(std::thread::spawn(move || {
                    if let Err(e) = gzip(&first) {
                        eprintln!("dockermindd: compress {}: {e}", first.display());
                    }
                }));
            }
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

/// The text of rotated file `n`, gzipped or not (its compression may finish meanwhile).
fn read_rotated(path: &Path, n: u32) -> Option<String> {
    let gz = || {
        let f = std::fs::File::open(rotated_gz(path, n)).ok()?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(f), &mut text).ok()?;
        Some(text)
    };
    gz().or_else(|| std::fs::read_to_string(rotated(path, n)).ok())
        .or_else(gz)
}

/// The entries of a json-file log and its rotated files, oldest first, as (stream, bytes, time).
pub fn read(path: &Path) -> Vec<(u8, Vec<u8>, String)> {
    let mut texts: Vec<String> = (1..).map_while(|n| read_rotated(path, n)).collect();
    texts.reverse();
    texts.push(std::fs::read_to_string(path).unwrap_or_default());
    texts
        .iter()
        .flat_map(|text| {
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
                max_file: 3,
                compress: false,
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
        assert_eq!(
            msg(cfg("", &[("max-size", "1k"), ("compress", "true")])),
            "compress cannot be true when max-file is less than 2 or max-size is not set"
        );
        assert_eq!(
            msg(cfg("", &[("compress", "yes")])),
            "strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
        assert_eq!(parse_size("10m"), Some(10 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("2kb"), Some(2048));
    }

    #[test]
    fn rotation_keeps_max_file_files_and_reads_back_in_order() {
        rotate_and_read_back(false);
    }

    #[test]
    fn compressed_rotation_gzips_and_reads_back_in_order() {
        rotate_and_read_back(true);
    }

    fn rotate_and_read_back(compress: bool) {
        let dir =
            std::env::temp_dir().join(format!("dm-jsonlog-{}-{compress}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c-json.log");
        let rot = Rotation {
            max_size: Some(300),
            max_file: 3,
            compress,
        };
        let log = JsonLog::open(&path, rot).unwrap();
        for i in 0..40 {
            log.write("stdout", format!("line {i}\n").as_bytes());
        }
        if let Some(h) = log.open.lock().unwrap().gzipping.take() {
            h.join().unwrap();
        }
        let name = if compress { rotated_gz } else { rotated };
        assert!(path.exists() && name(&path, 1).exists() && name(&path, 2).exists());
        assert!(!name(&path, 3).exists() && !rotated_gz(&path, 3).exists());
        if compress {
            assert!(!rotated(&path, 1).exists() && !rotated(&path, 2).exists());
        }
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
