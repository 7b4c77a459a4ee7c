//! One `mounts[]` entry: resolved inside the rootfs, mounted, remounted with its flags.

use super::options::{self, MountOptions};
use super::resolve::{fd_path, open_in_root, Create};
use crate::error::{Error, Result, SysContext};
use nix::mount::{mount, MsFlags};
use oci_spec::runtime::Mount;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// What mounting needs to know about the container.
pub struct MountCtx<'a> {
    /// O_PATH fd of the rootfs (the resolution root).
    pub root: &'a OwnedFd,
    /// The bundle dir (relative bind sources are relative to it).
    pub bundle: &'a Path,
    /// The container's cgroup, for `cgroup` mounts.
    pub cgroup: &'a dm_cgroups::Cgroup,
    /// Idmapped trees the parent made, by mount index.
    pub idmapped: &'a super::idmap::Trees,
    /// `linux.mountLabel`, for the filesystems mounted for the container.
    pub mount_label: Option<&'a str>,
}

/// What a bind mount attaches.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// A path, bound with mount(2).
    Path(&'a Path),
    /// A detached tree (idmapped), attached with move_mount(2).
    Tree(BorrowedFd<'a>),
}

/// /proc files that lxcfs-style bind mounts may cover; nothing else below /proc may be a
/// mount target (CVE-2019-19921 class: a mount over /proc/self/attr and friends).
const PROC_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/sys/kernel/ns_last_pid",
];

