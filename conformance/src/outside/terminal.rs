//! process.terminal with `--console-socket`: the runtime hands the pty master over the socket,
//! and the checker, run on that terminal, reports what it sees through it.

use super::{succeeded, Rec};
use crate::case::{CaseResult, Level::*, Outcome};
use crate::context::{Context, RESULT_PREFIX};
use crate::error::{io, Result};
use crate::runtime::{Runtime, Sandbox};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use std::collections::HashMap;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// Runs the checker on a terminal and collects its results from the pty master.
pub fn terminal(rt: &Runtime, r: &mut Rec) -> Result<()> {
    let sb = Sandbox::new(rt)?;
    let mut spec = crate::spec::base();
    spec["process"]["terminal"] = serde_json::json!(true);
    let ctx = Context {
        scenario: "terminal".into(),
        areas: vec!["terminal".into()],
        ..Default::default()
    };
    sb.write(&spec, &ctx)?;
    let sock = sb.bundle().join("console.sock");
    let listener = UnixListener::bind(&sock).map_err(io("bind", &sock))?;
    let receiver = std::thread::spawn(move || receive_fd(&listener));
    let sock_arg = sock.to_string_lossy().into_owned();
    let c = sb.create(&["--console-socket", &sock_arg]);
    r.add(
        "create",
        "runc-cli#create",
        Must,
        "create with terminal and --console-socket succeeds",
        succeeded(&c),
    );
    let master = receiver
        .join()
        .unwrap_or_else(|_| Err("receiver panicked".into()));
    r.add(
        "console-socket",
        "runc-cli#create",
        Must,
        "the pty master arrives over --console-socket",
        Outcome::check(master.is_ok(), || format!("{:?}", master.as_ref().err())),
    );
    let s = sb.rt(&["start", &sb.id]);
    r.add(
        "start",
        "runtime.md#start",
        Must,
        "start of the terminal container succeeds",
        succeeded(&s),
    );
    let text = master.map(read_all).unwrap_or_default();
    let got: HashMap<String, (String, String)> = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter_map(|l| l.strip_prefix(RESULT_PREFIX)?.trim_start().split_once('\t'))
        .filter_map(|(id, rest)| {
            rest.split_once('\t')
                .map(|(v, d)| (id.to_owned(), (v.to_owned(), d.to_owned())))
        })
        .collect();
    for check in crate::plan::plan(&spec, &ctx) {
        let outcome = match got
            .get(&check.case.id)
            .map(|(v, d)| (v.as_str(), d.clone()))
        {
            Some(("pass", _)) => Outcome::Pass,
            Some(("skip", d)) => Outcome::Skip(d),
            Some((_, d)) => Outcome::Fail(d),
            None => Outcome::Fail(format!(
                "no result on the terminal, which showed {:?}",
                text.chars().take(300).collect::<String>()
            )),
        };
        r.push(CaseResult {
            case: check.case,
            outcome,
        });
    }
    Ok(())
}

fn receive_fd(listener: &UnixListener) -> std::result::Result<OwnedFd, String> {
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let end = Instant::now() + WAIT;
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    };
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(WAIT))
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| format!("recvmsg: {e}"))?;
    for cmsg in msg.cmsgs().map_err(|e| e.to_string())? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(&fd) = fds.first() {
                // SAFETY: SCM_RIGHTS just installed this descriptor in our table; nothing else owns it.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err("no file descriptor in the message".into())
}

/// Reads the pty master until the slave side is closed (EIO) or the deadline passes.
fn read_all(master: OwnedFd) -> String {
    let mut f = std::fs::File::from(master);
    let mut out = Vec::new();
    let end = Instant::now() + WAIT;
    while Instant::now() < end {
        let mut pfd = [nix::poll::PollFd::new(
            f.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(100u16)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(_) => break,
        }
        let mut buf = [0u8; 4096];
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
