//! After pivot_root: masked paths, read-only paths, sysctls and the read-only root.

use super::mount::remount;
use crate::error::{Error, Result, SysContext};
use nix::mount::{mount, MsFlags};
use std::path::Path;

/// Whether `p` exists; a path that does not is skipped (as runc), any other failure to look
/// is an error naming `field`, since skipping it would leave the path unprotected.
fn exists(field: &str, p: &str) -> Result<Option<std::fs::Metadata>> {
    match std::fs::symlink_metadata(p) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Child(format!("{field} {p}: {e}"))),
    }
}

/// Hides each path: /dev/null over files, an empty read-only tmpfs over directories.
pub fn mask(paths: &[String]) -> Result<()> {
    for (i, p) in paths.iter().enumerate() {
        let field = format!("linux.maskedPaths[{i}]");
        let Some(meta) = exists(&field, p)? else {
            continue;
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
        r.sys(|| format!("{field}: mask {p}"))?;
    }
    Ok(())
}

/// Makes each existing path a read-only bind of itself.
pub fn readonly(paths: &[String]) -> Result<()> {
    for (i, p) in paths.iter().enumerate() {
        let field = format!("linux.readonlyPaths[{i}]");
        if exists(&field, p)?.is_none() {
            continue;
        }
        mount(
            Some(p.as_str()),
            p.as_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .sys(|| format!("{field}: bind {p} read-only"))?;
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
        std::fs::write(&path, v.as_bytes())
            .map_err(|e| Error::Child(format!("linux.sysctl.{k}: write {path}: {e}")))?;
    }
    Ok(())
}

/// Remounts `/` read-only (root.readonly).
pub fn readonly_root() -> Result<()> {
    remount(Path::new("/"), MsFlags::MS_BIND | MsFlags::MS_RDONLY)
}
