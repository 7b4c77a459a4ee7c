//! SCMP_ACT_NOTIFY: the filter yields a listener fd, a notification arrives on it and its answer
//! reaches the filtered process; send_to_listener hands the fd and the state JSON to an agent.

mod seccomp_util;

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

use dm_runtime::seccomp::{send_to_listener, ContainerState, ProcessState};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use seccomp_util::{agent, filter, wait, Outcome, INSTALL_FAILED};
use serde_json::json;

const ANSWER: i64 = 4242;

/// Sends `fd` over the unix socket `sock` with raw syscalls only (runs in a forked child).
fn send_fd_raw(sock: RawFd, fd: RawFd) -> bool {
    // SAFETY: every pointer refers to a local that outlives the sendmsg call; the control
    // buffer is sized and aligned for one SCM_RIGHTS fd.
    unsafe {
        let mut byte = 0u8;
        let mut iov = libc::iovec {
            iov_base: (&mut byte as *mut u8).cast(),
            iov_len: 1,
        };
        let mut cbuf = [0u64; 4];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
        libc::sendmsg(sock, &msg, 0) == 1
    }
}

/// Waits (bounded) for a notification on `listener` and answers it with `ANSWER`; returns the
/// notified syscall number and pid.
fn answer_one(listener: &OwnedFd) -> (i32, u32) {
    let n = agent::recv(listener);
    agent::respond(listener, n, ANSWER, false);
    (n.nr, n.pid)
}

#[test]
fn notify_fd_reaches_the_agent_with_state_and_answers_the_syscall() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/unused-here",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    assert!(f.needs_notify());
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .expect("socketpair");

    // SAFETY: the child makes raw syscalls only and _exits.
    let pid = match unsafe { libc::fork() } {
        -1 => panic!("fork: {}", std::io::Error::last_os_error()),
        0 => unsafe {
            // SAFETY: raw syscalls and _exit in the forked child.
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                libc::_exit(INSTALL_FAILED);
            }
            let Ok(Some(fd)) = f.install() else {
                libc::_exit(INSTALL_FAILED);
            };
            if !send_fd_raw(theirs.as_raw_fd(), fd.as_raw_fd()) {
                libc::_exit(INSTALL_FAILED + 1);
            }
            let got = libc::syscall(libc::SYS_getppid);
            libc::_exit(if got == ANSWER { 0 } else { 1 })
        },
        pid => pid,
    };
    drop(theirs);
    let (_, notify_fd) = agent::recv_with_fd(ours.as_raw_fd(), &mut [0u8; 1]);

    // The agent: a unix socket this test listens on.
    let dir = dm_testkit::TempDir::new("seccomp-agent");
    let path = dir.path().join("agent.sock");
    let listener = UnixListener::bind(&path).expect("bind agent socket");
    let state = ProcessState::new(
        pid,
        Some("agent-metadata"),
        ContainerState {
            oci_version: "1.0.2".into(),
            id: "ctr-1".into(),
            status: "creating".into(),
            pid,
            bundle: "/bundles/ctr-1".into(),
            annotations: [("a".to_owned(), "b".to_owned())].into(),
        },
    );
    send_to_listener(&path, notify_fd.as_fd(), &state).expect("send_to_listener");
    drop(notify_fd);
    let (got, agent_fd) = agent::accept(&listener);
    assert_eq!(
        got,
        json!({
            "ociVersion": "1.0.2",
            "fds": ["seccompFd"],
            "pid": pid,
            "metadata": "agent-metadata",
            "state": {"ociVersion": "1.0.2", "id": "ctr-1", "status": "creating", "pid": pid,
                      "bundle": "/bundles/ctr-1", "annotations": {"a": "b"}}
        })
    );

    // The fd the agent got is the live listener: the child's getppid waits on it.
    let (nr, from) = answer_one(&agent_fd);
    assert_eq!((nr as i64, from as i32), (libc::SYS_getppid, pid));
    assert_eq!(wait(pid), Outcome::Exited(0));
}

#[test]
fn filters_without_notify_return_no_fd() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]
    }));
    assert!(!f.needs_notify());
    let got = seccomp_util::in_child_with_fd(&f, |fd| fd.is_some() as i32);
    assert_eq!(got, Outcome::Exited(0));
    // Control: a notify profile does hand out an fd.
    let notify = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/unused-here",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    let got = seccomp_util::in_child_with_fd(&notify, |fd| match fd {
        // SAFETY: F_GETFD on an fd we own.
        Some(fd) => match unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) } {
            // O_CLOEXEC: execve drops the init's copy without a close(2) the filter could catch.
            f if f & libc::FD_CLOEXEC != 0 => {
                std::mem::forget(fd);
                1
            }
            _ => 2,
        },
        None => 0,
    });
    assert_eq!(got, Outcome::Exited(1));
}

#[test]
fn send_to_listener_names_the_path_when_nobody_listens() {
    let dir = dm_testkit::TempDir::new("seccomp-agent");
    let path = dir.path().join("missing.sock");
    let (a, _b) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .unwrap();
    let e = send_to_listener(&path, a.as_fd(), &ProcessState::default()).unwrap_err();
    assert!(e.to_string().contains(&*path.to_string_lossy()), "{e}");
}
