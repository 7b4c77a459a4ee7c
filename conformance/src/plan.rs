//! Which checks a config implies: the same function runs in the runner (to know which cases to
//! expect) and in the checker (to verify them), so both always agree on the list.

use crate::case::{Case, Level};
use crate::context::Context;
use crate::spec::{has_namespace, namespace, proc_ns_name};
use serde_json::Value;

/// What the checker verifies from inside the container for one case.
#[derive(Clone, Debug, PartialEq)]
pub enum Probe {
    /// argv equals the given list.
    Args(Vec<String>),
    /// The variable is set to the value.
    Env(String, String),
    /// The working directory.
    Cwd(String),
    /// Real, effective, saved and fs uid.
    Uid(u32),
    /// Real, effective, saved and fs gid.
    Gid(u32),
    /// The supplementary group list contains this gid.
    Group(u32),
    /// The umask.
    Umask(u32),
    /// getrlimit of the resource: (name, soft, hard).
    Rlimit(String, u64, u64),
    /// A capability set from /proc/self/status (`CapBnd`, ...) equals the named caps.
    Caps(&'static str, Vec<String>),
    /// NoNewPrivs in /proc/self/status.
    NoNewPrivs(bool),
    /// /proc/self/oom_score_adj.
    OomScoreAdj(i64),
    /// The root filesystem is (true) or is not (false) read-only.
    RootReadonly(bool),
    /// uname nodename.
    Hostname(String),
    /// uname domainname.
    Domainname(String),
    /// Something is mounted at the destination.
    MountPresent(String),
    /// The mount at the destination has this filesystem type.
    MountType(String, String),
    /// The mount's source: (destination, source, bind mark `dev:ino` for bind mounts).
    MountSource(String, String, Option<String>),
    /// The mount honours an option: (destination, option).
    MountOption(String, String),
    /// Mounts appear in /proc/self/mountinfo in this order.
    MountOrder(Vec<String>),
    /// The namespace is a new one: (proc ns name, host inode).
    NsNew(String, u64),
    /// The namespace is the runtime's: (proc ns name, host inode).
    NsHost(String, u64),
    /// The namespace is the one at the configured path: (proc ns name, its inode).
    NsJoined(String, u64),
    /// The process is pid 1 of its pid namespace.
    Pid1,
    /// /proc/self/{uid,gid}_map lists these (container, host, size) triples.
    IdMap(&'static str, Vec<(u64, u64, u64)>),
    /// The device node exists with this type (`c`, `b`, `p`, `u`).
    DevType(String, String),
    /// The device node has this major:minor.
    DevNum(String, u64, u64),
    /// The device node has these permission bits.
    DevMode(String, u32),
    /// The device node is owned by uid:gid.
    DevOwner(String, u32, u32),
    /// Opening the device node is (true) or is not (false) allowed by the device cgroup.
    DevAccess(String, bool),
    /// The path is a symlink to the target.
    Symlink(String, String),
    /// /dev/ptmx is /dev/pts/ptmx (symlink or same inode).
    Ptmx,
    /// Nothing can be read at the path.
    Masked(String),
    /// The path is on a read-only mount.
    ReadonlyPath(String),
    /// /proc/sys value of the key.
    Sysctl(String, String),
    /// Seccomp filter mode is active.
    SeccompMode,
    /// The syscall (nr, first arg) fails with errno.
    SeccompErrno(String, i64, u64, i32),
    /// The syscall (nr, first arg) is not refused by the filter.
    SeccompAllowed(String, i64, u64),
    /// A cgroup file holds a value: v1 (controller, file), v2 file, expected v1, expected v2.
    Cgroup(CgroupFile),
    /// The process's cgroup path ends with the configured cgroupsPath.
    CgroupPath(String),
    /// personality(0xffffffff) & 0xff equals this persona.
    Personality(u64),
    /// The file descriptor is a terminal.
    IsTty(i32),
    /// /dev/console is the process's terminal.
    Console,
    /// The terminal is the process's controlling terminal (/dev/tty opens).
    ControllingTty,
    /// A case that cannot be checked on this host.
    Skip(String),
}

/// A cgroup limit as seen in v1 and v2 files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupFile {
    /// v1 controller directory under /sys/fs/cgroup.
    pub controller: &'static str,
    /// v1 file name.
    pub v1_file: &'static str,
    /// v1 expected content (trimmed).
    pub v1_value: String,
    /// v2 file name (None when v2 has no equivalent).
    pub v2_file: Option<&'static str>,
    /// v2 expected content (trimmed).
    pub v2_value: String,
}

/// A case and how to verify it.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// The case.
    pub case: Case,
    /// The verification.
    pub probe: Probe,
}

