//! Terminals through --console-socket, received exactly as conmon and containerd's shim do.

mod common;
use common::*;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

/// Accepts one connection and returns the fd it carries.
fn receive_master(l: &UnixListener) -> OwnedFd {
    let (conn, _) = l.accept().unwrap();
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .unwrap();
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the kernel installed this fd for us.
            return unsafe { OwnedFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no fd on the console socket");
}

fn read_until(master: &OwnedFd, needle: &str) -> String {
    let mut f = std::fs::File::from(master.try_clone().unwrap());
    let mut all = String::new();
    let mut buf = [0u8; 1024];
    while !all.contains(needle) {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => all.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    all
}

#[test]
fn create_with_terminal_sends_the_pty_master() {
    let Some(mut b) = bundle("tty_create") else {
        return;
    };
    set(&mut b, "/process/terminal", serde_json::json!(true));
    set(
        &mut b,
        "/process/consoleSize",
        serde_json::json!({"height": 33, "width": 101}),
    );
    b.args(&[
        "sh",
        "-c",
        "tty; stty size; test -t 0 && echo stdin-is-tty; echo END",
    ]);
    let sock = b.path().join("console.sock");
    let l = UnixListener::bind(&sock).unwrap();
    let bp = b.path().to_str().unwrap().to_owned();
    let mut create = b.cmd(&[
        "create",
        "--bundle",
        &bp,
        "--console-socket",
        sock.to_str().unwrap(),
        &b.id,
    ]);
    create
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = create.spawn().unwrap();
    let master = receive_master(&l);
    assert!(child.wait().unwrap().success());
    b.run(&["start", &b.id]).ok();
    let out = read_until(&master, "END");
    assert!(out.contains("/dev/pts/0"), "{out:?}");
    assert!(out.contains("33 101"), "{out:?}");
    assert!(out.contains("stdin-is-tty"), "{out:?}");
}

#[test]
fn terminal_without_console_socket_is_refused() {
    let Some(mut b) = bundle("tty_no_socket") else {
        return;
    };
    set(&mut b, "/process/terminal", serde_json::json!(true));
    let out = b.create();
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("--console-socket"), "{out:?}");
    assert_nothing_left(&b);
}

#[test]
fn exec_tty_through_console_socket() {
    let Some(mut b) = bundle("exec_tty") else {
        return;
    };
    start_sleeping(&mut b);
    let sock = b.path().join("exec.sock");
    let l = UnixListener::bind(&sock).unwrap();
    let mut exec = b.cmd(&[
        "exec",
        "-t",
        "-d",
        "--console-socket",
        sock.to_str().unwrap(),
        &b.id,
        "sh",
        "-c",
        "tty; echo END",
    ]);
    exec.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = exec.spawn().unwrap();
    let master = receive_master(&l);
    assert!(child.wait().unwrap().success());
    let out = read_until(&master, "END");
    assert!(out.contains("/dev/pts/"), "{out:?}");
}

#[test]
fn run_in_a_real_terminal_is_interactive() {
    let Some(mut b) = bundle("tty_interactive") else {
        return;
    };
    set(&mut b, "/process/terminal", serde_json::json!(true));
    b.args(&["sh"]);
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = std::fs::File::from(pty.slave);
    let bp = b.path().to_str().unwrap().to_owned();
    let mut cmd = b.cmd(&["run", "--bundle", &bp, &b.id]);
    cmd.stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    let mut child = cmd.spawn().unwrap();
    let mut master = std::fs::File::from(pty.master);
    std::io::Write::write_all(&mut master, b"echo hi-$((40+2)); tty; exit 3\n").unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 1024];
    while !(seen.contains("hi-42") && seen.contains("/dev/pts/")) {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(seen.contains("hi-42"), "{seen:?}");
    assert_eq!(child.wait().unwrap().code(), Some(3), "{seen:?}");
}
