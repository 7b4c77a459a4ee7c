//! The mounts a snapshot is used through: overlay over its parents' dirs, or a bind mount when
//! there is only one directory to show.

use crate::info::Kind;
use std::path::Path;

/// One mount as containerd's `types.Mount` carries it (`mount -t kind -o options source target`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Filesystem type: "overlay" or "bind".
    pub kind: String,
    /// Mount source: a directory for bind, "overlay" for overlay.
    pub source: String,
    /// fstab-style options.
    pub options: Vec<String>,
}

/// The directory a snapshot's changes land in, from the mounts that `prepare` returned: the
/// overlay's upper dir, or the bind's source when the snapshot has no parent.
pub fn upper_dir(mounts: &[Mount]) -> Option<std::path::PathBuf> {
    let m = mounts.first()?;
    if m.kind == "bind" {
        return Some(std::path::PathBuf::from(&m.source));
    }
    m.options
        .iter()
        .find_map(|o| o.strip_prefix("upperdir="))
        .map(std::path::PathBuf::from)
}

/// Where snapshot `id` keeps its files (an overlay upper dir, or the whole tree without parents).
pub fn fs_dir(snapshots: &Path, id: u64) -> std::path::PathBuf {
    snapshots.join(id.to_string()).join("fs")
}

/// overlay's scratch dir for snapshot `id` (active snapshots only).
pub fn work_dir(snapshots: &Path, id: u64) -> std::path::PathBuf {
    snapshots.join(id.to_string()).join("work")
}

/// Mounts for a snapshot of `kind` and `id` whose ancestors' ids are `parents`, nearest first.
///
/// Mirrors containerd's own overlay snapshotter so containerd's mount code handles the result:
/// no parent → bind of its own dir; a view of one parent → read-only bind of that parent;
/// otherwise overlay with lowerdir = parents (nearest first), plus upper and work for active ones.
pub fn mounts(
    snapshots: &Path,
    kind: Kind,
    id: u64,
    parents: &[u64],
    index_off: bool,
) -> Vec<Mount> {
    let dir = |id| fs_dir(snapshots, id).to_string_lossy().into_owned();
    let bind = |source: String, mode: &str| Mount {
        kind: "bind".into(),
        source,
        options: vec![mode.into(), "rbind".into()],
    };
    let ro = kind != Kind::Active;
    vec![match parents {
        [] => bind(dir(id), if ro { "ro" } else { "rw" }),
        [only] if ro => bind(dir(*only), "ro"),
        _ => {
            let mut options = Vec::new();
            if index_off {
                options.push("index=off".to_owned());
            }
            if !ro {
                let work = work_dir(snapshots, id);
                options.push(format!("workdir={}", work.display()));
                options.push(format!("upperdir={}", dir(id)));
            }
            let lower: Vec<String> = parents.iter().map(|p| dir(*p)).collect();
            options.push(format!("lowerdir={}", lower.join(":")));
            Mount {
                kind: "overlay".into(),
                source: "overlay".into(),
                options,
            }
        }
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_follow_containerd_overlay() {
        let s = Path::new("/r/snapshots");
        let m = mounts(s, Kind::Active, 1, &[], true);
        assert_eq!(m[0].kind, "bind");
        assert_eq!(m[0].source, "/r/snapshots/1/fs");
        assert_eq!(m[0].options, ["rw", "rbind"]);
        let m = mounts(s, Kind::View, 3, &[2], true);
        assert_eq!(
            (m[0].kind.as_str(), m[0].source.as_str()),
            ("bind", "/r/snapshots/2/fs")
        );
        assert_eq!(m[0].options, ["ro", "rbind"]);
        let m = mounts(s, Kind::Active, 4, &[3, 2], false);
        assert_eq!(m[0].kind, "overlay");
        assert_eq!(
            m[0].options,
            [
                "workdir=/r/snapshots/4/work",
                "upperdir=/r/snapshots/4/fs",
                "lowerdir=/r/snapshots/3/fs:/r/snapshots/2/fs"
            ]
        );
        let m = mounts(s, Kind::View, 5, &[3, 2], true);
        assert_eq!(
            m[0].options,
            ["index=off", "lowerdir=/r/snapshots/3/fs:/r/snapshots/2/fs"]
        );
    }
}
