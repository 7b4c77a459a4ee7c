//! Terminals: a pty made inside the container and its master sent over the console socket
//! (SCM_RIGHTS, as runc does), so conmon and containerd's shims can use it.

use crate::error::{Error, Result, SysContext};
use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{
    connect, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};
use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Connects to the console socket a caller gave (before the rootfs hides its path).
pub fn connect_console_socket(path: &Path) -> Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .sys(|| "console socket".into())?;
    let addr = UnixAddr::new(path).sys(|| format!("--console-socket {}", path.display()))?;
    connect(fd.as_raw_fd(), &addr)
        .sys(|| format!("connect --console-socket {}", path.display()))?;
    Ok(fd)
}

/// A connected pair standing in for a console socket when dm-runc itself is the terminal's
/// other end (`run` or `exec` in the foreground): (ours, the one given to the child).
pub fn console_pair() -> Result<(OwnedFd, OwnedFd)> {
    nix::sys::socket::socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .sys(|| "console socketpair".into())
}

/// Sends `fd` with `name` as the message payload over the unix socket `sock`.
pub fn send_fd(sock: RawFd, name: &str, fd: RawFd) -> Result<()> {
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(sock, &iov, &cmsg, MsgFlags::empty(), None).sys(|| "send pty master".into())?;
    Ok(())
}

/// Makes a pty in the container (after pivot_root, through its devpts), makes the slave this
/// process's controlling terminal and stdio, binds it at /dev/console, and sends the master.
pub fn setup_console(sock: &OwnedFd, size: Option<(u16, u16)>) -> Result<()> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .sys(|| "open /dev/ptmx (is devpts mounted at /dev/pts?)".into())?;
    grantpt(&master).sys(|| "grantpt".into())?;
    unlockpt(&master).sys(|| "unlockpt".into())?;
    let name = ptsname_r(&master).sys(|| "ptsname".into())?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        nix::sys::stat::Mode::empty(),
    )
    .sys(|| format!("open {name}"))?;
    // SAFETY: fresh fd from open, owned here.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a valid winsize that lives for the call.
        unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
    // /dev/console should be the container's terminal.
    if std::fs::symlink_metadata("/dev/console").is_err() {
        let _ = std::fs::File::create("/dev/console");
    }
    let _ = nix::mount::mount(
        Some(name.as_str()),
        "/dev/console",
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    );
    for target in 0..3 {
        nix::unistd::dup2(slave.as_raw_fd(), target).sys(|| "dup2 pty slave".into())?;
    }
    // SAFETY: TIOCSCTTY on our own session's terminal; the argument 0 means "don't steal".
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
        return Err(Error::Child(format!(
            "set controlling terminal: {}",
            nix::errno::Errno::last()
        )));
    }
    send_fd(sock.as_raw_fd(), &name, master.as_raw_fd())?;
    Ok(())
}
