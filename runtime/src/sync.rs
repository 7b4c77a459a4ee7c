//! The one socketpair between dm-runc and the init (or exec'd) child: small typed messages.

use crate::error::{Error, Result, SysContext};
use nix::sys::socket::{
    recvmsg, send, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned,
    MsgFlags, SockFlag, SockType,
};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// A message between parent and child.
#[derive(Debug)]
pub enum Msg {
    /// Parent → child: go on (ids mapped, cgroup joined, hooks done).
    Go,
    /// Child → parent: mounts are ready, run prestart/createRuntime hooks now.
    Hooks,
    /// Child → parent: set up and blocked on the exec fifo (or about to exec).
    Ready,
    /// Child → parent: setup failed; the reason.
    Error(String),
    /// Child → parent: the seccomp notify fd, for the parent to hand to the listener.
    SeccompFd(OwnedFd),
}

/// One end of the sync socket.
pub struct Channel(OwnedFd);

/// Makes a connected pair: (parent end, child end). SEQPACKET keeps message boundaries.
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .sys(|| "socketpair".into())?;
    Ok((Channel(a), Channel(b)))
}

impl Channel {
    /// Sends one message.
    pub fn send(&self, m: &Msg) -> Result<()> {
        let mut buf = Vec::with_capacity(8);
        match m {
            Msg::Go => buf.push(b'G'),
            Msg::Hooks => buf.push(b'H'),
            Msg::Ready => buf.push(b'R'),
            Msg::Error(s) => {
                buf.push(b'E');
                buf.extend_from_slice(s.as_bytes());
            }
            Msg::SeccompFd(fd) => return self.send_fd(std::os::fd::AsFd::as_fd(fd)),
        }
        loop {
            match send(self.0.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => return r.map(drop).sys(|| "sync send".into()),
            }
        }
    }

    /// Sends an fd (tag `S`) with SCM_RIGHTS.
    pub fn send_fd(&self, fd: BorrowedFd) -> Result<()> {
        let fds = [fd.as_raw_fd()];
        let iov = [std::io::IoSlice::new(b"S")];
        sendmsg::<()>(
            self.0.as_raw_fd(),
            &iov,
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .sys(|| "sync send fd".into())?;
        Ok(())
    }

    /// Receives one message; `None` when the other end closed.
    pub fn recv(&self) -> Result<Option<Msg>> {
        let mut buf = vec![0u8; 16 * 1024];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let (n, fd) = loop {
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.0.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => {
                    let m = r.sys(|| "sync recv".into())?;
                    let mut fd = None;
                    for c in m.cmsgs().sys(|| "sync recv".into())? {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            // SAFETY: the kernel just installed these fds for us.
                            fd = fds.first().map(|f| unsafe { OwnedFd::from_raw_fd(*f) });
                        }
                    }
                    break (m.bytes, fd);
                }
            }
        };
        if n == 0 {
            return Ok(None);
        }
        let m = match buf[0] {
            b'G' => Msg::Go,
            b'H' => Msg::Hooks,
            b'R' => Msg::Ready,
            b'E' => Msg::Error(String::from_utf8_lossy(&buf[1..n]).into_owned()),
            b'S' => Msg::SeccompFd(
                fd.ok_or_else(|| Error::Child("seccomp fd message without fd".into()))?,
            ),
            t => return Err(Error::Child(format!("bad sync message {t}"))),
        };
        Ok(Some(m))
    }

    /// Waits for `Go`; anything else is an error.
    pub fn expect_go(&self) -> Result<()> {
        match self.recv()? {
            Some(Msg::Go) => Ok(()),
            other => Err(Error::Child(format!(
                "expected go from parent, got {other:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let (a, b) = pair().unwrap();
        for m in [
            Msg::Go,
            Msg::Hooks,
            Msg::Ready,
            Msg::Error("boom: x".into()),
        ] {
            a.send(&m).unwrap();
            assert_eq!(
                format!("{:?}", b.recv().unwrap().unwrap()),
                format!("{m:?}")
            );
        }
        let f = std::fs::File::open("/proc/self/stat").unwrap();
        a.send(&Msg::SeccompFd(f.into())).unwrap();
        let Some(Msg::SeccompFd(fd)) = b.recv().unwrap() else {
            panic!("no fd")
        };
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut s).unwrap();
        assert!(s.contains(&std::process::id().to_string()));
        drop(a);
        assert!(b.recv().unwrap().is_none());
    }
}
