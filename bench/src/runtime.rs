//! The runtimes under comparison: which binary, which version, how big.

use crate::error::{BenchError, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One OCI runtime binary with a runc-compatible CLI.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Runtime {
    /// Short name used in tables: dm-runc, crun, runc, youki.
    pub name: String,
    /// The binary.
    pub path: PathBuf,
    /// First line of `<binary> --version`.
    pub version: String,
    /// Size of the binary on disk in bytes.
    pub binary_bytes: u64,
}

impl Runtime {
    /// Describes the runtime at `path`, asking it for its version.
    pub fn probe(name: &str, path: &Path) -> Result<Runtime> {
        let meta = std::fs::metadata(path).map_err(BenchError::io(path))?;
        if !meta.is_file() {
            return Err(BenchError::Input {
                what: format!("runtime {name}"),
                why: format!("{} is not a file", path.display()),
            });
        }
        let out = std::process::Command::new(path)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|source| BenchError::Spawn {
                cmd: format!("{} --version", path.display()),
                source,
            })?;
        let text = String::from_utf8_lossy(&out.stdout);
        let version = text.lines().next().unwrap_or("").trim().to_owned();
        Ok(Runtime {
            name: name.to_owned(),
            path: path.to_owned(),
            version: if version.is_empty() {
                "unknown".into()
            } else {
                version
            },
            binary_bytes: meta.len(),
        })
    }
}

/// Where `cargo build --release -p dm-runtime` puts dm-runc in this workspace.
pub fn default_dm_runc() -> PathBuf {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| ws.join("target"));
    target.join("x86_64-unknown-linux-gnu/release/dm-runc")
}

/// How the caller picked runtimes.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    /// `--dm-runc PATH`, else the workspace's release build when it exists.
    pub dm_runc: Option<PathBuf>,
    /// `--runtime NAME=PATH` entries: add or override a runtime.
    pub extra: Vec<(String, PathBuf)>,
    /// `--only a,b`: keep just these names.
    pub only: Vec<String>,
}

/// Resolves the runtimes to compare, in table order: dm-runc, crun, runc, youki, then extras.
/// Missing optional runtimes are reported in the returned notes, not as errors.
pub fn discover(sel: &Selection) -> Result<(Vec<Runtime>, Vec<String>)> {
    let mut notes = Vec::new();
    let mut wanted: Vec<(String, PathBuf)> = Vec::new();
    let dm = sel.dm_runc.clone().unwrap_or_else(default_dm_runc);
    if dm.exists() {
        wanted.push(("dm-runc".into(), dm));
    } else if sel.dm_runc.is_some() {
        return Err(BenchError::Input {
            what: "--dm-runc".into(),
            why: format!("{} does not exist", dm.display()),
        });
    } else {
        notes.push(format!(
            "dm-runc skipped: {} not built (cargo build --release -p dm-runtime)",
            dm.display()
        ));
    }
    for name in ["crun", "runc", "youki"] {
        match dm_testkit::which(name) {
            Some(p) => wanted.push((name.into(), p)),
            None => notes.push(format!("{name} skipped: not on PATH")),
        }
    }
    for (name, path) in &sel.extra {
        match wanted.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = path.clone(),
            None => wanted.push((name.clone(), path.clone())),
        }
    }
    if !sel.only.is_empty() {
        for o in &sel.only {
            if !wanted.iter().any(|(n, _)| n == o) {
                return Err(BenchError::Input {
                    what: "--only".into(),
                    why: format!("runtime `{o}` is not available"),
                });
            }
        }
        wanted.retain(|(n, _)| sel.only.contains(n));
    }
    let runtimes = wanted
        .iter()
        .map(|(n, p)| Runtime::probe(n, p))
        .collect::<Result<Vec<_>>>()?;
    Ok((runtimes, notes))
}
