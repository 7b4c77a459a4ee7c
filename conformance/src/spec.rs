//! The base config.json every scenario starts from: what `runc spec` prints, with the checker
//! as the process. Written here rather than asked of the runtime so that every runtime under test
//! gets byte-identical input.

use crate::context::CHECKER_IN_CONTAINER;
use serde_json::{json, Value};

/// The capabilities `runc spec` grants by default.
pub const DEFAULT_CAPS: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/// The base config: busybox rootfs, checker in probe mode, runc's default mounts, masked and
/// read-only paths, and pid/network/ipc/uts/mount namespaces.
pub fn base() -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": [CHECKER_IN_CONTAINER, "probe"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": DEFAULT_CAPS, "effective": DEFAULT_CAPS, "permitted": DEFAULT_CAPS,
                "inheritable": DEFAULT_CAPS, "ambient": DEFAULT_CAPS
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "dmc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// Removes the namespace `ty` from linux.namespaces.
pub fn drop_namespace(spec: &mut Value, ty: &str) {
    if let Some(a) = spec["linux"]["namespaces"].as_array_mut() {
        a.retain(|n| n["type"] != ty);
    }
}

/// Sets (or adds) the namespace `ty`, joined by `path` when given.
pub fn set_namespace(spec: &mut Value, ty: &str, path: Option<&str>) {
    drop_namespace(spec, ty);
    let mut ns = json!({"type": ty});
    if let Some(p) = path {
        ns["path"] = json!(p);
    }
    if let Some(a) = spec["linux"]["namespaces"].as_array_mut() {
        a.push(ns);
    }
}

/// Whether linux.namespaces lists `ty`.
pub fn has_namespace(spec: &Value, ty: &str) -> bool {
    namespace(spec, ty).is_some()
}

/// The linux.namespaces entry of type `ty`.
pub fn namespace<'a>(spec: &'a Value, ty: &str) -> Option<&'a Value> {
    spec["linux"]["namespaces"]
        .as_array()?
        .iter()
        .find(|n| n["type"] == ty)
}

/// The /proc/self/ns file name for a config namespace type.
pub fn proc_ns_name(ty: &str) -> &str {
    match ty {
        "network" => "net",
        "mount" => "mnt",
        other => other,
    }
}
