//! One tar entry at a time onto the target, every path resolved beneath it.

use super::path::{refuse, EntryPath, Resolver};
use super::{ApplyOptions, ApplyStats, DevicePolicy};
use crate::{sys, Error, Result};
use nix::errno::Errno;
use nix::sys::stat::SFlag;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use tar::EntryType;

const WHITEOUT: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
const OPAQUE_XATTR: &[u8] = b"trusted.overlay.opaque";
const OVERLAY_XATTRS: &[u8] = b"trusted.overlay.";

/// Owner, mode, mtime and xattrs an entry asks for.
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: i64,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

struct Ctx<'a> {
    res: Resolver,
    opts: &'a ApplyOptions,
    buf: Vec<u8>,
    /// Directories whose mtime is set last, once nothing more is created in them.
    dir_times: Vec<(Vec<OsString>, i64)>,
}

/// Reads the tar stream and applies every entry.
pub fn apply_tar(
    reader: impl Read,
    root: OwnedFd,
    opts: &ApplyOptions,
    stats: &mut ApplyStats,
) -> Result<()> {
    let mut ar = tar::Archive::new(reader);
    let mut cx = Ctx {
        res: Resolver::new(root),
        opts,
        buf: vec![0; 256 * 1024],
        dir_times: Vec::new(),
    };
    let read_err = |e: std::io::Error| Error::LayerRead(e.to_string());
    for e in ar.entries().map_err(read_err)? {
        let mut e = e.map_err(read_err)?;
        cx.entry(&mut e, stats)?;
    }
    // Directories last, deepest first. One that a later entry replaced or removed is no longer
    // there to stamp, which is fine: only directories still present carry the layer's times.
    for (comps, mtime) in std::mem::take(&mut cx.dir_times).into_iter().rev() {
        let (parent, name) = match comps.split_last() {
            Some((name, parent)) => (parent, name.as_os_str()),
            None => (&[][..], OsStr::new(".")),
        };
        if let Ok(dir) = cx.res.existing_dir(parent) {
            let _ = sys::set_times_at(dir.as_fd(), name, mtime);
        }
    }
    Ok(())
}

