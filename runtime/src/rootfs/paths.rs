//! After pivot_root: masked paths, read-only paths, sysctls and the read-only root.

use super::mount::remount;
use crate::error::{Result, SysContext};
use nix::mount::{mount, MsFlags};
use std::path::Path;

/// Hides each path: /dev/null over files, an empty read-only tmpfs over directories.
pub fn mask(paths: &[String]) -> Result<()> {
    for p in paths {
        let meta = match std::fs::symlink_metadata(p) {
            Ok(m) => m,
            Err(_) => continue,
        };
        let r = if meta.is_dir() {
            mount(
                Some("tmpfs"),
                p.as_str(),
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None::<&str>,
            )
        } else {
            mount(
                Some("/dev/null"),
                p.as_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        };
        r.sys(|| format!("mask {p}"))?;
    }
    Ok(())
}

/// Makes each existing path a read-only bind of itself.
pub fn readonly(paths: &[String]) -> Result<()> {
    for p in paths {
        if std::fs::symlink_metadata(p).is_err() {
            continue;
        }
        mount(
            Some(p.as_str()),
            p.as_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .sys(|| format!("bind {p} read-only"))?;
        remount(
            Path::new(p),
            MsFlags::MS_BIND | MsFlags::MS_RDONLY | MsFlags::MS_REC,
        )?;
    }
    Ok(())
}

/// Writes each sysctl through the container's /proc/sys.
pub fn sysctls<'a>(items: impl Iterator<Item = (&'a String, &'a String)>) -> Result<()> {
    for (k, v) in items {
        let path = format!("/proc/sys/{}", k.replace('.', "/"));
        std::fs::write(&path, v.as_bytes()).map_err(|e| {
            crate::error::Error::Child(format!("linux.sysctl.{k}: write {path}: {e}"))
        })?;
    }
    Ok(())
}

/// Remounts `/` read-only (root.readonly).
pub fn readonly_root() -> Result<()> {
    remount(Path::new("/"), MsFlags::MS_BIND | MsFlags::MS_RDONLY)
}
