//! A container's filesystem as `docker cp` and `docker export` see it, running or stopped:
//! its rootfs (the running container's mount, or its snapshot mounted for the occasion) with
//! its volumes and binds on top, assembled in a private mount namespace on a thread of its own,
//! so nothing of it is visible on the host or outlives the operation. A stopped container's
//! volumes with DriverOpts get their filesystem mounted in that namespace for the occasion, as
//! dockerd mounts them for a copy. Paths inside resolve with
//! openat2(RESOLVE_IN_ROOT): symlinks and `..` stay inside the container's root.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::mounts::MountPoint;
use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use std::ffi::OsStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What a view is made of, read from the record under the daemon's lock.
pub struct ViewPlan {
    /// The running container's mounted rootfs, or None to mount the snapshot.
    pub running_rootfs: Option<PathBuf>,
    /// The snapshot key (the container id).
    pub id: String,
    /// Volumes and binds to put on top (none for export).
    pub mounts: Vec<MountPoint>,
}

impl ViewPlan {
    /// The plan for container `id`: with its volumes and binds when `volumes`.
    pub fn of(d: &Daemon, id: &str, volumes: bool) -> ApiResult<ViewPlan> {
        let rec = d.record(id)?;
        let bundle_rootfs = d.bundle(id).join("rootfs");
        let running = rec.state.running || rec.state.status == "paused";
        Ok(ViewPlan {
            running_rootfs: running.then_some(bundle_rootfs),
            id: id.to_owned(),
            mounts: if volumes {
                rec.mount_points
                    .into_iter()
                    .filter(|m| m.kind != "tmpfs")
                    .collect()
            } else {
                vec![]
            },
        })
    }
}

/// Runs `f` with the container's root directory on a dedicated thread in a private mount
/// namespace; returns once the view is ready with `f`'s early answer (see [`Ready`]), while
/// `f` may go on (streaming) on that thread.
pub async fn with_view<T: Send + 'static>(
    d: &Arc<Daemon>,
    plan: ViewPlan,
    f: impl FnOnce(OwnedFd, Ready<T>) + Send + 'static,
) -> ApiResult<T> {
    let (tx, rx) = tokio::sync::oneshot::channel::<ApiResult<T>>();
    let d = d.clone();
    std::thread::Builder::new()
        .name("ctr-view".into())
        .spawn(move || {
            let mut ready = Ready(Some(tx));
            let mut volumes = vec![];
            match assemble(&d, &plan, &mut volumes) {
                Ok((root, mountpoint)) => {
                    f(root, ready);
                    if let Some(m) = mountpoint {
                        let _ = umount2(&m, MntFlags::MNT_DETACH);
                        let _ = std::fs::remove_dir(&m);
                    }
                }
                Err(e) => ready.send(Err(e)),
            }
            // Only this namespace has them; they would go with it, but not before the thread.
            for v in volumes {
                let _ = umount2(&v, MntFlags::MNT_DETACH);
            }
        })
        .map_err(|e| ApiError::internal(format!("spawn filesystem view thread: {e}")))?;
    rx.await
        .unwrap_or_else(|_| Err(ApiError::internal("filesystem view thread ended early")))
}

/// The early answer of a view's work (the first `send` wins).
pub struct Ready<T>(Option<tokio::sync::oneshot::Sender<ApiResult<T>>>);

