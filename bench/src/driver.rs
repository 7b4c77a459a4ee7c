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
    fork: bool,
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
            fork: false,
        })
    }

    /// This driver, but spawning with a real fork instead of vfork. ru_maxrss keeps the
    /// high-water mark of the memory the child had before execve; after vfork that is the
    /// whole harness, after fork only the few anonymous pages it copied. Used for peak RSS.
    pub fn forking(mut self) -> Driver {
        self.fork = true;
        self
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
        if self.fork {
            use std::os::unix::process::CommandExt;
            // SAFETY: the hook does nothing, so it is async-signal-safe; its presence makes
            // std fork instead of vfork/posix_spawn.
            unsafe { c.pre_exec(|| Ok(())) };
        }
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

/// ru_maxrss of a static busybox `true` spawned with fork: the floor under every peak-RSS
/// figure (what the forked child brings along before execve, plus a minimal process).
pub fn rss_floor_kib() -> Result<u64> {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new("/bin/busybox");
    c.arg("true").stdin(Stdio::null());
    // SAFETY: as in Driver::call, an empty hook only forces fork.
    unsafe { c.pre_exec(|| Ok(())) };
    let child = c.spawn().map_err(|source| BenchError::Spawn {
        cmd: "/bin/busybox true".into(),
        source,
    })?;
    Ok(sys::wait4(child.id())?.maxrss_kib)
}
