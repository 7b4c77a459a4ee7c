//! Checks of kernel state: hostname, namespaces, id maps, devices, sysctls, seccomp, cgroups,
//! personality, LSMs.

use super::{strings, CgroupFile, Level, Plan, Probe};
use crate::spec::{has_namespace, namespace, proc_ns_name};
use serde_json::Value;

pub(super) fn uts(p: &mut Plan, spec: &Value) {
    if let Some(h) = spec["hostname"].as_str() {
        p.add(
            "hostname",
            "config.md#hostname",
            Level::Must,
            format!("hostname is {h}"),
            Probe::Hostname(h.into()),
        );
    }
    if let Some(d) = spec["domainname"].as_str() {
        p.add(
            "domainname",
            "config.md#domainname",
            Level::Must,
            format!("domainname is {d}"),
            Probe::Domainname(d.into()),
        );
    }
}

const NAMESPACES: [&str; 6] = ["pid", "network", "ipc", "uts", "mount", "cgroup"];

pub(super) fn namespaces(p: &mut Plan, spec: &Value) {
    const S: &str = "config-linux.md#namespaces";
    let mut all: Vec<&str> = NAMESPACES.to_vec();
    all.push("user");
    for ty in all {
        let name = proc_ns_name(ty).to_owned();
        let host = p.ctx.host_ns.get(&name).copied().unwrap_or(0);
        match namespace(spec, ty) {
            Some(ns) if ns.get("path").is_some() => {
                let ino = p.ctx.joined_ns.get(&name).copied().unwrap_or(0);
                p.add(
                    format!("namespaces.{ty}.joined"),
                    S,
                    Level::Must,
                    format!("{ty} namespace is the one at the configured path"),
                    Probe::NsJoined(name, ino),
                );
            }
            Some(_) => p.add(
                format!("namespaces.{ty}.new"),
                S,
                Level::Must,
                format!("{ty} namespace is a new one"),
                Probe::NsNew(name, host),
            ),
            None => p.add(
                format!("namespaces.{ty}.inherited"),
                S,
                Level::Must,
                format!("{ty} namespace is the runtime's own"),
                Probe::NsHost(name, host),
            ),
        }
    }
    if namespace(spec, "pid").is_some_and(|n| n.get("path").is_none()) {
        p.add(
            "namespaces.pid.init",
            S,
            Level::Must,
            "process is pid 1 of its new pid namespace",
            Probe::Pid1,
        );
    }
}

pub(super) fn idmaps(p: &mut Plan, spec: &Value) {
    if !has_namespace(spec, "user") {
        return;
    }
    for (key, file) in [("uidMappings", "uid_map"), ("gidMappings", "gid_map")] {
        let maps = spec["linux"][key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                (
                    m["containerID"].as_u64().unwrap_or(0),
                    m["hostID"].as_u64().unwrap_or(0),
                    m["size"].as_u64().unwrap_or(0),
                )
            })
            .collect::<Vec<_>>();
        p.add(
            format!("linux.{key}"),
            "config-linux.md#user-namespace-mappings",
            Level::Must,
            format!("/proc/self/{file} is {maps:?}"),
            Probe::IdMap(file, maps),
        );
    }
}

pub(super) fn devices(p: &mut Plan, spec: &Value) {
    const S: &str = "config-linux.md#devices";
    for d in spec["linux"]["devices"].as_array().into_iter().flatten() {
        let Some(path) = d["path"].as_str() else {
            continue;
        };
        let ty = d["type"].as_str().unwrap_or("?");
        p.add(
            format!("devices[{path}].type"),
            S,
            Level::Must,
            format!("{path} is a {ty} node"),
            Probe::DevType(path.into(), ty.into()),
        );
        if ty != "p" {
            let (ma, mi) = (
                d["major"].as_u64().unwrap_or(0),
                d["minor"].as_u64().unwrap_or(0),
            );
            p.add(
                format!("devices[{path}].major-minor"),
                S,
                Level::Must,
                format!("{path} is {ma}:{mi}"),
                Probe::DevNum(path.into(), ma, mi),
            );
        }
        if let Some(mode) = d["fileMode"].as_u64() {
            p.add(
                format!("devices[{path}].fileMode"),
                S,
                Level::Must,
                format!("{path} has mode {mode:o}"),
                Probe::DevMode(path.into(), mode as u32),
            );
        }
        if d.get("uid").is_some() || d.get("gid").is_some() {
            let (u, g) = (
                d["uid"].as_u64().unwrap_or(0) as u32,
                d["gid"].as_u64().unwrap_or(0) as u32,
            );
            p.add(
                format!("devices[{path}].owner"),
                S,
                Level::Must,
                format!("{path} is owned by {u}:{g}"),
                Probe::DevOwner(path.into(), u, g),
            );
        }
    }
}