impl<T> Ready<T> {
    /// Answers the waiting request.
    pub fn send(&mut self, r: ApiResult<T>) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(r);
        }
    }
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// In this thread: a private mount namespace, the rootfs, the volumes; the root fd and the
/// scratch mount point to remove afterwards. Volume filesystems mounted here for a stopped
/// container go to `volumes`.
fn assemble(
    d: &Daemon,
    plan: &ViewPlan,
    volumes: &mut Vec<PathBuf>,
) -> ApiResult<(OwnedFd, Option<PathBuf>)> {
    let (images, scratch) = (&d.images, d.cfg.exec_root.join("cp"));
    let fail =
        |what: &str, e: Errno| ApiError::internal(format!("container filesystem: {what}: {e}"));
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(|e| fail("unshare", e))?;
    // Nothing mounted from here on propagates back to the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| fail("make mounts private", e))?;
    let (root_path, mountpoint) = match &plan.running_rootfs {
        Some(p) => (p.clone(), None),
        None => {
            let m = scratch.join(format!(
                "{}-{}",
                &plan.id[..12.min(plan.id.len())],
                SEQ.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&m)
                .map_err(|e| ApiError::internal(format!("create {}: {e}", m.display())))?;
            let mounted = images
                .snapshotter()
                .mounts(&plan.id)
                .map_err(|e| ApiError::internal(e.to_string()))
                .and_then(|ms| {
                    dm_image::rootfs::mount(&ms, &m).map_err(|e| ApiError::internal(e.to_string()))
                });
            if let Err(e) = mounted {
                let _ = std::fs::remove_dir(&m);
                return Err(e);
            }
            (m.clone(), Some(m))
        }
    };
    let done = (|| {
        let root = open_root(&root_path).map_err(|e| fail("open rootfs", e))?;
        let mut sorted: Vec<&MountPoint> = plan.mounts.iter().collect();
        sorted.sort_by_key(|m| Path::new(&m.destination).components().count());
        for m in sorted {
            // A running container's volumes are mounted (on the host, so here too); a
            // stopped one's DriverOpts filesystem is mounted now, in this namespace only.
            if m.kind == "volume" && plan.running_rootfs.is_none() {
                if let Some(p) = d.volumes.mount_if_unmounted(&m.name)? {
                    volumes.push(p);
                }
            }
            bind(&root, m)?;
        }
        // Reopened: the root fd must see the mounts just made beneath it.
        open_root(&root_path).map_err(|e| fail("open rootfs", e))
    })();
    match done {
        Ok(root) => Ok((root, mountpoint)),
        Err(e) => {
            if let Some(m) = &mountpoint {
                let _ = umount2(m, MntFlags::MNT_DETACH);
                let _ = std::fs::remove_dir(m);
            }
            Err(e)
        }
    }
}

/// Binds one volume or bind source at its destination (made if missing) inside the view.
fn bind(root: &OwnedFd, m: &MountPoint) -> ApiResult<()> {
    let src_is_dir = Path::new(&m.source).is_dir();
    let target = make_in_root(root, &m.destination, src_is_dir).map_err(|e| {
        ApiError::internal(format!(
            "container filesystem: mount point {}: {e}",
            m.destination
        ))
    })?;
    let at = format!("/proc/self/fd/{}", target.as_raw_fd());
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(
        Some(m.source.as_str()),
        at.as_str(),
        None::<&str>,
        flags,
        None::<&str>,
    )
    .map_err(|e| {
        ApiError::internal(format!("container filesystem: bind {}: {e}", m.destination))
    })?;
    if !m.rw {
        let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        // The old fd names the directory beneath the new mount: look the path up again.
        let mounted = open_in(root, &m.destination, OFlag::O_PATH).map_err(|e| {
            ApiError::internal(format!("container filesystem: {}: {e}", m.destination))
        })?;
        let at = format!("/proc/self/fd/{}", mounted.as_raw_fd());
        mount(None::<&str>, at.as_str(), None::<&str>, ro, None::<&str>).map_err(|e| {
            ApiError::internal(format!(
                "container filesystem: read-only {}: {e}",
                m.destination
            ))
        })?;
    }
    Ok(())
}

/// Opens `/`-relative `path` inside `root` with `flags` (O_CLOEXEC added), resolving every
/// symlink and `..` as if `root` were `/`.
pub fn open_in(root: &OwnedFd, path: &str, flags: OFlag) -> nix::Result<OwnedFd> {
    let rel = relative(path);
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = openat2(root.as_raw_fd(), rel.as_path(), how)?;
    // SAFETY: openat2 returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `path` without its root (`.` for `/`).
pub fn relative(path: &str) -> PathBuf {
    let p: PathBuf = Path::new(path)
        .components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .collect();
    if p.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        p
    }
}

fn open_root(path: &Path) -> nix::Result<OwnedFd> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: open returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens (O_PATH) `path` inside `root`, making missing directories (and the last component
/// as a directory or an empty file).
fn make_in_root(root: &OwnedFd, path: &str, dir: bool) -> nix::Result<OwnedFd> {
    match open_in(root, path, OFlag::O_PATH) {
        Err(Errno::ENOENT) => {}
        r => return r,
    }
    let rel = relative(path);
    let comps: Vec<&OsStr> = rel.iter().collect();
    for i in 0..comps.len() {
        let prefix: PathBuf = comps[..=i].iter().collect();
        let prefix = prefix.to_string_lossy().into_owned();
        match open_in(root, &prefix, OFlag::O_PATH) {
            Ok(_) => continue,
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let parent: PathBuf = comps[..i].iter().collect();
        let pfd = open_in(
            root,
            &parent.to_string_lossy(),
            OFlag::O_PATH | OFlag::O_DIRECTORY,
        )?;
        let r = if i + 1 == comps.len() && !dir {
            nix::fcntl::openat(
                Some(pfd.as_raw_fd()),
                comps[i],
                OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o644),
            )
            // SAFETY: a fresh fd from openat, closed at once.
            .map(|fd| drop(unsafe { OwnedFd::from_raw_fd(fd) }))
        } else {
            nix::sys::stat::mkdirat(
                Some(pfd.as_raw_fd()),
                comps[i],
                Mode::from_bits_truncate(0o755),
            )
        };
        match r {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
    }
    open_in(root, path, OFlag::O_PATH)
}
