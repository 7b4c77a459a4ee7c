//! Drives one runtime's runc CLI with a private `--root`, timing each call and taking its
//! peak RSS from wait4.

use crate::error::{BenchError, Result};
use crate::runtime::Runtime;
use crate::sys;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One measured call (or sequence of calls): wall time and the largest ru_maxrss seen.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Wall-clock time from spawn to reap.
    pub wall: Duration,
    /// Peak RSS of the runtime process in KiB.
    pub maxrss_kib: u64,
}

impl Sample {
    /// Sequential composition: times add up, the peak is the larger one.
    pub fn then(self, other: Sample) -> Sample {
        Sample {
            wall: self.wall + other.wall,
            maxrss_kib: self.maxrss_kib.max(other.maxrss_kib),
        }
    }
}

/// A runtime plus its private state root and stderr log.
pub struct Driver {
    /// The runtime driven.
    pub rt: Runtime,
    root: PathBuf,
    log_path: PathBuf,
    log: File,
}

impl Driver {
    /// A driver whose `--root` is `root` and whose stderr goes to `log_path`.
    pub fn new(rt: Runtime, root: PathBuf, log_path: PathBuf) -> Result<Driver> {
        std::fs::create_dir_all(&root).map_err(BenchError::io(&root))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&log_path)
            .map_err(BenchError::io(&log_path))?;
        Ok(Driver {
            rt,
            root,
            log_path,
            log,
        })
    }

    /// The private state root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn command(&self, args: &[&str]) -> Result<Command> {
        let mut c = Command::new(&self.rt.path);
        c.arg("--root").arg(&self.root).args(args);
        // The container inherits these; a pipe would keep the harness waiting on it.
        c.stdin(Stdio::null()).stdout(Stdio::null());
        let err = self
            .log
            .try_clone()
            .map_err(BenchError::io(&self.log_path))?;
        c.stderr(err);
        Ok(c)
    }

    fn describe(&self, args: &[&str]) -> String {
        format!("{} {}", self.rt.name, args.join(" "))
    }

    /// Runs `<runtime> --root R args…` to its end; fails unless it exits 0.
    pub fn call(&self, args: &[&str]) -> Result<Sample> {
        let mut c = self.command(args)?;
        let start = Instant::now();
        let child = c.spawn().map_err(|source| BenchError::Spawn {
            cmd: self.describe(args),
            source,
        })?;
        let reaped = sys::wait4(child.id())?;
        let wall = start.elapsed();
        if reaped.code != 0 {
            return Err(BenchError::Failed {
                cmd: self.describe(args),
                code: reaped.code,
                stderr: self.log_tail(),
            });
        }
        Ok(Sample {
            wall,
            maxrss_kib: reaped.maxrss_kib,
        })
    }

    /// Like [`Driver::call`] but ignores the outcome (cleanup paths).
    pub fn call_quietly(&self, args: &[&str]) {
        if let Ok(mut c) = self.command(args) {
            let _ = c.status();
        }
    }

    /// create + start + delete -f of a fresh container from `bundle`.
    pub fn lifecycle(&self, bundle: &Path, id: &str) -> Result<Sample> {
        let b = bundle.to_str().unwrap_or_default();
        let s = self.call(&["create", "--bundle", b, id])?;
        let s = match self.call(&["start", id]) {
            Ok(t) => s.then(t),
            Err(e) => {
                self.call_quietly(&["delete", "--force", id]);
                return Err(e);
            }
        };
        Ok(s.then(self.call(&["delete", "--force", id])?))
    }

    /// The last lines the runtime wrote to stderr (for error messages).
    fn log_tail(&self) -> String {
        let mut f = &self.log;
        let len = f.seek(SeekFrom::End(0)).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(600)));
        let mut s = String::new();
        let _ = f.read_to_string(&mut s);
        s.trim().to_owned()
    }
}