pub(super) fn device_access(p: &mut Plan, spec: &Value) {
    const S: &str = "config-linux.md#allowed-device-list";
    let rules = spec["linux"]["resources"]["devices"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for d in spec["linux"]["devices"].as_array().into_iter().flatten() {
        let (Some(path), Some(ty)) = (d["path"].as_str(), d["type"].as_str()) else {
            continue;
        };
        if ty == "p" {
            continue;
        }
        let (ma, mi) = (d["major"].as_i64(), d["minor"].as_i64());
        // The last matching rule decides, as in the device cgroup.
        let allowed = rules.iter().rev().find(|r| {
            let t = r["type"].as_str().unwrap_or("a");
            (t == "a" || t == ty)
                && (r["major"].is_null() || r["major"].as_i64() == ma)
                && (r["minor"].is_null() || r["minor"].as_i64() == mi)
                && r["access"].as_str().unwrap_or("rwm").contains('r')
        });
        let Some(rule) = allowed else { continue };
        let allow = rule["allow"].as_bool().unwrap_or(false);
        let what = if allow {
            "may be opened"
        } else {
            "may not be opened"
        };
        p.add(
            format!("resources.devices[{path}]"),
            S,
            Level::Must,
            format!("{path} {what} (device cgroup)"),
            Probe::DevAccess(path.into(), allow),
        );
    }
}

pub(super) fn default_devices(p: &mut Plan) {
    const S: &str = "config-linux.md#default-devices";
    for (dev, ma, mi) in [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ] {
        let path = format!("/dev/{dev}");
        p.add(
            format!("default-devices[{path}]"),
            S,
            Level::Must,
            format!("{path} is char device {ma}:{mi}"),
            Probe::DevNum(path, ma, mi),
        );
    }
    p.add(
        "default-devices[/dev/ptmx]",
        S,
        Level::Must,
        "/dev/ptmx is the container's /dev/pts/ptmx",
        Probe::Ptmx,
    );
    const L: &str = "runtime-linux.md#dev-symbolic-links";
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        p.add(
            format!("dev-symlinks[{link}]"),
            L,
            Level::Must,
            format!("{link} -> {target}"),
            Probe::Symlink(link.into(), target.into()),
        );
    }
}

pub(super) fn sysctl(p: &mut Plan, spec: &Value) {
    for (k, v) in spec["linux"]["sysctl"].as_object().into_iter().flatten() {
        let v = v.as_str().unwrap_or_default().to_owned();
        p.add(
            format!("sysctl[{k}]"),
            "config-linux.md#sysctl",
            Level::Must,
            format!("{k} = {v}"),
            Probe::Sysctl(k.clone(), v),
        );
    }
}

/// Syscalls the checker can safely call to see a seccomp rule act: (name, x86_64 number).
pub const SECCOMP_PROBES: &[(&str, i64)] = &[
    ("getpriority", 140),
    ("getpgid", 121),
    ("getsid", 124),
    ("getppid", 110),
];

pub(super) fn seccomp(p: &mut Plan, spec: &Value) {
    const S: &str = "config-linux.md#seccomp";
    let sc = &spec["linux"]["seccomp"];
    if sc.is_null() {
        return;
    }
    p.add(
        "seccomp.mode",
        S,
        Level::Must,
        "a seccomp filter is installed",
        Probe::SeccompMode,
    );
    let mut ruled = Vec::new();
    for rule in sc["syscalls"].as_array().into_iter().flatten() {
        let errno = rule["errnoRet"].as_i64().unwrap_or(libc::EPERM as i64) as i32;
        let eq_arg = rule["args"]
            .as_array()
            .and_then(|a| a.first())
            .filter(|a| a["op"] == "SCMP_CMP_EQ" && a["index"] == 0)
            .and_then(|a| a["value"].as_u64());
        for name in strings(&rule["names"]) {
            let Some(&(_, nr)) = SECCOMP_PROBES.iter().find(|(n, _)| *n == name) else {
                continue;
            };
            ruled.push(name.clone());
            if rule["action"] != "SCMP_ACT_ERRNO" {
                continue;
            }
            let arg = eq_arg.unwrap_or(0);
            p.add(
                format!("seccomp.{name}.errno"),
                S,
                Level::Must,
                format!("{name}({arg}) fails with errno {errno}"),
                Probe::SeccompErrno(name.clone(), nr, arg, errno),
            );
            if let Some(v) = eq_arg {
                p.add(
                    format!("seccomp.{name}.args-mismatch"),
                    S,
                    Level::Must,
                    format!("{name}(0) is allowed: the rule only matches arg0 == {v}"),
                    Probe::SeccompAllowed(name.clone(), nr, 0),
                );
            }
        }
    }
    if sc["defaultAction"] == "SCMP_ACT_ALLOW" {
        for &(name, nr) in SECCOMP_PROBES
            .iter()
            .filter(|(n, _)| !ruled.iter().any(|r| r == n))
        {
            p.add(
                format!("seccomp.{name}.default-allow"),
                S,
                Level::Must,
                format!("{name} is allowed by defaultAction"),
                Probe::SeccompAllowed(name.into(), nr, 0),
            );
        }
    }
}

