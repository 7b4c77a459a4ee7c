//! Idmapped bind mounts (`idmap`/`ridmap` options, `mounts[].uidMappings`/`gidMappings`).
//!
//! Setting MOUNT_ATTR_IDMAP needs privilege over the source's filesystem, which the init lacks
//! once it lives in the container's user namespace. So the parent, still host root, makes each
//! idmapped mount as a detached tree before the clone; the init only attaches it (move_mount)
//! at its target inside the rootfs. Closing the fds drops whatever was not attached.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxIdMapping, Mount, Spec};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// Detached idmapped trees, by index in `mounts[]`.
pub type Trees = Vec<(usize, OwnedFd)>;

/// Makes a detached idmapped tree for every mount that asks for one.
pub fn prepare(spec: &Spec, bundle: &Path) -> Result<Trees> {
    let mut trees = Vec::new();
    let mut userns: Vec<(String, OwnedFd)> = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let Some((recursive, uids, gids)) = wanted(spec, i, m)? else {
            continue;
        };
        let key = format!("{uids:?}/{gids:?}");
        if !userns.iter().any(|(k, _)| *k == key) {
            let ns = user_namespace(&uids, &gids)
                .map_err(|e| Error::Config(format!("mounts[{i}].uidMappings: {e}")))?;
            userns.push((key.clone(), ns));
        }
        let ns = &userns
            .iter()
            .find(|(k, _)| *k == key)
            .expect("just added")
            .1;
        let src = m.source().clone().unwrap_or_default();
        let src = if src.is_absolute() {
            src
        } else {
            bundle.join(src)
        };
        let tree = crate::sys::open_tree_clone(&src, recursive)
            .map_err(|e| Error::Config(format!("mounts[{i}].source: {}: {e}", src.display())))?;
        crate::sys::mount_setattr_idmap(tree.as_fd(), ns.as_fd(), recursive).map_err(|e| {
            Error::Config(format!(
                "mounts[{i}]: idmapped mount of {}: {e} (the filesystem or kernel may not support idmapped mounts)",
                src.display()
            ))
        })?;
        trees.push((i, tree));
    }
    Ok(trees)
}

/// An idmapped mount's (recursive, uid mappings, gid mappings).
pub type Wanted = (bool, Vec<LinuxIdMapping>, Vec<LinuxIdMapping>);

/// Whether `mounts[i]` (`m`) is idmapped, and how; errors name the field. Touches nothing.
pub fn wanted(spec: &Spec, i: usize, m: &Mount) -> Result<Option<Wanted>> {
    let opts = super::options::parse(m.options().as_deref().unwrap_or(&[]));
    let (uids, gids) = (m.uid_mappings().clone(), m.gid_mappings().clone());
    if opts.idmap.is_none() && uids.is_none() && gids.is_none() {
        return Ok(None);
    }
    let bad = |m: String| Err(Error::Config(m));
    if !(opts.bind || m.typ().as_deref() == Some("bind")) {
        return bad(format!("mounts[{i}]: idmapped mounts must be bind mounts"));
    }
    // Mappings without an option: idmap, recursive when the bind is.
    let recursive = opts
        .idmap
        .unwrap_or(opts.flags.contains(nix::mount::MsFlags::MS_REC));
    let (uids, gids) = match (uids, gids) {
        (Some(u), Some(g)) => (u, g),
        (None, None) => {
            let l = spec.linux().as_ref();
            match (
                l.and_then(|l| l.uid_mappings().clone()),
                l.and_then(|l| l.gid_mappings().clone()),
            ) {
                (Some(u), Some(g)) if !u.is_empty() && !g.is_empty() => (u, g),
                _ => return bad(format!(
                    "mounts[{i}].uidMappings: idmap without mappings needs the container's linux.uidMappings and linux.gidMappings"
                )),
            }
        }
        (Some(_), None) => {
            return bad(format!(
                "mounts[{i}].gidMappings: required with uidMappings"
            ))
        }
        (None, Some(_)) => {
            return bad(format!(
                "mounts[{i}].uidMappings: required with gidMappings"
            ))
        }
    };
    if uids.is_empty() || gids.is_empty() {
        return bad(format!("mounts[{i}].uidMappings: must not be empty"));
    }
    Ok(Some((recursive, uids, gids)))
}

/// A user namespace with these mappings, held by an fd: a child is cloned into a new one, the
/// maps are written, its ns file opened, and the child killed.
fn user_namespace(uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<OwnedFd> {
    use nix::sys::signal::{kill, Signal};
    use nix::sys::wait::waitpid;
    let pid = crate::sys::clone_fork(libc::CLONE_NEWUSER as u64, None)
        .map_err(|e| Error::Config(format!("clone a user namespace: {e}")))?;
    if pid == 0 {
        // The child only waits to be killed.
        loop {
            // SAFETY: pause has no arguments; it returns only when a signal is handled.
            unsafe { libc::pause() };
        }
    }
    let child = nix::unistd::Pid::from_raw(pid);
    let fmt = |m: &[LinuxIdMapping]| {
        m.iter()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect::<String>()
    };
    let made = (|| -> std::io::Result<OwnedFd> {
        std::fs::write(format!("/proc/{pid}/uid_map"), fmt(uids))?;
        std::fs::write(format!("/proc/{pid}/gid_map"), fmt(gids))?;
        Ok(std::fs::File::open(format!("/proc/{pid}/ns/user"))?.into())
    })();
    let _ = kill(child, Signal::SIGKILL);
    let _ = waitpid(child, None);
    made.map_err(|e| Error::Config(format!("write mappings: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> Spec {
        serde_json::from_value(v).unwrap()
    }

    fn err(mounts: serde_json::Value) -> String {
        let s = spec(serde_json::json!({"ociVersion": "1.2.0", "mounts": mounts}));
        let m = &s.mounts().as_ref().unwrap()[0];
        wanted(&s, 0, m).unwrap_err().to_string()
    }

    #[test]
    fn plain_mounts_are_not_idmapped() {
        let s = spec(serde_json::json!({"ociVersion": "1.2.0",
            "mounts": [{"destination": "/m", "source": "/x", "options": ["rbind"]}]}));
        assert!(wanted(&s, 0, &s.mounts().as_ref().unwrap()[0])
            .unwrap()
            .is_none());
    }

    #[test]
    fn idmap_needs_a_bind_and_mappings() {
        let e =
            err(serde_json::json!([{"destination": "/m", "type": "tmpfs", "options": ["idmap"]}]));
        assert!(e.contains("mounts[0]") && e.contains("bind"), "{e}");
        let e = err(
            serde_json::json!([{"destination": "/m", "source": "/x", "options": ["bind", "idmap"]}]),
        );
        assert!(e.contains("mounts[0].uidMappings"), "{e}");
        let e = err(
            serde_json::json!([{"destination": "/m", "source": "/x", "options": ["bind"],
            "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}]),
        );
        assert!(e.contains("mounts[0].gidMappings"), "{e}");
    }

    #[test]
    fn ridmap_is_recursive_and_container_maps_are_the_default() {
        let s = spec(serde_json::json!({"ociVersion": "1.2.0",
            "linux": {"uidMappings": [{"containerID": 0, "hostID": 7, "size": 9}],
                      "gidMappings": [{"containerID": 0, "hostID": 7, "size": 9}]},
            "mounts": [{"destination": "/m", "source": "/x", "options": ["bind", "ridmap"]}]}));
        let (rec, u, _) = wanted(&s, 0, &s.mounts().as_ref().unwrap()[0])
            .unwrap()
            .unwrap();
        assert!(rec);
        assert_eq!(u[0].host_id(), 7);
    }
}
