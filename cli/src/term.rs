//! Copies a hijacked attach/exec stream to and from the local stdio, and with a terminal puts
//! it in raw mode and forwards its size.
//!
//! One thread: poll(2) waits on the socket, stdin and a signalfd for SIGWINCH together, so
//! no copier threads and no async signal handler are needed.

use dm_cli::mux::{Demux, STDERR};
use dm_cli::Hijacked;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg, Termios};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

/// Raw mode on stdin until dropped.
pub struct RawMode(Option<Termios>);

impl RawMode {
    /// Puts stdin in raw mode when it is a terminal.
    pub fn enter() -> RawMode {
        let fd = io::stdin();
        let Ok(saved) = termios::tcgetattr(fd.as_fd()) else {
            return RawMode(None);
        };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        if termios::tcsetattr(fd.as_fd(), SetArg::TCSANOW, &raw).is_err() {
            return RawMode(None);
        }
        RawMode(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, t);
        }
    }
}

/// The local terminal's size as (rows, columns), if stdout or stdin is one.
pub fn size() -> Option<(u16, u16)> {
    for fd in [libc::STDOUT_FILENO, libc::STDIN_FILENO] {
        let mut ws = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes a winsize into the valid struct we pass.
        if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_row > 0 {
            return Some((ws.ws_row, ws.ws_col));
        }
    }
    None
}

/// Whether stdin is a terminal.
pub fn stdin_is_tty() -> bool {
    // SAFETY: isatty only inspects the fd.
    unsafe { libc::isatty(libc::STDIN_FILENO) == 1 }
}

/// What the copy loop does besides copying.
#[derive(Default)]
pub struct Hooks<'a> {
    /// Called with the terminal size (rows, columns) now and on every SIGWINCH.
    pub resize: Option<&'a mut dyn FnMut(u16, u16)>,
    /// Called with SIGINT, SIGTERM, SIGHUP or SIGQUIT received here, instead of dying of it
    /// (docker's --sig-proxy).
    pub signal: Option<&'a mut dyn FnMut(Signal)>,
}

const PROXIED: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

/// Copies the stream until the remote side ends it. `stdin`: forward local stdin (half-closing
/// the socket at its EOF); `tty`: the stream is raw, else multiplexed.
pub fn pump(h: Hijacked, stdin: bool, tty: bool, mut hooks: Hooks) -> io::Result<()> {
    let mut out = Output::new(tty);
    out.write(&h.pre)?;
    let mut sock = h.stream;
    let mut set = SigSet::empty();
    if let Some(f) = hooks.resize.as_mut() {
        if let Some((r, c)) = size() {
            f(r, c);
        }
        set.add(Signal::SIGWINCH);
    }
    if hooks.signal.is_some() {
        PROXIED.iter().for_each(|s| set.add(*s));
    }
    let sigs = if set.iter().next().is_some() {
        // Blocked so they are only delivered through the signalfd.
        set.thread_block().map_err(io::Error::from)?;
        Some(SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC).map_err(io::Error::from)?)
    } else {
        None
    };
    let mut stdin_open = stdin;
    let mut buf = vec![0u8; 32 << 10];
    loop {
        let sfd = sock.as_fd();
        // SAFETY: fd 0 stays open for the whole process.
        let ifd = unsafe { BorrowedFd::borrow_raw(libc::STDIN_FILENO) };
        let mut fds = vec![PollFd::new(sfd, PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(ifd, PollFlags::POLLIN));
        }
        if let Some(w) = &sigs {
            fds.push(PollFd::new(w.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        let ready = |f: &PollFd| {
            f.revents().is_some_and(|r| {
                r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
            })
        };
        let sock_ready = ready(&fds[0]);
        let in_ready = stdin_open && ready(&fds[1]);
        let sig_ready = sigs.is_some() && ready(&fds[fds.len() - 1]);
        drop(fds);
        if sock_ready {
            let n = sock.read(&mut buf)?;
            if n == 0 {
                break;
            }
            out.write(&buf[..n])?;
        }
        if in_ready {
            let n = nix::unistd::read(libc::STDIN_FILENO, &mut buf).unwrap_or(0);
            if n == 0 {
                stdin_open = false;
                // The container sees EOF on its stdin; its output still comes back.
                let _ = sock.shutdown(Shutdown::Write);
            } else if sock.write_all(&buf[..n]).is_err() {
                stdin_open = false;
            }
        }
        if sig_ready {
            let got = sigs
                .as_ref()
                .and_then(|w| w.read_signal().ok().flatten())
                .and_then(|i| Signal::try_from(i.ssi_signo as i32).ok());
            match got {
                Some(Signal::SIGWINCH) => {
                    if let (Some(f), Some((r, c))) = (hooks.resize.as_mut(), size()) {
                        f(r, c);
                    }
                }
                Some(s) => {
                    if let Some(f) = hooks.signal.as_mut() {
                        f(s);
                    }
                }
                None => {}
            }
        }
    }
    if sigs.is_some() {
        let _ = set.thread_unblock();
    }
    out.finish()
}

/// Where stream bytes go: straight to stdout (terminal) or demultiplexed.
pub struct Output {
    demux: Option<Demux>,
}

impl Output {
    /// Output for a raw (`tty`) or multiplexed stream.
    pub fn new(tty: bool) -> Output {
        Output {
            demux: (!tty).then(Demux::new),
        }
    }

    /// Writes stream bytes to stdout/stderr.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        match &mut self.demux {
            None => {
                let mut o = io::stdout().lock();
                o.write_all(data)?;
                o.flush()
            }
            Some(d) => {
                let mut r = Ok(());
                d.feed(data, |s, b| {
                    let w = if s == STDERR {
                        io::stderr().lock().write_all(b)
                    } else {
                        let mut o = io::stdout().lock();
                        o.write_all(b).and_then(|_| o.flush())
                    };
                    if r.is_ok() {
                        r = w;
                    }
                });
                r
            }
        }
    }

    /// Checks the stream did not end inside a frame.
    pub fn finish(self) -> io::Result<()> {
        match self.demux {
            Some(d) if d.pending() > 0 => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "stream ended inside a frame",
            )),
            _ => Ok(()),
        }
    }
}

/// Copies a whole (logs) body to stdout/stderr.
pub fn copy_body(mut body: impl Read, tty: bool) -> io::Result<()> {
    let mut out = Output::new(tty);
    let mut buf = vec![0u8; 32 << 10];
    loop {
        let n = body.read(&mut buf)?;
        if n == 0 {
            return out.finish();
        }
        out.write(&buf[..n])?;
    }
}

/// Whether `fd` is a terminal.
pub fn is_tty(fd: &impl AsRawFd) -> bool {
    // SAFETY: isatty only inspects the fd.
    unsafe { libc::isatty(fd.as_raw_fd()) == 1 }
}
