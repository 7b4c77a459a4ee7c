//! COPY and ADD: sources from the build context (minus `.dockerignore`d files) or another
//! stage's root, their content hash for the cache, and writing them into a mounted rootfs
//! without following the image's symlinks out of it.

use crate::ignore::{has_glob, match_parts, parts, Ignore};
use crate::users::Ids;
use dm_content::Hasher;
use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Where sources come from: a directory and what in it is ignored.
pub struct Source<'a> {
    /// The context dir, or another stage's mounted root.
    pub root: &'a Path,
    /// The context's `.dockerignore` (empty for a stage).
    pub ignore: &'a Ignore,
}

/// How to write.
pub struct Options {
    /// Owner of everything written.
    pub owner: Ids,
    /// Mode for every file and directory written.
    pub chmod: Option<u32>,
    /// ADD: local tar archives are extracted.
    pub extract: bool,
}

impl Source<'_> {
    /// The paths `patterns` name, relative to the root; an error names a pattern that matches
    /// nothing.
    pub fn resolve(&self, patterns: &[String]) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for p in patterns {
            let pat = parts(p);
            if has_glob(p) {
                let before = out.len();
                for e in walkdir::WalkDir::new(self.root)
                    .min_depth(1)
                    .sort_by_file_name()
                {
                    let Ok(e) = e else { continue };
                    let rel = rel_str(self.root, e.path());
                    if !self.ignore.excluded(&rel) && match_parts(&pat, &parts(&rel)) {
                        out.push(rel);
                    }
                }
                if out.len() == before {
                    return Err(format!("no source files were specified by {p:?}"));
                }
            } else {
                let rel = pat.join("/");
                let exists = self.root.join(&rel).symlink_metadata().is_ok();
                if !exists || (!rel.is_empty() && self.ignore.excluded(&rel)) {
                    return Err(format!(
                        "{p:?} not found in the build context (or .dockerignored)"
                    ));
                }
                out.push(rel);
            }
        }
        Ok(out)
    }

    /// Hash of the sources' names, types, modes, owners and contents (not mtimes).
    pub fn hash(&self, sources: &[String]) -> std::io::Result<String> {
        let mut h = Hasher::new();
        for s in sources {
            for e in walkdir::WalkDir::new(self.root.join(s)).sort_by_file_name() {
                let e = e.map_err(std::io::Error::other)?;
                let rel = rel_str(self.root, e.path());
                if self.ignore.excluded(&rel) && !self.ignore.may_reinclude_under(&rel) {
                    continue;
                }
                let m = e.path().symlink_metadata()?;
                h.update(format!("{rel}\0{:o}\0{}\0{}\0", m.mode(), m.uid(), m.gid()).as_bytes());
                if m.file_type().is_symlink() {
                    h.update(std::fs::read_link(e.path())?.as_os_str().as_bytes());
                } else if m.is_file() {
                    // Streamed: a context may hold files larger than memory.
                    let mut f = std::fs::File::open(e.path())?;
                    let mut buf = vec![0u8; 1 << 16];
                    loop {
                        let n = std::io::Read::read(&mut f, &mut buf)?;
                        if n == 0 {
                            break;
                        }
                        h.update(&buf[..n]);
                    }
                }
                h.update(b"\n");
            }
        }
        Ok(h.digest().to_string())
    }

    /// Copies `sources` to `dest` (absolute in the image) under `rootfs`.
    pub fn copy(
        &self,
        sources: &[String],
        rootfs: &Path,
        dest: &str,
        opts: &Options,
    ) -> std::io::Result<()> {
        let dest_is_dir = dest.ends_with('/') || sources.len() > 1;
        let target = resolve_in(rootfs, dest)?;
        for s in sources {
            let from = self.root.join(s);
            let meta = from.symlink_metadata()?;
            if meta.is_dir() {
                self.copy_tree(&from, rootfs, &target, opts)?;
            } else if opts.extract && is_tar(&from) {
                mkdirs(rootfs, &target, opts)?;
                extract(&from, &target)?;
            } else {
                let into_dir = dest_is_dir || target.is_dir();
                let to = if into_dir {
                    mkdirs(rootfs, &target, opts)?;
                    target.join(from.file_name().unwrap_or_default())
                } else {
                    if let Some(parent) = target.parent() {
                        mkdirs(rootfs, parent, opts)?;
                    }
                    target.clone()
                };
                copy_one(&from, &to, &meta, opts)?;
            }
        }
        Ok(())
    }

    fn copy_tree(
        &self,
        from: &Path,
        rootfs: &Path,
        target: &Path,
        opts: &Options,
    ) -> std::io::Result<()> {
        mkdirs(rootfs, target, opts)?;
        let walk = walkdir::WalkDir::new(from).min_depth(1).sort_by_file_name();
        for e in walk {
            let e = e.map_err(std::io::Error::other)?;
            let rel_ctx = rel_str(self.root, e.path());
            if self.ignore.excluded(&rel_ctx) {
                continue;
            }
            let rel = e.path().strip_prefix(from).map_err(std::io::Error::other)?;
            let to = target.join(rel);
            let meta = e.path().symlink_metadata()?;
            if meta.is_dir() {
                if to.symlink_metadata().is_err() {
                    std::fs::create_dir(&to)?;
                }
                finish(&to, &meta, opts)?;
            } else {
                copy_one(e.path(), &to, &meta, opts)?;
            }
        }
        Ok(())
    }
}

