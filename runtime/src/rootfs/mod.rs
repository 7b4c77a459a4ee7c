//! The container's filesystem view, built inside its new mount namespace (or, without one,
//! on a bind of the rootfs in the caller's: see [`shared`]).

pub mod devices;
pub mod idmap;
pub mod mount;
pub mod options;
pub mod paths;
pub mod pivot;
pub mod resolve;
pub mod shared;

use crate::error::{Result, SysContext};
use nix::mount::MsFlags;
use oci_spec::runtime::Spec;
use std::path::Path;

/// Before pivot_root: propagation, the rootfs bind, every mount in order, /dev. Without a
/// mount namespace of the container's own (`own_ns` false) the parent made the bind already
/// and the caller's mounts are left as they are.
pub fn prepare(
    spec: &Spec,
    rootfs: &Path,
    bundle: &Path,
    cgroup: &dm_cgroups::Cgroup,
    userns: bool,
    idmapped: &idmap::Trees,
    own_ns: bool,
) -> Result<()> {
    let linux = spec.linux().as_ref();
    if own_ns {
        let prop = options::before_pivot(options::rootfs_propagation(
            linux.and_then(|l| l.rootfs_propagation().as_deref()),
        ));
        nix::mount::mount(None::<&str>, "/", None::<&str>, prop, None::<&str>)
            .sys(|| "set / propagation".into())?;
        // pivot_root refuses a new root whose parent mount is shared (rootfsPropagation shared).
        parent_mount_private(rootfs)?;
        // pivot_root needs the rootfs to be a mount point.
        nix::mount::mount(
            Some(rootfs),
            rootfs,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .sys(|| format!("bind rootfs {}", rootfs.display()))?;
    }
    let root = resolve::open_root(rootfs)?;
    let ctx = mount::MountCtx {
        root: &root,
        bundle,
        cgroup,
        idmapped,
        mount_label: linux.and_then(|l| l.mount_label().as_deref()),
    };
    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    for (i, m) in mounts.iter().enumerate() {
        mount::mount_entry(&ctx, i, m)?;
    }
    let dev_is_bind = mounts.iter().any(|m| {
        m.destination() == Path::new("/dev")
            && (m.typ().as_deref() == Some("bind")
                || m.options()
                    .iter()
                    .flatten()
                    .any(|o| o == "bind" || o == "rbind"))
    });
    if !dev_is_bind {
        let mut devs = devices::defaults();
        for (i, d) in linux
            .and_then(|l| l.devices().as_ref())
            .into_iter()
            .flatten()
            .enumerate()
        {
            devs.push(devices::from_spec(i, d)?);
        }
        devices::create(&root, &devs, userns)?;
        devices::symlinks(&root)?;
    }
    Ok(())
}

/// Makes the mount holding `rootfs` private if it is shared.
fn parent_mount_private(rootfs: &Path) -> Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut best: Option<(&str, bool)> = None;
    for line in info.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let (Some(mp), Some(sep)) = (f.get(4), f.iter().position(|x| *x == "-")) else {
            continue;
        };
        let shared = f[6..sep].iter().any(|o| o.starts_with("shared:"));
        let under = *mp == "/" || rootfs.starts_with(mp);
        if under && best.is_none_or(|(b, _)| mp.len() >= b.len()) {
            best = Some((mp, shared));
        }
    }
    if let Some((mp, true)) = best {
        nix::mount::mount(
            None::<&str>,
            mp,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .sys(|| format!("make {mp} private for pivot_root"))?;
    }
    Ok(())
}

/// After pivot_root: sysctls, masked and read-only paths, read-only root.
pub fn finalize(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    if let Some(linux) = linux {
        if let Some(s) = linux.sysctl() {
            paths::sysctls(s.iter())?;
        }
        paths::mask(linux.masked_paths().as_deref().unwrap_or(&[]))?;
        paths::readonly(linux.readonly_paths().as_deref().unwrap_or(&[]))?;
    }
    if spec
        .root()
        .as_ref()
        .is_some_and(|r| r.readonly().unwrap_or(false))
    {
        paths::readonly_root()?;
    }
    // The new root inherits a private parent; give it the propagation asked for. Last: read-only
    // paths are binds, which an unbindable root would refuse.
    if let Some(p) = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .filter(|p| !p.is_empty())
    {
        let flag = options::rootfs_propagation(Some(p));
        nix::mount::mount(None::<&str>, "/", None::<&str>, flag, None::<&str>)
            .sys(|| format!("linux.rootfsPropagation: set {p} on /"))?;
    }
    Ok(())
}
