//! Device nodes and /dev symlinks.

use super::outcome;
use crate::case::Outcome;
use crate::plan::Probe;
use nix::sys::stat::{major, minor};
use std::os::unix::fs::{FileTypeExt, MetadataExt};

pub(super) fn verify(probe: &Probe) -> Outcome {
    outcome(match probe {
        Probe::DevType(p, ty) => meta(p).map(|m| {
            let ft = m.file_type();
            let got = if ft.is_char_device() {
                "c"
            } else if ft.is_block_device() {
                "b"
            } else if ft.is_fifo() {
                "p"
            } else {
                "other"
            };
            let want = if ty == "u" { "c" } else { ty.as_str() };
            Outcome::eq(got, want)
        }),
        Probe::DevNum(p, ma, mi) => meta(p).map(|m| {
            let ft = m.file_type();
            if !ft.is_char_device() && !ft.is_block_device() {
                return Outcome::Fail(format!("{p} is not a device node"));
            }
            Outcome::eq((major(m.rdev()), minor(m.rdev())), (*ma, *mi))
        }),
        Probe::DevMode(p, mode) => meta(p).map(|m| {
            Outcome::eq(
                format!("{:o}", m.mode() & 0o7777),
                format!("{:o}", mode & 0o7777),
            )
        }),
        Probe::DevOwner(p, u, g) => meta(p).map(|m| Outcome::eq((m.uid(), m.gid()), (*u, *g))),
        Probe::Symlink(p, target) => std::fs::read_link(p)
            .map(|t| Outcome::eq(t.to_string_lossy().into_owned(), target.clone()))
            .map_err(|e| format!("readlink {p}: {e}")),
        Probe::Ptmx => ptmx(),
        Probe::DevAccess(p, allowed) => Ok(access(p, *allowed)),
        Probe::IsTty(fd) => {
            // SAFETY: isatty only inspects the descriptor number; 0, 1 and 2 belong to this process.
            let tty = unsafe { libc::isatty(*fd) } == 1;
            Ok(Outcome::check(tty, || format!("fd {fd} is not a terminal")))
        }
        Probe::Console => console(),
        Probe::ControllingTty => std::fs::File::open("/dev/tty")
            .map(|_| Outcome::Pass)
            .map_err(|e| format!("open /dev/tty: {e}")),
        other => Err(format!("internal: {other:?} is not a device probe")),
    })
}

fn meta(p: &str) -> Result<std::fs::Metadata, String> {
    std::fs::symlink_metadata(p).map_err(|e| format!("lstat {p}: {e}"))
}

fn ptmx() -> Result<Outcome, String> {
    if let Ok(t) = std::fs::read_link("/dev/ptmx") {
        let t = t.to_string_lossy().into_owned();
        return Ok(Outcome::check(
            t == "pts/ptmx" || t == "/dev/pts/ptmx",
            || format!("/dev/ptmx -> {t}"),
        ));
    }
    let (a, b) = (meta("/dev/ptmx")?, meta("/dev/pts/ptmx")?);
    Ok(Outcome::check(
        (a.dev(), a.ino()) == (b.dev(), b.ino()),
        || "/dev/ptmx is not /dev/pts/ptmx".into(),
    ))
}

fn access(p: &str, allowed: bool) -> Outcome {
    use std::os::unix::fs::OpenOptionsExt;
    let r = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(p);
    // Only EPERM comes from the device cgroup; ENXIO and the like mean the open got past it.
    let denied = matches!(&r, Err(e) if e.raw_os_error() == Some(libc::EPERM));
    match (allowed, denied) {
        (true, false) | (false, true) => Outcome::Pass,
        (true, true) => Outcome::Fail(format!(
            "open {p}: EPERM, want the device cgroup to allow it"
        )),
        (false, false) => Outcome::Fail(format!(
            "open {p} gave {:?}, want EPERM from the device cgroup",
            r.map(|_| "success")
        )),
    }
}

fn console() -> Result<Outcome, String> {
    use std::os::fd::AsFd;
    let c = std::fs::metadata("/dev/console").map_err(|e| format!("stat /dev/console: {e}"))?;
    let stdin = std::io::stdin();
    let fd = stdin
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| format!("dup stdin: {e}"))?;
    let t = std::fs::File::from(fd)
        .metadata()
        .map_err(|e| format!("fstat stdin: {e}"))?;
    Ok(Outcome::check(
        c.file_type().is_char_device() && c.rdev() == t.rdev(),
        || {
            format!(
                "/dev/console is {}:{}, the terminal is {}:{}",
                major(c.rdev()),
                minor(c.rdev()),
                major(t.rdev()),
                minor(t.rdev())
            )
        },
    ))
}
