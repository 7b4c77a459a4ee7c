//! Foreground `run` and `exec`: forward signals to the process, proxy its pty, reap it.

use crate::error::{Result, SysContext};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// Signals a foreground dm-runc forwards to its process (SIGCHLD is for reaping).
const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCONT,
    Signal::SIGALRM,
    Signal::SIGPIPE,
];

/// Blocks forwarded signals and SIGCHLD, returning a signalfd for them. Call before the
/// process can exit so no SIGCHLD is missed.
pub fn block_signals() -> Result<SignalFd> {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(*s);
    }
    set.add(Signal::SIGCHLD);
    set.thread_block().sys(|| "block signals".into())?;
    SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC).sys(|| "signalfd".into())
}

/// Waits for `pid` while forwarding signals (and proxying `pty` to our stdio); returns its exit
/// code, 128+signal when it was killed.
pub fn wait(pid: i32, sfd: &mut SignalFd, pty: Option<OwnedFd>) -> Result<i32> {
    let _raw = pty.as_ref().and_then(|_| RawMode::enter());
    if let Some(m) = &pty {
        copy_winsize(m);
    }
    let stdin = std::io::stdin();
    let mut stdin_open = pty.is_some();
    let mut pty_open = pty.is_some();
    loop {
        if let Some(code) = reap(pid)? {
            if let Some(m) = &pty {
                drain(m);
            }
            return Ok(code);
        }
        let mut fds = vec![nix::poll::PollFd::new(
            sfd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        if let Some(m) = pty.as_ref().filter(|_| pty_open) {
            fds.push(nix::poll::PollFd::new(
                m.as_fd(),
                nix::poll::PollFlags::POLLIN,
            ));
            if stdin_open {
                fds.push(nix::poll::PollFd::new(
                    stdin.as_fd(),
                    nix::poll::PollFlags::POLLIN,
                ));
            }
        }
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => r.sys(|| "poll".into())?,
        };
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            if let Ok(Some(info)) = sfd.read_signal() {
                let sig = Signal::try_from(info.ssi_signo as i32).ok();
                match sig {
                    Some(Signal::SIGCHLD) | None => {}
                    Some(Signal::SIGWINCH) if pty.is_some() => copy_winsize(pty.as_ref().unwrap()),
                    Some(s) => {
                        let _ = nix::sys::signal::kill(Pid::from_raw(pid), s);
                    }
                }
            }
        }
        if let Some(m) = pty.as_ref().filter(|_| pty_open) {
            if ready.get(1) == Some(&true) && !pump(m.as_raw_fd(), 1) {
                // The pty hung up: the process closed it or is gone; only SIGCHLD is left.
                pty_open = false;
            }
            if ready.get(2) == Some(&true) && !pump(0, m.as_raw_fd()) {
                stdin_open = false;
            }
        }
    }
}

/// Reaps any exited children; Some(code) once `pid` has exited.
fn reap(pid: i32) -> Result<Option<i32>> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, c)) if p.as_raw() == pid => return Ok(Some(c)),
            Ok(WaitStatus::Signaled(p, s, _)) if p.as_raw() == pid => {
                return Ok(Some(128 + s as i32))
            }
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return Ok(None),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).sys(|| "waitpid".into()),
        }
    }
}

/// Copies what is readable from `from` to `to`; false on EOF or error.
fn pump(from: i32, to: i32) -> bool {
    let mut buf = [0u8; 8192];
    match nix::unistd::read(from, &mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            let mut off = 0;
            while off < n {
                // SAFETY: `to` is an open fd for the call; buf[off..n] is initialised.
                let w = unsafe { libc::write(to, buf[off..n].as_ptr().cast(), n - off) };
                if w <= 0 {
                    return false;
                }
                off += w as usize;
            }
            true
        }
    }
}

/// Copies whatever output is left in the pty after the process exited.
fn drain(m: &OwnedFd) {
    let _ = nix::fcntl::fcntl(
        m.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    while pump(m.as_raw_fd(), 1) {}
}

fn copy_winsize(m: &OwnedFd) {
    let mut ws: libc::winsize = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ read and write a valid winsize.
    unsafe {
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(m.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}

/// Our terminal in raw mode while proxying, restored on drop.
struct RawMode(nix::sys::termios::Termios);

impl RawMode {
    fn enter() -> Option<RawMode> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        let orig = tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = orig.clone();
        cfmakeraw(&mut raw);
        tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode(orig))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(
            std::io::stdin().as_fd(),
            nix::sys::termios::SetArg::TCSANOW,
            &self.0,
        );
    }
}

/// Receives one fd sent with SCM_RIGHTS on `sock` (the pty master from our own console socket).
pub fn recv_fd(sock: &OwnedFd) -> Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::FromRawFd;
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .sys(|| "receive pty master".into())?;
    for c in msg.cmsgs().sys(|| "receive pty master".into())? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just installed this fd for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(crate::error::Error::Child(
        "console socket: no fd received".into(),
    ))
}