pub(super) fn cgroups(p: &mut Plan, spec: &Value) {
    const S: &str = "config-linux.md#control-groups";
    let r = &spec["linux"]["resources"];
    let mut add = |id: &str, what: String, f: CgroupFile| {
        p.add(
            format!("resources.{id}"),
            S,
            Level::Must,
            what,
            Probe::Cgroup(f),
        )
    };
    let mem = &r["memory"];
    if let Some(l) = mem["limit"].as_i64() {
        add(
            "memory.limit",
            format!("memory limit is {l}"),
            CgroupFile {
                controller: "memory",
                v1_file: "memory.limit_in_bytes",
                v1_value: l.to_string(),
                v2_file: Some("memory.max"),
                v2_value: l.to_string(),
            },
        );
    }
    if let Some(l) = mem["reservation"].as_i64() {
        add(
            "memory.reservation",
            format!("memory soft limit is {l}"),
            CgroupFile {
                controller: "memory",
                v1_file: "memory.soft_limit_in_bytes",
                v1_value: l.to_string(),
                v2_file: Some("memory.low"),
                v2_value: l.to_string(),
            },
        );
    }
    let cpu = &r["cpu"];
    if let Some(s) = cpu["shares"].as_u64() {
        let weight = 1 + ((s.saturating_sub(2)) * 9999) / 262142;
        add(
            "cpu.shares",
            format!("cpu shares are {s}"),
            CgroupFile {
                controller: "cpu",
                v1_file: "cpu.shares",
                v1_value: s.to_string(),
                v2_file: Some("cpu.weight"),
                v2_value: weight.to_string(),
            },
        );
    }
    let period = cpu["period"].as_u64();
    if let Some(q) = cpu["quota"].as_i64() {
        add(
            "cpu.quota",
            format!("cfs quota is {q}"),
            CgroupFile {
                controller: "cpu",
                v1_file: "cpu.cfs_quota_us",
                v1_value: q.to_string(),
                v2_file: Some("cpu.max"),
                v2_value: format!("{q} {}", period.unwrap_or(100000)),
            },
        );
    }
    if let Some(per) = period {
        add(
            "cpu.period",
            format!("cfs period is {per}"),
            CgroupFile {
                controller: "cpu",
                v1_file: "cpu.cfs_period_us",
                v1_value: per.to_string(),
                v2_file: None,
                v2_value: String::new(),
            },
        );
    }
    if let Some(c) = cpu["cpus"].as_str() {
        add(
            "cpu.cpus",
            format!("cpuset cpus are {c}"),
            CgroupFile {
                controller: "cpuset",
                v1_file: "cpuset.cpus",
                v1_value: c.into(),
                v2_file: Some("cpuset.cpus"),
                v2_value: c.into(),
            },
        );
    }
    if let Some(m) = cpu["mems"].as_str() {
        add(
            "cpu.mems",
            format!("cpuset mems are {m}"),
            CgroupFile {
                controller: "cpuset",
                v1_file: "cpuset.mems",
                v1_value: m.into(),
                v2_file: Some("cpuset.mems"),
                v2_value: m.into(),
            },
        );
    }
    if let Some(l) = r["pids"]["limit"].as_i64() {
        add(
            "pids.limit",
            format!("pids limit is {l}"),
            CgroupFile {
                controller: "pids",
                v1_file: "pids.max",
                v1_value: l.to_string(),
                v2_file: Some("pids.max"),
                v2_value: l.to_string(),
            },
        );
    }
    if let Some(path) = spec["linux"]["cgroupsPath"]
        .as_str()
        .filter(|_| !has_namespace(spec, "cgroup"))
    {
        p.add(
            "cgroupsPath",
            "config-linux.md#cgroups-path",
            Level::Should,
            format!("process is in a cgroup ending with {path}"),
            Probe::CgroupPath(path.into()),
        );
    }
}

pub(super) fn personality(p: &mut Plan, spec: &Value) {
    if let Some(d) = spec["linux"]["personality"]["domain"].as_str() {
        let persona = if d == "LINUX32" { 0x0008 } else { 0 };
        p.add(
            "personality.domain",
            "config-linux.md#personality",
            Level::Must,
            format!("execution domain is {d}"),
            Probe::Personality(persona),
        );
    }
}

pub(super) fn lsm(p: &mut Plan) {
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y");
    let selinux = std::path::Path::new("/sys/fs/selinux/enforce").exists();
    if !apparmor {
        p.add(
            "process.apparmorProfile",
            "config.md#linux-process",
            Level::Must,
            "apparmor profile is applied",
            Probe::Skip("apparmor is not enabled on this host".into()),
        );
    }
    if !selinux {
        p.add(
            "process.selinuxLabel",
            "config.md#linux-process",
            Level::Must,
            "selinux label is applied",
            Probe::Skip("selinux is not enabled on this host".into()),
        );
    }
}
