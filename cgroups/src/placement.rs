//! Where a container's cgroup goes: `linux.cgroupsPath` resolved against each hierarchy.
//!
//! As runc's cgroupfs driver does: an absolute path is taken from each hierarchy's root; a
//! relative path is placed under the caller's own cgroup in that hierarchy; an empty path means
//! `<own cgroup>/<container id>`. Paths are cleaned lexically so `..` never climbs out.

use crate::error::{invalid, Result};
use crate::host::{join_rel, Hierarchy};
use std::path::{Component, Path, PathBuf};

const FIELD: &str = "linux.cgroupsPath";

/// A cleaned `linux.cgroupsPath`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inner {
    /// From each hierarchy's root (true) or under the caller's own cgroup (false).
    pub absolute: bool,
    /// The cleaned path, relative, never empty, without `.`/`..`.
    pub rel: PathBuf,
}

/// Cleans and checks `cgroups_path` for container `id`.
pub fn inner_path(cgroups_path: Option<&Path>, id: &str) -> Result<Inner> {
    let raw = cgroups_path.map(|p| p.to_string_lossy().into_owned());
    let raw = raw.as_deref().unwrap_or("");
    if raw.is_empty() {
        if id.is_empty() || id.contains('/') || id == "." || id == ".." {
            return Err(invalid(
                "container id",
                format!("{id:?} cannot name a cgroup directory"),
            ));
        }
        return Ok(Inner {
            absolute: false,
            rel: PathBuf::from(id),
        });
    }
    if !raw.starts_with('/') && raw.split(':').count() == 3 {
        return Err(invalid(
            FIELD,
            format!(
                "{raw:?} is a systemd-style path (slice:prefix:name), but the cgroupfs driver \
                 is in use; use a filesystem path, or the systemd driver (--systemd-cgroup)"
            ),
        ));
    }
    let mut rel = PathBuf::new();
    for c in Path::new(raw).components() {
        match c {
            Component::Normal(n) => rel.push(n),
            Component::ParentDir => {
                rel.pop();
            }
            _ => {}
        }
    }
    if rel.as_os_str().is_empty() {
        return Err(invalid(
            FIELD,
            format!("{raw:?} names no cgroup below the hierarchy or the caller's own cgroup"),
        ));
    }
    Ok(Inner {
        absolute: raw.starts_with('/'),
        rel,
    })
}

/// The container's directory in hierarchy `h`.
pub fn dir_in(h: &Hierarchy, inner: &Inner) -> PathBuf {
    if inner.absolute {
        join_rel(&h.mountpoint, &inner.rel)
    } else {
        join_rel(&h.own_dir(), &inner.rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(own: &str) -> Hierarchy {
        Hierarchy {
            controllers: vec!["memory".into()],
            mountpoint: "/sys/fs/cgroup/memory".into(),
            mount_root: "/".into(),
            own: own.into(),
        }
    }

    #[test]
    fn empty_path_is_own_cgroup_plus_id() {
        let i = inner_path(None, "ctr1").unwrap();
        assert_eq!(
            dir_in(&h("/process_api/x"), &i),
            Path::new("/sys/fs/cgroup/memory/process_api/x/ctr1")
        );
        let i = inner_path(Some(Path::new("")), "ctr1").unwrap();
        assert!(!i.absolute);
    }

    #[test]
    fn absolute_from_root_relative_under_own() {
        let a = inner_path(Some(Path::new("/pods/p1/c1")), "c1").unwrap();
        assert_eq!(
            dir_in(&h("/own"), &a),
            Path::new("/sys/fs/cgroup/memory/pods/p1/c1")
        );
        let r = inner_path(Some(Path::new("pods/../../c1")), "c1").unwrap();
        assert_eq!(
            dir_in(&h("/own"), &r),
            Path::new("/sys/fs/cgroup/memory/own/c1")
        );
        let a = inner_path(Some(Path::new("/../../etc")), "c1").unwrap();
        assert_eq!(
            dir_in(&h("/own"), &a),
            Path::new("/sys/fs/cgroup/memory/etc")
        );
    }

    #[test]
    fn bad_paths_are_rejected_naming_the_field() {
        let e = inner_path(Some(Path::new("system.slice:docker:abc")), "abc").unwrap_err();
        assert!(e.to_string().starts_with("linux.cgroupsPath: "), "{e}");
        assert!(e.to_string().contains("systemd"), "{e}");
        assert!(inner_path(Some(Path::new("/")), "a").is_err());
        assert!(inner_path(Some(Path::new("..")), "a").is_err());
        assert!(inner_path(None, "a/b").is_err());
    }
}