/// Cleans `dest` lexically (no symlinks): `/proc/./self/../x` → `/proc/x`.
fn clean(dest: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in dest.components() {
        match c {
            std::path::Component::Normal(s) => out.push(s),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn check_destination(i: usize, typ: &str, dest: &Path) -> Result<()> {
    let d = clean(dest);
    if typ == "proc" && d != Path::new("/proc") {
        return Err(Error::Config(format!(
            "mounts[{i}]: proc may only be mounted at /proc, not {}",
            dest.display()
        )));
    }
    if d.starts_with("/proc") && d != Path::new("/proc") {
        let ok = PROC_ALLOWED.iter().any(|p| d == Path::new(p));
        if !ok {
            return Err(Error::Config(format!(
                "mounts[{i}].destination: {} is inside /proc and not allowed",
                dest.display()
            )));
        }
    }
    Ok(())
}

/// Checks where `dest` really lands: symlinks in the rootfs are followed inside it, so
/// `/x/attr` with `/x -> /proc/self` passes the lexical check but mounts over
/// /proc/<pid>/attr (CVE-2019-19921). A missing destination is checked when it is created
/// (its existing parents are plain directories by then).
fn check_resolved(root: &OwnedFd, i: usize, typ: &str, dest: &Path) -> Result<()> {
    let Ok(target) = open_in_root(root, dest, Create::No) else {
        return Ok(());
    };
    let real = |fd: &OwnedFd| {
        std::fs::read_link(fd_path(fd))
            .map_err(|e| Error::Child(format!("mounts[{i}].destination: resolve: {e}")))
    };
    let (root, target) = (real(root)?, real(&target)?);
    let inside = Path::new("/").join(target.strip_prefix(&root).unwrap_or(&target));
    check_destination(i, typ, &inside).map_err(|e| {
        Error::Config(format!(
            "{e} (mounts[{i}].destination {} resolves to {} in the rootfs)",
            dest.display(),
            inside.display()
        ))
    })
}

/// Mounts entry `i` of the spec's mounts.
pub fn mount_entry(ctx: &MountCtx, i: usize, m: &Mount) -> Result<()> {
    let typ = m.typ().as_deref().unwrap_or("");
    let opts = options::for_mount(i, m.options().as_deref().unwrap_or(&[]))?;
    let dest = m.destination();
    check_destination(i, typ, dest)?;
    check_resolved(ctx.root, i, typ, dest)?;
    let ctxmsg = || format!("mounts[{i}] ({})", dest.display());
    if typ == "cgroup" && !opts.bind {
        return mount_cgroup(ctx, dest, &opts)
            .map_err(|e| Error::Child(format!("{}: {e}", ctxmsg())));
    }
    if opts.bind || typ == "bind" {
        let src = m.source().clone().unwrap_or_default();
        let src = if src.is_absolute() {
            src
        } else {
            ctx.bundle.join(src)
        };
        let meta = std::fs::metadata(&src)
            .map_err(|e| Error::Config(format!("mounts[{i}].source: {}: {e}", src.display())))?;
        let kind = if meta.is_dir() {
            Create::Dir
        } else {
            Create::File
        };
        let source = match ctx.idmapped.iter().find(|(j, _)| *j == i) {
            Some((_, tree)) => Source::Tree(tree.as_fd()),
            None => Source::Path(&src),
        };
        bind(ctx, source, dest, kind, &opts)
            .map_err(|e| Error::Child(format!("{}: {e}", ctxmsg())))?;
    } else {
        let target = open_in_root(ctx.root, dest, Create::Dir)?;
        let src = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
        let flags = opts.flags.difference(MsFlags::MS_REMOUNT);
        let data = crate::process::lsm::mount_data(typ, &opts.data, ctx.mount_label);
        let data = (!data.is_empty()).then_some(data.as_str());
        match mount(Some(&src), &fd_path(&target), Some(typ), flags, data) {
            Ok(()) => {}
            // Without a new netns (sysfs) or ipcns (mqueue) the kernel refuses a fresh
            // instance; fall back to the host's, as runc does.
            Err(nix::errno::Errno::EPERM) if typ == "sysfs" || typ == "mqueue" => {
                let host = if typ == "sysfs" {
                    "/sys"
                } else {
                    "/dev/mqueue"
                };
                let mut o = options::parse(&["rbind".to_owned()]);
                o.flags |= flags;
                bind(ctx, Source::Path(Path::new(host)), dest, Create::Dir, &o)?;
            }
            Err(e) => return Err(e).sys(ctxmsg),
        }
    }
    propagate(ctx, dest, &opts)
}

/// Bind-mounts `src` at `dest` inside the rootfs, then applies the other flags by remounting.
fn bind(ctx: &MountCtx, src: Source, dest: &Path, kind: Create, opts: &MountOptions) -> Result<()> {
    let target = open_in_root(ctx.root, dest, kind)?;
    let rec = opts.flags & MsFlags::MS_REC;
    match src {
        Source::Path(src) => mount(
            Some(src),
            &fd_path(&target),
            None::<&str>,
            MsFlags::MS_BIND | rec,
            None::<&str>,
        )
        .sys(|| format!("bind {} at {}", src.display(), dest.display()))?,
        Source::Tree(tree) => crate::sys::move_mount_onto(tree, target.as_fd())
            .sys(|| format!("attach idmapped mount at {}", dest.display()))?,
    }
    let extra = opts
        .flags
        .difference(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    if !extra.is_empty() {
        // Reopen: the old fd names the directory under the new mount, not the mount.
        let target = open_in_root(ctx.root, dest, Create::No)?;
        remount(&fd_path(&target), extra | MsFlags::MS_BIND)?;
    }
    Ok(())
}

fn propagate(ctx: &MountCtx, dest: &Path, opts: &MountOptions) -> Result<()> {
    if opts.propagation.is_empty() {
        return Ok(());
    }
    let target = open_in_root(ctx.root, dest, Create::No)?;
    for p in &opts.propagation {
        mount(
            None::<&str>,
            &fd_path(&target),
            None::<&str>,
            *p,
            None::<&str>,
        )
        .sys(|| format!("set propagation of {}", dest.display()))?;
    }
    Ok(())
}

/// Remounts `path` with `flags`; if the kernel refuses because the mount has locked flags
/// (in a user namespace), retries keeping those flags.
pub fn remount(path: &Path, flags: MsFlags) -> Result<()> {
    let f = flags | MsFlags::MS_REMOUNT;
    match mount(None::<&str>, path, None::<&str>, f, None::<&str>) {
        Err(nix::errno::Errno::EPERM) => {
            let locked = locked_flags(path)?;
            mount(None::<&str>, path, None::<&str>, f | locked, None::<&str>)
                .sys(|| format!("remount {}", path.display()))
        }
        r => r.sys(|| format!("remount {}", path.display())),
    }
}

fn locked_flags(path: &Path) -> Result<MsFlags> {
    use nix::sys::statvfs::{statvfs, FsFlags};
    let st = statvfs(path).sys(|| format!("statvfs {}", path.display()))?;
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (s, m) in [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(s) {
            out |= m;
        }
    }
    Ok(out)
}

/// A `cgroup` mount: cgroup2 on unified hosts; on v1/hybrid a tmpfs with one read-only bind of
/// the container's own directory per hierarchy, so the container sees only its cgroup.
fn mount_cgroup(ctx: &MountCtx, dest: &Path, opts: &MountOptions) -> Result<()> {
    let hier = ctx.cgroup.hierarchies();
    let flags = opts.flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    if hier.len() == 1 && hier[0].0.is_empty() {
        let target = open_in_root(ctx.root, dest, Create::Dir)?;
        return mount(
            Some("cgroup2"),
            &fd_path(&target),
            Some("cgroup2"),
            opts.flags,
            None::<&str>,
        )
        .sys(|| "mount cgroup2".into());
    }
    let target = open_in_root(ctx.root, dest, Create::Dir)?;
    mount(
        Some("tmpfs"),
        &fd_path(&target),
        Some("tmpfs"),
        flags,
        Some("mode=755"),
    )
    .sys(|| "mount tmpfs for cgroups".into())?;
    for (name, host) in &hier {
        let sub = dest.join(if name.is_empty() { "unified" } else { name });
        let o = MountOptions {
            flags: MsFlags::MS_BIND | MsFlags::MS_REC | (opts.flags & MsFlags::MS_RDONLY) | flags,
            bind: true,
            ..Default::default()
        };
        bind(ctx, Source::Path(host), &sub, Create::Dir, &o)?;
    }
    if opts.flags.contains(MsFlags::MS_RDONLY) {
        let target = open_in_root(ctx.root, dest, Create::No)?;
        remount(&fd_path(&target), flags | MsFlags::MS_RDONLY)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_destinations() {
        check_destination(0, "proc", Path::new("/proc")).unwrap();
        assert!(check_destination(0, "proc", Path::new("/proc/self/attr")).is_err());
        assert!(check_destination(0, "bind", Path::new("/proc/self/../1/attr")).is_err());
        assert!(check_destination(0, "proc", Path::new("/tmp/proc")).is_err());
        check_destination(0, "bind", Path::new("/proc/cpuinfo")).unwrap();
        check_destination(0, "tmpfs", Path::new("/tmp")).unwrap();
    }

    /// A destination that is lexically fine but reaches /proc through a symlink in the rootfs
    /// was mounted over (the lexical check alone let `/x/attr`, `/x -> /proc/1`, through).
    #[test]
    fn destinations_are_checked_where_they_resolve() {
        let dir = dm_testkit::TempDir::new("dm-mount-dest");
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("proc/1/attr")).unwrap();
        std::fs::create_dir_all(rootfs.join("data")).unwrap();
        std::os::unix::fs::symlink("/proc/1", rootfs.join("x")).unwrap();
        std::os::unix::fs::symlink("../data", rootfs.join("d")).unwrap();
        let root = super::super::resolve::open_root(&rootfs).unwrap();
        let e = check_resolved(&root, 4, "bind", Path::new("/x/attr"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("mounts[4].destination") && e.contains("/proc/1/attr"),
            "{e}"
        );
        check_resolved(&root, 0, "bind", Path::new("/d")).unwrap();
        check_resolved(&root, 0, "bind", Path::new("/missing/dir")).unwrap();
        check_resolved(&root, 0, "proc", Path::new("/proc")).unwrap();
    }
}
