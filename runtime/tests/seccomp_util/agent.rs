//! The agent side of SCMP_ACT_NOTIFY: take notify fds from a listener socket, receive
//! notifications, answer them.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

/// Receives into `buf` and takes exactly one fd from `sock`.
pub fn recv_with_fd(sock: RawFd, buf: &mut [u8]) -> (usize, OwnedFd) {
    let mut iov = [IoSliceMut::new(buf)];
    let mut cmsg = nix::cmsg_space!(RawFd);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC)
        .expect("recvmsg");
    let fd = msg
        .cmsgs()
        .expect("cmsgs")
        .find_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .expect("an fd came with the message");
    // SAFETY: SCM_RIGHTS installed this fd in our table for us alone.
    (msg.bytes, unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Waits (bounded) until `fd` is readable; panics naming `what` otherwise.
fn ready(fd: impl AsFd, what: &str) {
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    let n = poll(&mut fds, PollTimeout::from(10_000u16)).expect("poll");
    assert_eq!(n, 1, "no {what} within 10 s");
}

/// Accepts the runtime's next connection on `agent` (bounded wait) and returns the state JSON
/// it sent with the notify fd.
pub fn accept(agent: &UnixListener) -> (serde_json::Value, OwnedFd) {
    ready(agent, "connection from the runtime");
    let (conn, _) = agent.accept().expect("accept");
    let mut buf = vec![0u8; 64 * 1024];
    let (n, fd) = recv_with_fd(conn.as_raw_fd(), &mut buf);
    let state = serde_json::from_slice(&buf[..n]).expect("state JSON");
    (state, fd)
}

/// One pending notification.
#[derive(Debug, Clone, Copy)]
pub struct Notification {
    /// Cookie to answer with.
    pub id: u64,
    /// Host pid of the process waiting in the syscall.
    pub pid: u32,
    /// Syscall number.
    pub nr: i32,
}

/// Waits (bounded) for the next notification on `listener`.
pub fn recv(listener: &OwnedFd) -> Notification {
    ready(listener, "notification");
    // SAFETY: RECV fills a zeroed seccomp_notif of the kernel's layout.
    unsafe {
        let mut req: libc::seccomp_notif = std::mem::zeroed();
        let r = libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV,
            &mut req,
        );
        assert_eq!(r, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
        Notification {
            id: req.id,
            pid: req.pid,
            nr: req.data.nr,
        }
    }
}

/// Answers `n`: the syscall returns `val`, or with `run` really runs (CONTINUE).
pub fn respond(listener: &OwnedFd, n: Notification, val: i64, run: bool) {
    let resp = libc::seccomp_notif_resp {
        id: n.id,
        val,
        error: 0,
        flags: if run {
            libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32
        } else {
            0
        },
    };
    // SAFETY: SEND reads a fully initialised response.
    let r = unsafe { libc::ioctl(listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    assert_eq!(r, 0, "NOTIF_SEND: {}", std::io::Error::last_os_error());
}
