//! The one socketpair between dm-runc and the init (or exec'd) child: small typed messages.

use crate::error::{Error, Result, SysContext};
use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use std::os::fd::{AsRawFd, OwnedFd};

/// A message between parent and child.
#[derive(Debug, PartialEq, Eq)]
pub enum Msg {
    /// Parent → child: go on (ids mapped, cgroup joined, hooks done).
    Go,
    /// Child → parent: mounts are ready, run prestart/createRuntime hooks now.
    Hooks,
    /// Child → parent: set up and blocked on the exec fifo (or about to exec).
    Ready,
    /// Child → parent: setup failed; the reason.
    Error(String),
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
        }
        loop {
            match send(self.0.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => return r.map(drop).sys(|| "sync send".into()),
            }
        }
    }

    /// Receives one message; `None` when the other end closed.
    pub fn recv(&self) -> Result<Option<Msg>> {
        let mut buf = vec![0u8; 16 * 1024];
        let n = loop {
            match recv(self.0.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => break r.sys(|| "sync recv".into())?,
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
            t => return Err(Error::Child(format!("bad sync message {t}"))),
        };
        Ok(Some(m))
    }

    /// Waits for `Go`; anything else is an error.
    pub fn expect_go(&self) -> Result<()> {
        match self.recv()? {
            Some(Msg::Go) => Ok(()),
            other => Err(Error::Child(format!("expected go from parent, got {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let (a, b) = pair().unwrap();
        for m in [Msg::Go, Msg::Hooks, Msg::Ready, Msg::Error("boom: x".into())] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap(), Some(m));
        }
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }
}
