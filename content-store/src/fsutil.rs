//! The file-system primitives durability rests on; every fsync and flock of the crate is here.

use crate::error::{IoContext, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Starts writing `len` bytes of `file` from `offset` back to disk without waiting for them,
/// so the fsync at commit finds most of a large blob already written instead of starting the
/// whole writeback then. Only a hint: errors are left for that fsync to report.
pub fn start_writeback(file: &File, offset: u64, len: u64) {
    // SAFETY: sync_file_range only reads its integer arguments; the fd is open for the call.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

/// Flushes a directory's entries (a rename or unlink in it) to disk.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).ctx("open directory", dir)?;
    d.sync_all().ctx("fsync directory", dir)
}

/// Replaces `path` with `data` so that a reader sees the old or the new content, never a mix,
/// even across a crash: temp file in the same directory, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    // Unique per call too: threads of one process (the gRPC service, dm-registry) may replace
    // the same file at once.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{seq}.tmp", std::process::id()));
    let write = || -> Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)
            .ctx("create", &tmp)?;
        f.write_all(data).ctx("write", &tmp)?;
        f.sync_all().ctx("fsync", &tmp)?;
        fs::rename(&tmp, path).ctx("rename into place", path)
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fsync_dir(dir)
}

/// Removes a file; a file already gone is fine.
pub fn remove_if_exists(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).ctx("remove", path),
    }
}

/// Reads exactly `buf.len()` bytes at `offset` unless the file ends first; returns the count.
pub fn read_full_at(f: &File, buf: &mut [u8], offset: u64, path: &Path) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).ctx("read", path),
        }
    }
    Ok(n)
}

/// An exclusive, non-blocking advisory lock on a file, held until drop (or process death).
pub struct FileLock(#[allow(dead_code)] File);

impl FileLock {
    /// Takes the lock on `path` (created if missing); `Ok(None)` when another process holds it.
    pub fn try_acquire(path: &Path) -> Result<Option<FileLock>> {
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .ctx("open lock file", path)?;
        // SAFETY: flock on a valid, owned descriptor; no memory is involved.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(Some(FileLock(f)));
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Ok(None);
        }
        Err(e).ctx("flock", path)
    }
}
