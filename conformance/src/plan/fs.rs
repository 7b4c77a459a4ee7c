//! Checks of the filesystem view: root, mounts, masked and read-only paths, propagation.

use super::{strings, Level, Plan, Probe};
use serde_json::Value;

pub(super) fn root(p: &mut Plan, spec: &Value) {
    let ro = spec["root"]["readonly"].as_bool().unwrap_or(false);
    let (level, what) = if ro {
        (Level::Must, "root filesystem is read-only")
    } else {
        (
            Level::Should,
            "root filesystem is writable when readonly is false",
        )
    };
    p.add(
        "root.readonly",
        "config.md#root",
        level,
        what,
        Probe::RootReadonly(ro),
    );
}

/// Mount options whose effect the checker can observe.
const CHECKABLE_OPTIONS: &[&str] = &[
    "ro", "rw", "nosuid", "nodev", "noexec", "suid", "dev", "exec", "rshared", "shared", "rslave",
    "slave", "rprivate", "private",
];

pub(super) fn mount_option_checkable(o: &str) -> bool {
    CHECKABLE_OPTIONS.contains(&o)
        || ["mode=", "size=", "gid=", "ptmxmode="]
            .iter()
            .any(|p| o.starts_with(p))
}

pub(super) fn mounts(p: &mut Plan, spec: &Value) {
    const S: &str = "config.md#mounts";
    let mut order = Vec::new();
    for m in spec["mounts"].as_array().into_iter().flatten() {
        let Some(dest) = m["destination"].as_str() else {
            continue;
        };
        order.push(dest.to_owned());
        let opts = strings(&m["options"]);
        let bind = opts.iter().any(|o| o == "bind" || o == "rbind");
        p.add(
            format!("mounts[{dest}].present"),
            S,
            Level::Must,
            format!("{dest} is a mount point"),
            Probe::MountPresent(dest.into()),
        );
        if let Some(ty) = m["type"].as_str().filter(|_| !bind) {
            p.add(
                format!("mounts[{dest}].type"),
                S,
                Level::Must,
                format!("{dest} has type {ty}"),
                Probe::MountType(dest.into(), ty.into()),
            );
        }
        if let Some(src) = m["source"].as_str() {
            if m["type"] != "cgroup" {
                let mark = p.ctx.bind_marks.get(dest).cloned();
                p.add(
                    format!("mounts[{dest}].source"),
                    S,
                    Level::Must,
                    format!("{dest} comes from {src}"),
                    Probe::MountSource(dest.into(), src.into(), mark),
                );
            }
        }
        for o in opts.iter().filter(|o| mount_option_checkable(o)) {
            p.add(
                format!("mounts[{dest}].options.{o}"),
                S,
                Level::Must,
                format!("{dest} mounted with {o}"),
                Probe::MountOption(dest.into(), o.clone()),
            );
        }
    }
    if order.len() > 1 {
        p.add(
            "mounts.order",
            S,
            Level::Must,
            "mounts are made in the listed order",
            Probe::MountOrder(order),
        );
    }
}

pub(super) fn masked(p: &mut Plan, spec: &Value) {
    for path in strings(&spec["linux"]["maskedPaths"]) {
        p.add(
            format!("maskedPaths[{path}]"),
            "config-linux.md#masked-paths",
            Level::Must,
            format!("{path} cannot be read"),
            Probe::Masked(path),
        );
    }
}

pub(super) fn readonly(p: &mut Plan, spec: &Value) {
    for path in strings(&spec["linux"]["readonlyPaths"]) {
        p.add(
            format!("readonlyPaths[{path}]"),
            "config-linux.md#readonly-paths",
            Level::Must,
            format!("{path} is read-only"),
            Probe::ReadonlyPath(path),
        );
    }
}

pub(super) fn rootfs_propagation(p: &mut Plan, spec: &Value) {
    if let Some(prop) = spec["linux"]["rootfsPropagation"].as_str() {
        p.add(
            "linux.rootfsPropagation",
            "config-linux.md#rootfs-mount-propagation",
            Level::Must,
            format!("the root mount has {prop} propagation"),
            Probe::MountOption("/".into(), prop.into()),
        );
    }
}