impl Ctx<'_> {
    fn entry<R: Read>(&mut self, e: &mut tar::Entry<R>, stats: &mut ApplyStats) -> Result<()> {
        let raw = e.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let kind = e.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader) {
            stats.skipped += 1;
            return Ok(());
        }
        let path = EntryPath::parse(&raw, "path")?;
        stats.entries += 1;
        let Some(name) = path.name().map(OsStr::to_owned) else {
            // "./" itself: only its attributes can change.
            if !kind.is_dir() {
                return Err(refuse(&shown, "the target itself can only be a directory"));
            }
            let meta = self.owned(meta(e, &shown)?);
            let root = self
                .res
                .root()
                .try_clone_to_owned()
                .map_err(|e| refuse(&shown, format!("dup: {e}")))?;
            set_meta_fd(root.as_fd(), &meta, &shown, false)?;
            self.dir_times.push((Vec::new(), meta.mtime));
            return Ok(());
        };
        let parent = &path.comps[..path.comps.len() - 1];
        let nb = name.as_bytes();
        if nb.starts_with(WHITEOUT) {
            return self.whiteout(parent, nb, &shown, stats);
        }
        let meta = self.owned(meta(e, &shown)?);
        let link = e.link_name_bytes().map(|l| l.into_owned());
        let hardlink_src = match (kind, &link) {
            (EntryType::Link, Some(l)) => Some(self.hardlink_source(l, &shown)?),
            (EntryType::Link, None) => return Err(refuse(&shown, "hard link without a target")),
            _ => None,
        };
        if matches!(kind, EntryType::Char | EntryType::Block) && !is_whiteout_dev(e) {
            match self.opts.devices {
                DevicePolicy::Refuse => {
                    return Err(refuse(
                        &shown,
                        format!(
                            "{} device {}:{} refused (device nodes are not allowed in layers by default)",
                            if kind == EntryType::Char { "character" } else { "block" },
                            e.header().device_major().ok().flatten().unwrap_or(0),
                            e.header().device_minor().ok().flatten().unwrap_or(0)
                        ),
                    ))
                }
                DevicePolicy::Skip => {
                    stats.skipped += 1;
                    return Ok(());
                }
                DevicePolicy::Create => {}
            }
        }
        let sparse_holes = e
            .size()
            .saturating_sub(e.header().entry_size().unwrap_or(0));
        if kind.is_gnu_sparse() && sparse_holes > self.opts.max_sparse_holes {
            return Err(refuse(
                &shown,
                format!(
                    "sparse file of {} bytes declares {sparse_holes} bytes of holes, more than the {} allowed",
                    e.size(),
                    self.opts.max_sparse_holes
                ),
            ));
        }
        let dir = self.res.dir(parent, &shown)?;
        if self.opts.no_overwrite_dir_non_dir {
            keep_dir_kind(dir, &name, kind.is_dir(), &shown)?;
        }
        replace_existing(dir, &name, kind.is_dir(), &shown)?;
        let shown_ref = shown.as_str();
        let io = |op: &'static str| move |err: Errno| refuse(shown_ref, format!("{op}: {err}"));
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let mut f = sys::create_file(dir, &name).map_err(io("create"))?;
                let n = if kind.is_gnu_sparse() {
                    copy_sparse(e, &mut f, &mut self.buf)
                } else {
                    copy(e, &mut f, &mut self.buf)
                }
                .map_err(|err| refuse(&shown, format!("write: {err}")))?;
                stats.file_bytes += n;
                set_meta_fd(f.as_fd(), &meta, &shown, true)?;
            }
            EntryType::Directory => {
                match sys::mkdir_at(dir, &name, 0o700) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(err) => return Err(io("mkdir")(err)),
                }
                let d = sys::open_child_dir(dir, &name).map_err(io("open dir"))?;
                set_meta_fd(d.as_fd(), &meta, &shown, false)?;
                self.dir_times.push((path.comps.clone(), meta.mtime));
            }
            EntryType::Symlink => {
                let target = link.ok_or_else(|| refuse(&shown, "symlink without a target"))?;
                sys::symlink_at(OsStr::from_bytes(&target), dir, &name).map_err(io("symlink"))?;
                set_meta_at(dir, &name, &meta, &shown, true)?;
            }
            EntryType::Link => {
                let (src_dir, src_name) = hardlink_src.expect("checked above");
                sys::link_at(src_dir.as_fd(), &src_name, dir, &name).map_err(|err| match err {
                    Errno::ENOENT => {
                        refuse(&shown, "hard link target does not exist in the target")
                    }
                    Errno::EPERM => refuse(&shown, "hard link target is a directory"),
                    err => refuse(&shown, format!("link: {err}")),
                })?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (sflag, major, minor) = match kind {
                    EntryType::Fifo => (SFlag::S_IFIFO, 0, 0),
                    k => (
                        if k == EntryType::Char {
                            SFlag::S_IFCHR
                        } else {
                            SFlag::S_IFBLK
                        },
                        e.header().device_major().ok().flatten().unwrap_or(0) as u64,
                        e.header().device_minor().ok().flatten().unwrap_or(0) as u64,
                    ),
                };
                sys::mknod_at(dir, &name, sflag, 0o600, major, minor).map_err(io("mknod"))?;
                set_meta_at(dir, &name, &meta, &shown, false)?;
            }
            other => {
                return Err(refuse(
                    &shown,
                    format!("unsupported tar entry type {other:?}"),
                ));
            }
        }
        Ok(())
    }

    /// The entry's metadata with the owner the options force, if any.
    fn owned(&self, mut m: Meta) -> Meta {
        if let Some((uid, gid)) = self.opts.owner {
            (m.uid, m.gid) = (uid, gid);
        }
        m
    }

    fn whiteout(
        &mut self,
        parent: &[OsString],
        nb: &[u8],
        shown: &str,
        stats: &mut ApplyStats,
    ) -> Result<()> {
        if nb == OPAQUE {
            let dir = self.res.dir(parent, shown)?;
            sys::set_xattr_fd(dir, OPAQUE_XATTR, b"y").map_err(|e| {
                refuse(
                    shown,
                    format!("set {}: {e}", String::from_utf8_lossy(OPAQUE_XATTR)),
                )
            })?;
            stats.whiteouts += 1;
            return Ok(());
        }
        if nb.starts_with(b".wh..wh.") {
            stats.skipped += 1;
            return Ok(());
        }
        let hidden = OsStr::from_bytes(&nb[WHITEOUT.len()..]);
        if hidden.is_empty() || hidden == "." || hidden == ".." {
            return Err(refuse(shown, "whiteout names nothing"));
        }
        let dir = self.res.dir(parent, shown)?;
        replace_existing(dir, hidden, false, shown)?;
        sys::mknod_at(dir, hidden, SFlag::S_IFCHR, 0, 0, 0)
            .map_err(|e| refuse(shown, format!("make whiteout device: {e}")))?;
        stats.whiteouts += 1;
        Ok(())
    }

    fn hardlink_source(&mut self, link: &[u8], shown: &str) -> Result<(OwnedFd, OsString)> {
        let lp = EntryPath::parse(link, "hard link target")?;
        let name = lp
            .name()
            .ok_or_else(|| refuse(shown, "hard link to the target directory itself"))?
            .to_owned();
        let dir = self.res.dir(&lp.comps[..lp.comps.len() - 1], shown)?;
        let owned = dir
            .try_clone_to_owned()
            .map_err(|e| refuse(shown, format!("dup: {e}")))?;
        Ok((owned, name))
    }
}

/// A 0/0 character device is already an overlay whiteout (layers exported from an upper dir).
fn is_whiteout_dev<R: Read>(e: &tar::Entry<R>) -> bool {
    e.header().entry_type() == EntryType::Char
        && e.header().device_major().ok().flatten() == Some(0)
        && e.header().device_minor().ok().flatten() == Some(0)
}

