//! The stdio containerd asks for: fifo paths, `file://` and `binary://` log URIs, or none.
//!
//! Output fifos are handed to the container directly (no copy through the shim, which keeps it
//! small), stdin too: the shim holds the stdin fifo open for writing as well, so a client (the
//! daemon) that goes away is not an EOF for the process and a restarted one can write again;
//! CloseIO drops that hold (see [`Stdin`]). Terminals are copied, see console.rs.

use crate::error::{io, Error, Result};
use crate::reaper;
use crate::runtime::ProcStdio;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// The stdio URIs of one process as containerd sends them.
#[derive(Clone, Debug, Default)]
pub struct IoSpec {
    /// stdin fifo path, or empty.
    pub stdin: String,
    /// stdout fifo path or URI, or empty.
    pub stdout: String,
    /// stderr fifo path or URI, or empty.
    pub stderr: String,
    /// Whether the process gets a terminal.
    pub terminal: bool,
}

/// Stack of the threads that copy stdio.
pub const COPY_STACK: usize = 64 * 1024;

/// Opens the fds for a non-terminal process (stdin through a copy into a pipe) and returns
/// the stdin hold too. `ns` and `id` go to a binary:// logger.
pub fn open(spec: &IoSpec, ns: &str, id: &str) -> Result<(ProcStdio, Option<Stdin>)> {
    // The process reads the fifo itself (no copy thread): the hold alone keeps a client's
    // close from being its EOF.
    let (stdin, hold) = match Stdin::open(&spec.stdin)? {
        Some((fifo, hold)) => (Some(OwnedFd::from(fifo)), Some(hold)),
        None => (None, None),
    };
    let (stdout, stderr) = match spec.stdout.strip_prefix("binary://") {
        Some(rest) => {
            let (o, e) = start_logger(rest, ns, id)?;
            (Some(o), Some(e))
        }
        None => (open_output(&spec.stdout)?, open_output(&spec.stderr)?),
    };
    let fds = ProcStdio {
        stdin,
        stdout,
        stderr,
    };
    Ok((fds, hold))
}

/// The shim's own write end of a stdin fifo. While it is held, writers that come and go are
/// never an EOF for the process; dropping it (CloseIO, or the process's delete) lets the last
/// client's close end the copy and so the process's stdin.
pub struct Stdin {
    /// Held only to be closed: on drop.
    _hold: OwnedFd,
}

impl Stdin {
    /// Opens the stdin fifo for reading without waiting for a writer, then the hold.
    pub fn open(path: &str) -> Result<Option<(File, Stdin)>> {
        if path.is_empty() {
            return Ok(None);
        }
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(io(format!("open stdin {path}")))?;
        // A reader exists now, so a non-blocking open for writing succeeds at once.
        let hold = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(io(format!("open stdin {path} for writing")))?;
        clear_nonblock(&f);
        Ok(Some((f, Stdin { _hold: hold.into() })))
    }
}

/// Copies the stdin fifo into `dst` on a thread until EOF (every writer and the hold gone) or
/// until `dst` fails (the process is gone); `dst` is closed then.
pub fn copy_stdin(mut src: File, mut dst: impl Write + Send + 'static) -> Result<()> {
    std::thread::Builder::new()
        .stack_size(COPY_STACK)
        .spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match src.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) if dst.write_all(&buf[..n]).is_ok() => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    _ => break,
                }
            }
        })
        .map_err(io("spawn stdin copy"))?;
    Ok(())
}

/// Opens an output: a fifo (for writing; read-write if nobody reads yet) or a `file://` URI.
pub fn open_output(uri: &str) -> Result<Option<OwnedFd>> {
    if uri.is_empty() {
        return Ok(None);
    }
    if let Some(path) = uri.strip_prefix("file://") {
        if let Some(dir) = std::path::Path::new(path).parent() {
            std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
        }
        let f = OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(io(format!("open log file {path}")))?;
        return Ok(Some(f.into()));
    }
    let path = uri.strip_prefix("fifo://").unwrap_or(uri);
    let f = match OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(io(format!("open output {path}")))?,
        Err(e) => return Err(io(format!("open output {path}"))(e)),
    };
    clear_nonblock(&f);
    Ok(Some(f.into()))
}

fn clear_nonblock(f: &impl AsRawFd) {
    // SAFETY: fcntl on an fd we own; only the O_NONBLOCK status flag changes.
    unsafe {
        let fl = libc::fcntl(f.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(f.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK);
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid 2-element array for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io("pipe")(std::io::Error::last_os_error()));
    }
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Starts a `binary://` logger (containerd's protocol: fd 3 stdout, fd 4 stderr, fd 5 closed
/// when ready; CONTAINER_ID and CONTAINER_NAMESPACE set) and returns the container's ends.
fn start_logger(rest: &str, ns: &str, id: &str) -> Result<(OwnedFd, OwnedFd)> {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "stdout: binary://{rest}: no path"
        )));
    }
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (ready_r, ready_w) = pipe()?;
    let mut cmd = Command::new(path);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        cmd.arg(k);
        if !v.is_empty() {
            cmd.arg(v);
        }
    }
    cmd.env("CONTAINER_ID", id)
        .env("CONTAINER_NAMESPACE", ns)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let fds = [out_r.as_raw_fd(), err_r.as_raw_fd(), ready_w.as_raw_fd()];
    // SAFETY: only dup2 (async-signal-safe) runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            for (i, fd) in fds.iter().enumerate() {
                if libc::dup2(*fd, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let sp = reaper::spawn(&mut cmd).map_err(io(format!("start logger {path}")))?;
    drop((out_r, err_r, ready_w, cmd));
    // The logger closes fd 5 once it is ready to read.
    let mut buf = [0u8; 1];
    let mut f = std::fs::File::from(ready_r);
    let _ = std::io::Read::read(&mut f, &mut buf);
    drop(sp);
    Ok((out_w, err_w))
}
