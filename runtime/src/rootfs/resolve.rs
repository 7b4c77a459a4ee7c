//! Opening paths inside the rootfs without ever leaving it (CVE-2021-30465 class).
//!
//! Every lookup goes through openat2(RESOLVE_IN_ROOT), so symlinks and `..` in the rootfs are
//! resolved as if the rootfs were `/`; mounts then target `/proc/self/fd/N` of the opened
//! object, so a concurrent swap of a path component cannot redirect them.

use crate::error::{Result, SysContext};
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};

/// What to create when the path is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Create {
    /// Fail if missing.
    No,
    /// Create missing directories.
    Dir,
    /// Create missing parent directories and an empty file.
    File,
}

/// `path`'s components below the root (leading `/` dropped).
fn rel_components(path: &Path) -> Vec<&std::ffi::OsStr> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s),
            Component::ParentDir => Some(std::ffi::OsStr::new("..")),
            _ => None,
        })
        .collect()
}

fn open_raw(root: RawFd, rel: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = openat2(root, rel, how)?;
    // SAFETY: openat2 returned a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens `path` (interpreted inside `root`) as an O_PATH fd, creating what `create` asks for.
pub fn open_in_root(root: &OwnedFd, path: &Path, create: Create) -> Result<OwnedFd> {
    let comps = rel_components(path);
    let full: PathBuf = comps.iter().collect();
    match open_raw(root.as_raw_fd(), &full, OFlag::O_PATH) {
        Err(nix::errno::Errno::ENOENT) if create != Create::No => {}
        r => return r.sys(|| format!("open {} in rootfs", path.display())),
    }
    for i in 0..comps.len() {
        let prefix: PathBuf = comps[..=i].iter().collect();
        match open_raw(root.as_raw_fd(), &prefix, OFlag::O_PATH) {
            Ok(_) => continue,
            Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(e).sys(|| format!("open {} in rootfs", prefix.display())),
        }
        let parent: PathBuf = comps[..i].iter().collect();
        let pfd = open_raw(
            root.as_raw_fd(),
            &parent,
            OFlag::O_PATH | OFlag::O_DIRECTORY,
        )
        .sys(|| format!("open {} in rootfs", parent.display()))?;
        let name = comps[i];
        let last = i + 1 == comps.len();
        let r = if last && create == Create::File {
            nix::fcntl::openat(
                Some(pfd.as_raw_fd()),
                name,
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_WRONLY
                    | OFlag::O_CLOEXEC
                    | OFlag::O_NOFOLLOW,
                Mode::from_bits_truncate(0o755),
            )
            .map(|fd| {
                // SAFETY: fresh fd from openat, closed right away.
                drop(unsafe { OwnedFd::from_raw_fd(fd) })
            })
        } else {
            nix::sys::stat::mkdirat(Some(pfd.as_raw_fd()), name, Mode::from_bits_truncate(0o755))
        };
        match r {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(e).sys(|| format!("create {} in rootfs", prefix.display())),
        }
    }
    open_raw(root.as_raw_fd(), &full, OFlag::O_PATH)
        .sys(|| format!("open {} in rootfs", path.display()))
}

/// Opens a directory (the rootfs itself) as an O_PATH fd usable as a resolution root.
pub fn open_root(path: &Path) -> Result<OwnedFd> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .sys(|| format!("open rootfs {}", path.display()))?;
    // SAFETY: fresh fd from open that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The magic-link path that names the object behind `fd` (for mount targets and sources).
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_stay_inside_root() {
        let t = dm_testkit::TempDir::new("resolve");
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/", root.join("up")).unwrap();
        std::os::unix::fs::symlink("../../../..", root.join("dots")).unwrap();
        let rfd = open_root(&root).unwrap();
        open_in_root(&rfd, Path::new("/up/escaped"), Create::Dir).unwrap();
        open_in_root(&rfd, Path::new("dots/also"), Create::File).unwrap();
        open_in_root(&rfd, Path::new("../../x/y"), Create::Dir).unwrap();
        assert!(root.join("escaped").is_dir());
        assert!(root.join("also").is_file());
        assert!(root.join("x/y").is_dir());
        assert!(!t.path().join("escaped").exists());
        assert!(!Path::new("/escaped").exists());
        assert!(!Path::new("/also").exists());
        assert!(open_in_root(&rfd, Path::new("/missing"), Create::No).is_err());
    }
}