/// Clears the way for a new node: an existing directory stays when a directory comes, anything
/// else goes (as tar and containerd do).
/// Refuses replacing a directory with a non-directory or the other way round.
fn keep_dir_kind(dir: BorrowedFd, name: &OsStr, new_is_dir: bool, shown: &str) -> Result<()> {
    let existing = sys::lstat_at(dir, name).map_err(|e| refuse(shown, format!("stat: {e}")))?;
    match existing {
        Some(SFlag::S_IFDIR) if !new_is_dir => Err(refuse(
            shown,
            "cannot overwrite directory with non-directory",
        )),
        Some(k) if new_is_dir && k != SFlag::S_IFDIR => Err(refuse(
            shown,
            "cannot overwrite non-directory with directory",
        )),
        _ => Ok(()),
    }
}

fn replace_existing(dir: BorrowedFd, name: &OsStr, new_is_dir: bool, shown: &str) -> Result<()> {
    let existing = sys::lstat_at(dir, name).map_err(|e| refuse(shown, format!("stat: {e}")))?;
    match existing {
        None => Ok(()),
        Some(SFlag::S_IFDIR) if new_is_dir => Ok(()),
        Some(SFlag::S_IFDIR) => sys::remove_tree_at(dir, name)
            .map_err(|e| refuse(shown, format!("remove existing directory: {e}"))),
        Some(_) => {
            sys::unlink_at(dir, name).map_err(|e| refuse(shown, format!("remove existing: {e}")))
        }
    }
}

fn meta<R: Read>(e: &mut tar::Entry<R>, shown: &str) -> Result<Meta> {
    let h = e.header();
    let bad =
        |what: &str, err: std::io::Error| refuse(shown, format!("bad {what} in header: {err}"));
    let mut m = Meta {
        uid: h.uid().map_err(|err| bad("uid", err))? as u32,
        gid: h.gid().map_err(|err| bad("gid", err))? as u32,
        mode: h.mode().map_err(|err| bad("mode", err))? & 0o7777,
        mtime: h.mtime().map_err(|err| bad("mtime", err))? as i64,
        xattrs: Vec::new(),
    };
    if let Some(pax) = e.pax_extensions().map_err(|err| bad("pax header", err))? {
        for ext in pax {
            let ext = ext.map_err(|err| bad("pax header", err))?;
            let key = ext.key_bytes();
            let num = || {
                std::str::from_utf8(ext.value_bytes())
                    .ok()
                    .and_then(|v| v.split('.').next()?.parse::<i64>().ok())
                    .ok_or_else(|| {
                        refuse(shown, format!("bad pax {}", String::from_utf8_lossy(key)))
                    })
            };
            match key {
                b"uid" => m.uid = num()? as u32,
                b"gid" => m.gid = num()? as u32,
                b"mtime" => m.mtime = num()?,
                k if k.starts_with(b"SCHILY.xattr.") => {
                    let name = &k[b"SCHILY.xattr.".len()..];
                    // Only whiteout handling may steer overlayfs (opaque, redirect, metacopy).
                    if !name.starts_with(OVERLAY_XATTRS) {
                        m.xattrs.push((name.to_vec(), ext.value_bytes().to_vec()));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(m)
}

fn set_meta_fd(fd: BorrowedFd, m: &Meta, shown: &str, times: bool) -> Result<()> {
    sys::set_owner_mode_times_fd(fd, m.uid, m.gid, m.mode, times.then_some(m.mtime))
        .map_err(|e| refuse(shown, format!("set owner/mode/mtime: {e}")))?;
    for (k, v) in &m.xattrs {
        sys::set_xattr_fd(fd, k, v).map_err(|e| {
            refuse(
                shown,
                format!("set xattr {}: {e}", String::from_utf8_lossy(k)),
            )
        })?;
    }
    Ok(())
}

fn set_meta_at(dir: BorrowedFd, name: &OsStr, m: &Meta, shown: &str, symlink: bool) -> Result<()> {
    let err = |op: &'static str| move |e: Errno| refuse(shown, format!("{op}: {e}"));
    sys::chown_at(dir, name, m.uid, m.gid).map_err(err("chown"))?;
    if !symlink {
        sys::chmod_at(dir, name, m.mode).map_err(err("chmod"))?;
    }
    for (k, v) in &m.xattrs {
        // Filesystems without xattrs, and symlinks (user.* is not allowed on them), skip it.
        match sys::set_xattr_at(dir, name, k, v) {
            Ok(()) | Err(Errno::ENOTSUP) => {}
            Err(Errno::EPERM) if symlink => {}
            Err(e) => return Err(err("set xattr")(e)),
        }
    }
    sys::set_times_at(dir, name, m.mtime).map_err(err("set mtime"))
}

fn copy(r: &mut impl Read, f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<u64> {
    let mut total = 0;
    loop {
        let n = match r.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        f.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// Writes only the non-zero chunks and sizes the file at the end, so holes stay holes.
fn copy_sparse(r: &mut impl Read, f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<u64> {
    let (mut off, mut written) = (0u64, 0u64);
    loop {
        let n = match r.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf[..n].iter().any(|b| *b != 0) {
            f.write_all_at(&buf[..n], off)?;
            written += n as u64;
        }
        off += n as u64;
    }
    f.set_len(off)?;
    Ok(written)
}
