//! `linux.cgroupsPath` as the systemd driver reads it: `slice:prefix:name`, the rules runc
//! follows, so a path kubelet or containerd wrote for runc lands in the same unit.

use crate::error::{invalid, Result};
use std::path::PathBuf;

const FIELD: &str = "linux.cgroupsPath";

/// Where a container's transient unit goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPath {
    /// The slice unit it is started in (`system.slice`, `kubepods-pod1.slice`).
    pub slice: String,
    /// The slice's cgroup path relative to the manager's root (`kubepods.slice/kubepods-pod1.slice`).
    pub slice_dir: PathBuf,
    /// The scope unit's name (`cri-containerd-<id>.scope`).
    pub unit: String,
}

/// Parses `slice:prefix:name` for container `id`. An empty slice is `system.slice`
/// (`user.slice` for a rootless caller); an empty name is the container id; the unit is
/// `prefix-name.scope` (`name.scope` without a prefix).
pub fn parse(cgroups_path: &str, id: &str, rootless: bool) -> Result<UnitPath> {
    let parts: Vec<&str> = cgroups_path.split(':').collect();
    let [slice, prefix, name] = parts[..] else {
        return Err(invalid(
            FIELD,
            format!(
                "{cgroups_path:?}: the systemd cgroup driver needs \"slice:prefix:name\" \
                 (e.g. \"system.slice:docker:{id}\")"
            ),
        ));
    };
    let slice = match slice {
        "" if rootless => "user.slice",
        "" => "system.slice",
        s => s,
    };
    let name = if name.is_empty() { id } else { name };
    if name.ends_with(".slice") {
        return Err(invalid(
            FIELD,
            format!("{cgroups_path:?}: a container in a slice unit of its own is not supported; name a scope"),
        ));
    }
    let unit = if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    check_unit_name(&unit, cgroups_path)?;
    Ok(UnitPath {
        slice: slice.to_string(),
        slice_dir: expand_slice(slice, cgroups_path)?,
        unit,
    })
}

/// A slice's cgroup path: systemd nests `a-b-c.slice` as `a.slice/a-b.slice/a-b-c.slice`;
/// `-.slice` is the root slice.
pub fn expand_slice(slice: &str, whole: &str) -> Result<PathBuf> {
    let bad = |why: &str| invalid(FIELD, format!("{whole:?}: slice {slice:?} {why}"));
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err(bad("must end in .slice"));
    };
    if slice == "-.slice" {
        return Ok(PathBuf::new());
    }
    check_unit_name(slice, whole)?;
    if stem.is_empty() || stem.split('-').any(str::is_empty) {
        return Err(bad("has an empty part between dashes"));
    }
    let mut dir = PathBuf::new();
    let mut acc = String::new();
    for part in stem.split('-') {
        if !acc.is_empty() {
            acc.push('-');
        }
        acc.push_str(part);
        dir.push(format!("{acc}.slice"));
    }
    Ok(dir)
}

/// systemd's unit-name alphabet (no `/`, so a name cannot climb out of its slice).
fn check_unit_name(unit: &str, whole: &str) -> Result<()> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.' | '\\' | '@');
    if unit.len() > 255 || !unit.chars().all(ok) || unit.starts_with('.') {
        return Err(invalid(
            FIELD,
            format!("{whole:?}: {unit:?} is not a valid systemd unit name"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_rules_for_slices_and_scopes() {
        let u = parse("system.slice:docker:abc", "abc", false).unwrap();
        assert_eq!(u.unit, "docker-abc.scope");
        assert_eq!(u.slice_dir, PathBuf::from("system.slice"));
        let u = parse(":cri-containerd:c1", "c1", false).unwrap();
        assert_eq!(
            (u.slice.as_str(), u.unit.as_str()),
            ("system.slice", "cri-containerd-c1.scope")
        );
        assert_eq!(parse("::", "c2", true).unwrap().slice, "user.slice");
        assert_eq!(parse("::", "c2", true).unwrap().unit, "c2.scope");
        let u = parse(
            "kubepods-besteffort-pod12.slice:cri-containerd:x",
            "x",
            false,
        )
        .unwrap();
        assert_eq!(
            u.slice_dir,
            PathBuf::from(
                "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice"
            )
        );
        assert_eq!(expand_slice("-.slice", "").unwrap(), PathBuf::new());
    }

    #[test]
    fn bad_paths_name_the_field() {
        for bad in [
            "/sys/fs/cgroup/x",
            "a:b",
            "a.slice:b:c:d",
            "notaslice:p:n",
            "a--b.slice:p:n",
            "-a.slice:p:n",
            "a.slice:p/../..:n",
            "a.slice:p:n.slice",
        ] {
            let e = parse(bad, "id", false).unwrap_err().to_string();
            assert!(e.starts_with("linux.cgroupsPath: "), "{bad}: {e}");
        }
    }
}
