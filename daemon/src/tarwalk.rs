//! Tar streams of a directory tree read through directory fds (never host paths, never
//! following a symlink), for `docker export` and `GET /containers/{id}/archive`; and the
//! `X-Docker-Container-Path-Stat` of a path.

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstatat, FileStat, Mode, SFlag};
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// Go's `os.FileMode` type bits, which docker's stat header carries.
const GO_DIR: u32 = 1 << 31;
const GO_SYMLINK: u32 = 1 << 27;
const GO_DEVICE: u32 = 1 << 26;
const GO_PIPE: u32 = 1 << 25;
const GO_SOCKET: u32 = 1 << 24;
const GO_SETUID: u32 = 1 << 23;
const GO_SETGID: u32 = 1 << 22;
const GO_CHARDEV: u32 = 1 << 21;
const GO_STICKY: u32 = 1 << 20;

/// A Unix `st_mode` as Go's `os.FileMode`.
pub fn go_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    m |= match SFlag::from_bits_truncate(st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFDIR => GO_DIR,
        SFlag::S_IFLNK => GO_SYMLINK,
        SFlag::S_IFBLK => GO_DEVICE,
        SFlag::S_IFCHR => GO_DEVICE | GO_CHARDEV,
        SFlag::S_IFIFO => GO_PIPE,
        SFlag::S_IFSOCK => GO_SOCKET,
        _ => 0,
    };
    for (bit, go) in [
        (0o4000, GO_SETUID),
        (0o2000, GO_SETGID),
        (0o1000, GO_STICKY),
    ] {
        if st_mode & bit != 0 {
            m |= go;
        }
    }
    m
}

/// `lstat` of `name` in directory `dir`.
pub fn lstat_at(dir: &OwnedFd, name: &OsStr) -> nix::Result<FileStat> {
    fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW)
}

/// `readlink` of `name` in directory `dir`.
pub fn readlink_at(dir: &OwnedFd, name: &OsStr) -> nix::Result<OsString> {
    nix::fcntl::readlinkat(Some(dir.as_raw_fd()), name)
}

fn open_at(dir: &OwnedFd, name: &OsStr, flags: OFlag) -> nix::Result<OwnedFd> {
    let fd = nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        name,
        flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: openat returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn is(st: &FileStat, kind: SFlag) -> bool {
    st.st_mode & SFlag::S_IFMT.bits() == kind.bits()
}

/// Exactly `size` bytes of a file that may shrink or grow while it is read (zeros fill up).
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left as usize);
        let mut n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            buf[..want].fill(0);
            n = want;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Writes entries to a tar builder, walking from directory fds.
pub struct Walker<W: Write> {
    /// The tar being written.
    pub tar: tar::Builder<W>,
}

impl<W: Write> Walker<W> {
    /// A walker writing to `w`.
    pub fn new(w: W) -> Walker<W> {
        let mut tar = tar::Builder::new(w);
        tar.mode(tar::HeaderMode::Complete);
        Walker { tar }
    }

    /// Adds `name` of directory `dir` as `path` in the tar (with everything below it if it is
    /// a directory). Entries that vanish meanwhile are left out.
    pub fn add(&mut self, dir: &OwnedFd, name: &OsStr, path: &str) -> std::io::Result<()> {
        let st = match lstat_at(dir, name) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let mut h = tar::Header::new_gnu();
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(st.st_uid as u64);
        h.set_gid(st.st_gid as u64);
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        if is(&st, SFlag::S_IFDIR) {
            h.set_entry_type(tar::EntryType::Directory);
            let p = if path.ends_with('/') || path == "." {
                path.to_owned()
            } else {
                format!("{path}/")
            };
            self.tar.append_data(&mut h, &p, std::io::empty())?;
            let sub = match open_at(dir, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            let mut names: Vec<OsString> =
                nix::dir::Dir::from_fd(std::os::fd::IntoRawFd::into_raw_fd(sub.try_clone()?))?
                    .iter()
                    .filter_map(Result::ok)
                    .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_owned())
                    .filter(|n| n != "." && n != "..")
                    .collect();
            names.sort();
            let prefix = if p == "." { "" } else { p.as_str() };
            for n in names {
                let child = format!("{prefix}{}", n.to_string_lossy());
                self.add(&sub, &n, &child)?;
            }
            return Ok(());
        }
        if is(&st, SFlag::S_IFLNK) {
            let target = match readlink_at(dir, name) {
                Ok(t) => t,
                Err(Errno::ENOENT) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            h.set_entry_type(tar::EntryType::Symlink);
            return self.tar.append_link(&mut h, path, target);
        }
        if is(&st, SFlag::S_IFREG) {
            // O_NONBLOCK: a fifo swapped in meanwhile must not hang the walk.
            let fd = match open_at(dir, name, OFlag::O_RDONLY | OFlag::O_NONBLOCK) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            let f = std::fs::File::from(fd);
            let meta = f.metadata()?;
            if !meta.is_file() {
                return Ok(());
            }
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(meta.len());
            let data = Exact {
                inner: f,
                left: meta.len(),
            };
            return self.tar.append_data(&mut h, path, data);
        }
        let kind = if is(&st, SFlag::S_IFCHR) {
            tar::EntryType::Char
        } else if is(&st, SFlag::S_IFBLK) {
            tar::EntryType::Block
        } else if is(&st, SFlag::S_IFIFO) {
            tar::EntryType::Fifo
        } else {
            // Sockets have no tar form.
            return Ok(());
        };
        h.set_entry_type(kind);
        let rdev = st.st_rdev;
        h.set_device_major(nix::sys::stat::major(rdev) as u32)?;
        h.set_device_minor(nix::sys::stat::minor(rdev) as u32)?;
        self.tar.append_data(&mut h, path, std::io::empty())
    }

    /// Ends the archive.
    pub fn finish(self) -> std::io::Result<W> {
        self.tar.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_carry_go_type_bits() {
        assert_eq!(go_mode(0o040755), GO_DIR | 0o755);
        assert_eq!(go_mode(0o120777), GO_SYMLINK | 0o777);
        assert_eq!(go_mode(0o100644), 0o644);
        assert_eq!(go_mode(0o104755), GO_SETUID | 0o755);
        assert_eq!(go_mode(0o020666), GO_DEVICE | GO_CHARDEV | 0o666);
    }
}
