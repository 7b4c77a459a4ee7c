//! Learning about OOM kills without threads: a pollable fd plus a non-blocking check.
//!
//! v1: an eventfd registered for memory.oom_control through cgroup.event_control (it fires
//! when the group hits OOM), with the `oom_kill` counter of memory.oom_control as the count.
//! v2: inotify on memory.events (the kernel notifies modifications) and its `oom_kill` counter.

use crate::error::{io, Result};
use crate::stats::key_values;
use crate::sys::{self, CgroupFs, HostFs};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// Watches one container cgroup for OOM kills.
#[derive(Debug)]
pub struct OomWatcher {
    /// Becomes readable when something happened (eventfd on v1, inotify on v2).
    fd: OwnedFd,
    /// Keeps memory.oom_control open for the v1 registration's lifetime.
    _control: Option<OwnedFd>,
    /// The file holding the `oom_kill` counter.
    counter: PathBuf,
    /// Whether the fd is an eventfd (v1) or inotify (v2), for draining it.
    eventfd: bool,
    last: u64,
}

impl OomWatcher {
    /// Registers for OOM notifications on a v1 memory cgroup directory.
    pub fn v1(dir: &Path) -> Result<OomWatcher> {
        let counter = dir.join("memory.oom_control");
        let efd = sys::eventfd().map_err(|e| io(dir, e))?;
        let control = sys::open_read(&counter).map_err(|e| io(&counter, e))?;
        let reg = format!("{} {}", efd.as_raw_fd(), control.as_raw_fd());
        let ctl = dir.join("cgroup.event_control");
        HostFs.write(&ctl, &reg).map_err(|e| io(&ctl, e))?;
        let last = oom_kills(&counter);
        Ok(OomWatcher {
            fd: efd,
            _control: Some(control),
            counter,
            eventfd: true,
            last,
        })
    }

    /// Watches a v2 cgroup directory's memory.events.
    pub fn v2(dir: &Path) -> Result<OomWatcher> {
        let counter = dir.join("memory.events");
        let fd = sys::inotify_modify(&counter).map_err(|e| io(&counter, e))?;
        let last = oom_kills(&counter);
        Ok(OomWatcher {
            fd,
            _control: None,
            counter,
            eventfd: false,
            last,
        })
    }

    /// Number of OOM kills since the previous check (or since the watcher was made); never
    /// blocks. Call it when [`AsRawFd::as_raw_fd`] polls readable, or on any schedule.
    pub fn check(&mut self) -> Result<u64> {
        let signalled = if self.eventfd {
            sys::eventfd_take(self.fd.as_raw_fd()).map_err(|e| io(&self.counter, e))?
        } else {
            sys::inotify_drain(self.fd.as_raw_fd());
            0
        };
        if !HostFs.exists(&self.counter) {
            // v1 signals the eventfd when the cgroup is removed; that is not an OOM.
            return Ok(0);
        }
        let now = oom_kills(&self.counter);
        let new = now.saturating_sub(self.last);
        self.last = now;
        // Kernels without the oom_kill counter: count v1 notifications instead.
        if new == 0 && self.eventfd && !has_counter(&self.counter) {
            return Ok(signalled);
        }
        Ok(new)
    }
}

impl AsRawFd for OomWatcher {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

fn read(path: &Path) -> String {
    HostFs.read(path).unwrap_or_default()
}

fn oom_kills(path: &Path) -> u64 {
    key_values(&read(path))
        .get("oom_kill")
        .copied()
        .unwrap_or(0)
}

fn has_counter(path: &Path) -> bool {
    key_values(&read(path)).contains_key("oom_kill")
}
