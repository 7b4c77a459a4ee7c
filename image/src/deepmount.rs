//! Overlay mounts whose option string exceeds the page mount(2) copies: images of ~90 layers
//! and more (docker allows 125). The lower dirs are given relative to their common parent
//! from a forked child that changed into it, which works on every kernel (overlay's
//! `lowerdir+` would need Linux 6.8). The child keeps the caller's threads out of the chdir.

use nix::errno::Errno;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Mounts overlay with `options` (one of them `lowerdir=a:b:...`) on `target`.
pub fn mount_overlay(options: &[String], target: &Path) -> nix::Result<()> {
    let (parent, data) = compact(options).ok_or(Errno::E2BIG)?;
    let target = std::path::absolute(target).map_err(|_| Errno::EINVAL)?;
    let c = |p: &[u8]| CString::new(p).map_err(|_| Errno::EINVAL);
    let (parent, target, data) = (
        c(parent.as_os_str().as_bytes())?,
        c(target.as_os_str().as_bytes())?,
        c(data.as_bytes())?,
    );
    let overlay = c(b"overlay")?;
    // SAFETY: the child runs only chdir, mount and _exit on memory prepared before the fork
    // (all async-signal-safe), so the caller's other threads cannot leave it a held lock.
    match unsafe { libc::fork() } {
        -1 => Err(Errno::last()),
        0 => {
            // SAFETY: raw syscalls on NUL-terminated strings that outlive the child.
            unsafe {
                let code = if libc::chdir(parent.as_ptr()) != 0
                    || libc::mount(
                        overlay.as_ptr(),
                        target.as_ptr(),
                        overlay.as_ptr(),
                        0,
                        data.as_ptr().cast(),
                    ) != 0
                {
                    *libc::__errno_location()
                } else {
                    0
                };
                libc::_exit(code)
            }
        }
        pid => {
            let pid = nix::unistd::Pid::from_raw(pid);
            match nix::sys::wait::waitpid(pid, None)? {
                nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
                nix::sys::wait::WaitStatus::Exited(_, code) => Err(Errno::from_raw(code)),
                _ => Err(Errno::EINTR),
            }
        }
    }
}

/// The lower dirs' common parent and the options with lower dirs relative to it; `None`
/// when they have no common parent or the result still exceeds a page.
fn compact(options: &[String]) -> Option<(PathBuf, String)> {
    let lowers: Vec<&Path> = options
        .iter()
        .find_map(|o| o.strip_prefix("lowerdir="))?
        .split(':')
        .map(Path::new)
        .collect();
    let mut parent = lowers.first()?.parent()?.to_owned();
    while !lowers.iter().all(|l| l.starts_with(&parent)) {
        parent = parent.parent()?.to_owned();
    }
    if parent.as_os_str().is_empty() || parent == Path::new("/") {
        return None;
    }
    let relative: Vec<String> = lowers
        .iter()
        .map(|l| {
            l.strip_prefix(&parent)
                .map(|r| r.to_string_lossy().into_owned())
        })
        .collect::<Result<_, _>>()
        .ok()?;
    let data = options
        .iter()
        .map(|o| match o.strip_prefix("lowerdir=") {
            Some(_) => format!("lowerdir={}", relative.join(":")),
            None => o.clone(),
        })
        .collect::<Vec<_>>()
        .join(",");
    (data.len() < 4096).then_some((parent, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_dirs_become_relative_to_their_common_parent() {
        let lowers: Vec<String> = (0..125)
            .map(|i| format!("/var/lib/dockermind/snapshots/snapshots/{i}/fs"))
            .collect();
        let opts = vec![
            "index=off".to_owned(),
            "upperdir=/u/fs".to_owned(),
            format!("lowerdir={}", lowers.join(":")),
        ];
        assert!(opts.join(",").len() > 4096);
        let (parent, data) = compact(&opts).unwrap();
        assert_eq!(parent, Path::new("/var/lib/dockermind/snapshots/snapshots"));
        assert!(data.starts_with("index=off,upperdir=/u/fs,lowerdir=0/fs:1/fs:"));
        assert!(data.ends_with(":124/fs"));
        let far = vec![format!("lowerdir=/a/x/fs:/b/y/fs")];
        assert_eq!(compact(&far), None, "no common parent but /");
        let huge = vec![format!(
            "lowerdir={}",
            vec!["/p/".to_owned() + &"x".repeat(200); 30].join(":")
        )];
        assert_eq!(compact(&huge), None, "still over a page");
    }
}
