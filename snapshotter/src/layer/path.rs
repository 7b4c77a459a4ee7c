//! Entry paths: normalised, refused when they try to leave the target, and resolved to a parent
//! directory fd with every symlink kept beneath the target by the kernel (openat2
//! RESOLVE_BENEATH), so no check-then-use race exists.

use crate::sys;
use crate::{Error, Result};
use nix::errno::Errno;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// A tar path split into safe components (no "", ".", ".." and not absolute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPath {
    /// Components below the target; empty for the target itself.
    pub comps: Vec<OsString>,
}

impl EntryPath {
    /// Parses `raw`, refusing absolute paths and `..` components.
    pub fn parse(raw: &[u8], what: &str) -> Result<EntryPath> {
        let shown = String::from_utf8_lossy(raw).into_owned();
        if raw.first() == Some(&b'/') {
            return Err(refuse(&shown, format!("{what} is absolute")));
        }
        if raw.contains(&0) {
            return Err(refuse(&shown, format!("{what} contains a NUL byte")));
        }
        let mut comps = Vec::new();
        for c in raw.split(|b| *b == b'/') {
            match c {
                b"" | b"." => {}
                b".." => return Err(refuse(&shown, format!("{what} contains `..`"))),
                c => comps.push(OsStr::from_bytes(c).to_owned()),
            }
        }
        Ok(EntryPath { comps })
    }

    /// The last component (None for the target itself).
    pub fn name(&self) -> Option<&OsStr> {
        self.comps.last().map(OsString::as_os_str)
    }
}

fn join(comps: &[OsString]) -> OsString {
    let mut s = OsString::new();
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            s.push("/");
        }
        s.push(c);
    }
    if s.is_empty() {
        s.push(".");
    }
    s
}

/// Builds the "refused" error for `entry`.
pub fn refuse(entry: &str, reason: impl Into<String>) -> Error {
    Error::LayerEntry {
        entry: entry.to_owned(),
        reason: reason.into(),
    }
}

/// Opens directories below the target, creating missing ones, with a one-entry cache (tars list
/// a directory's files together).
pub struct Resolver {
    root: OwnedFd,
    cached: Option<(OsString, OwnedFd)>,
}

impl Resolver {
    /// Resolves below the directory `root`.
    pub fn new(root: OwnedFd) -> Resolver {
        Resolver { root, cached: None }
    }

    /// The target directory.
    pub fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    /// The directory `comps` (all of it) names, made (0755, root-owned) where missing.
    pub fn dir(&mut self, comps: &[OsString], entry: &str) -> Result<BorrowedFd<'_>> {
        let rel = join(comps);
        if self.cached.as_ref().map(|(p, _)| p != &rel).unwrap_or(true) {
            let fd = self.open_or_make(comps, &rel, entry)?;
            self.cached = Some((rel, fd));
        }
        Ok(self
            .cached
            .as_ref()
            .map(|(_, fd)| fd.as_fd())
            .expect("just cached"))
    }

    /// The existing directory `comps` names (nothing is made), beneath the target.
    pub fn existing_dir(&self, comps: &[OsString]) -> nix::Result<OwnedFd> {
        sys::open_dir_beneath(self.root.as_fd(), &join(comps))
    }

    fn open_or_make(&self, comps: &[OsString], rel: &OsStr, entry: &str) -> Result<OwnedFd> {
        match sys::open_dir_beneath(self.root.as_fd(), rel) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(resolve_error(entry, rel, e)),
        }
        // Walk down from the target, making each missing level; every step re-resolves from
        // the target so a symlink met on the way is still held beneath it.
        let mut fd = self
            .root
            .try_clone()
            .map_err(|e| refuse(entry, format!("dup: {e}")))?;
        for i in 0..comps.len() {
            let prefix = join(&comps[..=i]);
            fd = match sys::open_dir_beneath(self.root.as_fd(), &prefix) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => {
                    match sys::mkdir_at(fd.as_fd(), &comps[i], 0o755) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(resolve_error(entry, &prefix, e)),
                    }
                    sys::open_dir_beneath(self.root.as_fd(), &prefix)
                        .map_err(|e| resolve_error(entry, &prefix, e))?
                }
                Err(e) => return Err(resolve_error(entry, &prefix, e)),
            };
        }
        Ok(fd)
    }
}

fn resolve_error(entry: &str, rel: &OsStr, e: Errno) -> Error {
    let rel = rel.to_string_lossy();
    match e {
        Errno::EXDEV => refuse(
            entry,
            format!("{rel} resolves outside the target through a symlink"),
        ),
        Errno::ELOOP => refuse(entry, format!("{rel}: too many levels of symlinks")),
        Errno::ENOTDIR => refuse(entry, format!("{rel} is not a directory")),
        e => refuse(entry, format!("open {rel}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_normalises_and_refuses_escapes() {
        let p = EntryPath::parse(b"./a//b/./c/", "path").unwrap();
        assert_eq!(p.comps, ["a", "b", "c"]);
        assert_eq!(p.name().unwrap(), "c");
        assert_eq!(EntryPath::parse(b"./", "path").unwrap().comps.len(), 0);
        let e = EntryPath::parse(b"a/../../etc", "path")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`..`"), "{e}");
        let e = EntryPath::parse(b"/etc/passwd", "link target")
            .unwrap_err()
            .to_string();
        assert!(e.contains("link target is absolute"), "{e}");
    }
}
