//! Which checks a config implies: the same function runs in the runner (to know which cases to
//! expect) and in the checker (to verify them), so both always agree on the list.

use crate::case::{Case, Level};
use crate::context::Context;
use serde_json::Value;

mod fs;
mod linux;
mod process;

pub use linux::SECCOMP_PROBES;

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

pub(crate) struct Plan<'a> {
    ctx: &'a Context,
    checks: Vec<Check>,
}

impl Plan<'_> {
    pub(crate) fn add(
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
    use fs::*;
    use linux::*;
    use process::*;
    let mut p = Plan {
        ctx,
        checks: Vec::new(),
    };
    for area in &ctx.areas {
        match area.as_str() {
            "process" => process(&mut p, spec),
            "cwd" => cwd(&mut p, spec),
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

pub(crate) fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