struct Plan<'a> {
    ctx: &'a Context,
    checks: Vec<Check>,
}

impl Plan<'_> {
    fn add(
        &mut self,
        id: impl AsRef<str>,
        section: &'static str,
        level: Level,
        what: impl Into<String>,
        probe: Probe,
    ) {
        let id = format!("{}/{}", self.ctx.scenario, id.as_ref());
        self.checks.push(Check {
            case: Case::new(id, section, level, what),
            probe,
        });
    }
}

/// The checks `spec` implies for the areas listed in `ctx`.
pub fn plan(spec: &Value, ctx: &Context) -> Vec<Check> {
    let mut p = Plan {
        ctx,
        checks: Vec::new(),
    };
    for area in &ctx.areas {
        match area.as_str() {
            "process" => process(&mut p, spec),
            "root" => root(&mut p, spec),
            "uts" => uts(&mut p, spec),
            "mounts" => mounts(&mut p, spec),
            "namespaces" => namespaces(&mut p, spec),
            "idmaps" => idmaps(&mut p, spec),
            "devices" => {
                devices(&mut p, spec);
                device_access(&mut p, spec);
            }
            "default-devices" => default_devices(&mut p),
            "masked" => masked(&mut p, spec),
            "readonly" => readonly(&mut p, spec),
            "sysctl" => sysctl(&mut p, spec),
            "seccomp" => seccomp(&mut p, spec),
            "cgroups" => cgroups(&mut p, spec),
            "personality" => personality(&mut p, spec),
            "lsm" => lsm(&mut p),
            "terminal" => terminal(&mut p, spec),
            "rootfs-propagation" => rootfs_propagation(&mut p, spec),
            _ => {}
        }
    }
    p.checks
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn process(p: &mut Plan, spec: &Value) {
    const S: &str = "config.md#process";
    let proc_ = &spec["process"];
    let args = strings(&proc_["args"]);
    p.add(
        "process.args",
        S,
        Level::Must,
        format!("argv is {args:?}"),
        Probe::Args(args),
    );
    for kv in strings(&proc_["env"]) {
        let (k, v) = kv.split_once('=').unwrap_or((&kv, ""));
        p.add(
            format!("process.env.{k}"),
            S,
            Level::Must,
            format!("env {kv}"),
            Probe::Env(k.into(), v.into()),
        );
    }
    if let Some(cwd) = proc_["cwd"].as_str() {
        p.add(
            "process.cwd",
            S,
            Level::Must,
            format!("cwd is {cwd}"),
            Probe::Cwd(cwd.into()),
        );
    }
    const U: &str = "config.md#posix-platform-user";
    let user = &proc_["user"];
    if let Some(uid) = user["uid"].as_u64() {
        p.add(
            "process.user.uid",
            U,
            Level::Must,
            format!("uid is {uid}"),
            Probe::Uid(uid as u32),
        );
    }
    if let Some(gid) = user["gid"].as_u64() {
        p.add(
            "process.user.gid",
            U,
            Level::Must,
            format!("gid is {gid}"),
            Probe::Gid(gid as u32),
        );
    }
    for g in user["additionalGids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
    {
        p.add(
            format!("process.user.additionalGids.{g}"),
            U,
            Level::Must,
            format!("in group {g}"),
            Probe::Group(g as u32),
        );
    }
    if let Some(m) = user["umask"].as_u64() {
        p.add(
            "process.user.umask",
            U,
            Level::Must,
            format!("umask is {m:04o}"),
            Probe::Umask(m as u32),
        );
    }
    for r in proc_["rlimits"].as_array().into_iter().flatten() {
        let ty = r["type"].as_str().unwrap_or("?").to_owned();
        let (soft, hard) = (
            r["soft"].as_u64().unwrap_or(0),
            r["hard"].as_u64().unwrap_or(0),
        );
        p.add(
            format!("process.rlimits.{ty}"),
            "config.md#posix-process",
            Level::Must,
            format!("getrlimit({ty}) is soft {soft} hard {hard}"),
            Probe::Rlimit(ty, soft, hard),
        );
    }
    let caps = &proc_["capabilities"];
    for (key, status) in [
        ("bounding", "CapBnd"),
        ("effective", "CapEff"),
        ("permitted", "CapPrm"),
        ("inheritable", "CapInh"),
        ("ambient", "CapAmb"),
    ] {
        if caps.get(key).is_some() {
            let set = strings(&caps[key]);
            p.add(
                format!("process.capabilities.{key}"),
                "config.md#linux-process",
                Level::Must,
                format!("{key} set is exactly {set:?}"),
                Probe::Caps(status, set),
            );
        }
    }
    if let Some(nnp) = proc_["noNewPrivileges"].as_bool() {
        p.add(
            "process.noNewPrivileges",
            "config.md#linux-process",
            Level::Must,
            format!("no_new_privs is {}", nnp as u8),
            Probe::NoNewPrivs(nnp),
        );
    }
    if let Some(adj) = proc_["oomScoreAdj"].as_i64() {
        p.add(
            "process.oomScoreAdj",
            "config.md#linux-process",
            Level::Must,
            format!("oom_score_adj is {adj}"),
            Probe::OomScoreAdj(adj),
        );
    }
}

fn root(p: &mut Plan, spec: &Value) {
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

fn uts(p: &mut Plan, spec: &Value) {
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

/// Mount options whose effect the checker can observe.
const CHECKABLE_OPTIONS: &[&str] = &[
    "ro", "rw", "nosuid", "nodev", "noexec", "suid", "dev", "exec", "rshared", "shared", "rslave",
    "slave", "rprivate", "private",
];

fn mount_option_checkable(o: &str) -> bool {
    CHECKABLE_OPTIONS.contains(&o)
        || ["mode=", "size=", "gid=", "ptmxmode="]
            .iter()
            .any(|p| o.starts_with(p))
}

fn mounts(p: &mut Plan, spec: &Value) {
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

const NAMESPACES: [&str; 6] = ["pid", "network", "ipc", "uts", "mount", "cgroup"];

fn namespaces(p: &mut Plan, spec: &Value) {
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

fn idmaps(p: &mut Plan, spec: &Value) {
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

fn devices(p: &mut Plan, spec: &Value) {
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

fn device_access(p: &mut Plan, spec: &Value) {
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

fn default_devices(p: &mut Plan) {
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

fn masked(p: &mut Plan, spec: &Value) {
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

fn readonly(p: &mut Plan, spec: &Value) {
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

fn sysctl(p: &mut Plan, spec: &Value) {
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

fn seccomp(p: &mut Plan, spec: &Value) {
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

fn cgroups(p: &mut Plan, spec: &Value) {
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

fn personality(p: &mut Plan, spec: &Value) {
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

fn lsm(p: &mut Plan) {
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

fn terminal(p: &mut Plan, spec: &Value) {
    if spec["process"]["terminal"] != true {
        return;
    }
    for (fd, name) in [(0, "stdin"), (1, "stdout"), (2, "stderr")] {
        p.add(
            format!("process.terminal.{name}"),
            "config.md#process",
            Level::Must,
            format!("{name} is the terminal"),
            Probe::IsTty(fd),
        );
    }
    p.add(
        "process.terminal.console",
        "config-linux.md#default-devices",
        Level::Must,
        "/dev/console is the container's terminal",
        Probe::Console,
    );
    p.add(
        "process.terminal.controlling",
        "config.md#process",
        Level::Should,
        "the terminal is the controlling terminal",
        Probe::ControllingTty,
    );
}

fn rootfs_propagation(p: &mut Plan, spec: &Value) {
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