fn copy_one(
    from: &Path,
    to: &Path,
    meta: &std::fs::Metadata,
    opts: &Options,
) -> std::io::Result<()> {
    if to.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
        std::fs::remove_file(to)?;
    }
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
    } else {
        std::fs::copy(from, to)?;
    }
    finish(to, meta, opts)
}

/// Owner and mode of a written entry.
fn finish(to: &Path, meta: &std::fs::Metadata, opts: &Options) -> std::io::Result<()> {
    std::os::unix::fs::lchown(to, Some(opts.owner.uid), Some(opts.owner.gid))?;
    if !meta.file_type().is_symlink() {
        let mode = opts.chmod.unwrap_or(meta.mode() & 0o7777);
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode))?;
    }
    if !meta.is_dir() {
        // COPY keeps the source's modification time, as docker's does.
        let mtime = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
        utimensat(None, to, &mtime, &mtime, UtimensatFlags::NoFollowSymlink)
            .map_err(std::io::Error::from)?;
    }
    Ok(())
}

/// Creates `dir` (inside `rootfs`) and its missing parents, owned as COPY's files are.
fn mkdirs(rootfs: &Path, dir: &Path, opts: &Options) -> std::io::Result<()> {
    let mut cur = rootfs.to_path_buf();
    for c in dir
        .strip_prefix(rootfs)
        .map_err(std::io::Error::other)?
        .components()
    {
        cur.push(c);
        if cur.symlink_metadata().is_err() {
            std::fs::create_dir(&cur)?;
            std::os::unix::fs::lchown(&cur, Some(opts.owner.uid), Some(opts.owner.gid))?;
            std::fs::set_permissions(&cur, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    Ok(())
}

/// `path` (absolute in the image) under `rootfs`, with the image's symlinks followed as if
/// `rootfs` were `/`: an absolute link target restarts at `rootfs`, `..` stops there.
pub fn resolve_in(rootfs: &Path, path: &str) -> std::io::Result<PathBuf> {
    let mut todo: Vec<PathBuf> = vec![PathBuf::from(path)];
    let mut cur = rootfs.to_path_buf();
    let mut hops = 0;
    while let Some(p) = todo.pop() {
        let comps: Vec<Component> = p.components().collect();
        for (i, c) in comps.iter().enumerate() {
            match c {
                Component::RootDir => cur = rootfs.to_path_buf(),
                Component::ParentDir if cur != rootfs => {
                    cur.pop();
                }
                Component::Normal(n) => {
                    let next = cur.join(n);
                    match std::fs::read_link(&next) {
                        Ok(target) => {
                            hops += 1;
                            if hops > 40 {
                                return Err(std::io::Error::other(format!(
                                    "{path}: too many symlinks"
                                )));
                            }
                            let rest: PathBuf = comps[i + 1..].iter().collect();
                            todo.push(rest);
                            todo.push(target);
                            break;
                        }
                        Err(_) => cur = next,
                    }
                }
                _ => {}
            }
        }
    }
    Ok(cur)
}

fn rel_str(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

/// A tar, plain or gzipped, by its first bytes.
fn is_tar(p: &Path) -> bool {
    let mut data = Vec::new();
    let read = std::fs::File::open(p)
        .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, 512), &mut data));
    if read.is_err() {
        return false;
    }
    data.starts_with(&[0x1f, 0x8b]) || data.get(257..262) == Some(b"ustar")
}

fn extract(from: &Path, to: &Path) -> std::io::Result<()> {
    let f = std::fs::File::open(from)?;
    let mut head = [0u8; 2];
    std::io::Read::read_exact(&mut &f, &mut head)?;
    let f = std::fs::File::open(from)?;
    let reader: Box<dyn std::io::Read> = if head == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(f))
    } else {
        Box::new(f)
    };
    let mut a = tar::Archive::new(reader);
    a.set_preserve_permissions(true);
    a.set_preserve_ownerships(true);
    a.set_overwrite(true);
    a.unpack(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_stay_inside_the_rootfs() {
        let dir = dm_testkit::TempDir::new("dm-build-resolve");
        let r = dir.path();
        std::fs::create_dir_all(r.join("real/bin")).unwrap();
        std::os::unix::fs::symlink("/real", r.join("usr")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", r.join("real/up")).unwrap();
        assert_eq!(resolve_in(r, "/usr/bin/x").unwrap(), r.join("real/bin/x"));
        assert_eq!(
            resolve_in(r, "/usr/up/passwd").unwrap(),
            r.join("etc/passwd")
        );
        assert_eq!(resolve_in(r, "/a/../../b").unwrap(), r.join("b"));
    }
}
