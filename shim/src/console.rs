//! Terminals: a console socket the runtime sends the pty master to, and the copies between the
//! master and containerd's fifos (one small thread each way).

use crate::error::{io, Error, Result};
use crate::stdio::{self, COPY_STACK};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use std::fs::File;
use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

/// A listening console socket at a short private path, removed on drop.
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    /// Binds a fresh console socket.
    pub fn new() -> Result<ConsoleSocket> {
        static N: AtomicU32 = AtomicU32::new(0);
        // Straight in the shim's root, which stays: a shared subdirectory could only be removed
        // racing another shim that is about to bind in it.
        let dir = PathBuf::from(crate::options::DEFAULT_ROOT);
        std::fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
        let path = dir.join(format!(
            "pty-{}-{}.sock",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(io(format!("bind {}", path.display())))?;
        Ok(ConsoleSocket { listener, path })
    }

    /// The path to pass as `--console-socket`.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Receives the pty master the runtime sent (it already exited successfully).
    pub fn receive(&self) -> Result<File> {
        self.listener
            .set_nonblocking(true)
            .map_err(io("console socket"))?;
        let (conn, _) = self
            .listener
            .accept()
            .map_err(io("accept console socket"))?;
        conn.set_nonblocking(false).map_err(io("console socket"))?;
        let mut buf = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .map_err(|e| io("receive pty master")(e.into()))?;
        for c in msg
            .cmsgs()
            .map_err(|e| io("receive pty master")(e.into()))?
        {
            if let ControlMessageOwned::ScmRights(fds) = c {
                if let Some(fd) = fds.first() {
                    // SAFETY: the kernel just installed this fd for us via SCM_RIGHTS.
                    return Ok(File::from(unsafe { OwnedFd::from_raw_fd(*fd) }));
                }
            }
        }
        Err(Error::FailedPrecondition(
            "runtime sent no pty master on the console socket".into(),
        ))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Copies master → stdout fifo and stdin fifo → master. The receiver fires when output is
/// drained (the process and every holder of the slave are gone); the hold keeps stdin open.
pub fn start_copy(
    master: &File,
    stdin: &str,
    stdout: &str,
) -> Result<(Receiver<()>, Option<stdio::Stdin>)> {
    let (done_tx, done_rx) = channel();
    let out = stdio::open_output(stdout)?;
    let mut src = master.try_clone().map_err(io("dup pty master"))?;
    std::thread::Builder::new()
        .stack_size(COPY_STACK)
        .spawn(move || {
            let mut dst = out.map(File::from);
            let mut buf = [0u8; 8192];
            loop {
                match src.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if let Some(d) = dst.as_mut() {
                            if d.write_all(&buf[..n]).is_ok() {
                                continue;
                            }
                        }
                        dst = None;
                    }
                }
            }
            let _ = done_tx.send(());
        })
        .map_err(io("spawn pty copy"))?;
    let hold = match stdio::Stdin::open(stdin)? {
        Some((fifo, hold)) => {
            let dst = master.try_clone().map_err(io("dup pty master"))?;
            stdio::copy_stdin(fifo, dst)?;
            Some(hold)
        }
        None => None,
    };
    Ok((done_rx, hold))
}

/// Waits (bounded) for a terminal's output to drain before its exit is reported.
pub fn wait_drained(done: &Receiver<()>) {
    let _ = done.recv_timeout(Duration::from_secs(5));
}

/// Sets the terminal size on the pty master.
pub fn resize(master: &File, width: u32, height: u32) -> Result<()> {
    let ws = libc::winsize {
        ws_row: height as u16,
        ws_col: width as u16,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct we own from a valid pointer.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
        return Err(io("resize pty")(std::io::Error::last_os_error()));
    }
    Ok(())
}
