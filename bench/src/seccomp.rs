//! The ~300-rule seccomp profile of scenario 4: Docker's default profile when the runtime's
//! test fixture provides it, else an equivalent allow-list built here.

use crate::error::{BenchError, Result};
use serde_json::{json, Value};
use std::path::Path;

/// Where the runtime crate keeps Docker's default profile, relative to the workspace.
pub const DOCKER_FIXTURE: &str = "runtime/tests/fixtures/seccomp-docker-default.json";

/// x86_64 system calls an unprivileged container may make: every syscall in the kernel's
/// x86_64 table except those Docker's default profile withholds from a container without
/// extra capabilities (mount, ptrace, bpf, kexec, module loading, namespaces, ...).
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "arch_prctl",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chroot",
    "clock_getres",
    "clock_gettime",
    "clock_nanosleep",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fallocate",
    "fanotify_init",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchownat",
    "fcntl",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstatfs",
    "fsync",
    "ftruncate",
    "futex",
    "futex_waitv",
    "futimesat",
    "get_robust_list",
    "get_thread_area",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getgroups",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresuid",
    "getrlimit",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "gettid",
    "gettimeofday",
    "getuid",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_setup",
    "io_submit",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ioctl",
    "ioprio_get",
    "ioprio_set",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "migrate_pages",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "modify_ldt",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedsend",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_getfd",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_madvise",
    "process_mrelease",
    "pselect6",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recvfrom",
    "recvmmsg",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_tgsigqueueinfo",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "sendfile",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "set_robust_list",
    "set_thread_area",
    "set_tid_address",
    "setdomainname",
    "setfsgid",
    "setfsuid",
    "setgid",
    "setgroups",
    "sethostname",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setresgid",
    "setresuid",
    "setreuid",
    "setrlimit",
    "setsid",
    "setsockopt",
    "setuid",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "socket",
    "socketpair",
    "splice",
    "stat",
    "statfs",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_settime",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_settime",
    "times",
    "tkill",
    "truncate",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "write",
    "writev",
];

/// The profile in OCI form and where it came from.
pub struct Profile {
    /// linux.seccomp for config.json.
    pub oci: Value,
    /// Human description for the results.
    pub source: String,
    /// How many (syscall, condition) rules it holds.
    pub rules: usize,
}

/// Docker's default profile from the runtime's fixtures if present, else the built-in list.
pub fn profile(workspace: &Path) -> Result<Profile> {
    let fixture = workspace.join(DOCKER_FIXTURE);
    if fixture.exists() {
        let text = std::fs::read_to_string(&fixture).map_err(BenchError::io(&fixture))?;
        let doc: Value = serde_json::from_str(&text).map_err(|source| BenchError::Json {
            what: fixture.display().to_string(),
            source,
        })?;
        let oci = to_oci(&doc);
        let rules = count_rules(&oci);
        return Ok(Profile {
            oci,
            source: format!("{DOCKER_FIXTURE} (Docker's default profile)"),
            rules,
        });
    }
    let oci = builtin();
    let rules = count_rules(&oci);
    Ok(Profile {
        oci,
        source: "bench's built-in allow-list (Docker-default equivalent)".into(),
        rules,
    })
}

/// An allow-list in the shape of Docker's default: deny with EPERM, allow the listed calls,
/// plus its argument-conditional rules for personality(2) and clone(2).
pub fn builtin() -> Value {
    let mut syscalls = vec![json!({"names": ALLOWED, "action": "SCMP_ACT_ALLOW"})];
    for persona in [0u64, 8, 0x20000, 0x20008, 0xffff_ffff] {
        syscalls.push(json!({
            "names": ["personality"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": persona, "op": "SCMP_CMP_EQ"}]
        }));
    }
    // clone without any namespace flag (CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP).
    syscalls.push(json!({
        "names": ["clone"], "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": 0x7E02_0000u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]
    }));
    syscalls.push(json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}));
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls,
    })
}

/// Converts Docker's profile format (archMap, includes/excludes by arch and capability) to the
/// OCI form for an x86_64 container with the default capability set; OCI input passes through.
pub fn to_oci(doc: &Value) -> Value {
    if doc.get("archMap").is_none() {
        return doc.clone();
    }
    let arches: Vec<Value> = doc["archMap"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["architecture"] == "SCMP_ARCH_X86_64")
        .flat_map(|m| {
            let mut v = vec![m["architecture"].clone()];
            v.extend(
                m["subArchitectures"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
            v
        })
        .collect();
    let syscalls: Vec<Value> = doc["syscalls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| applies(r))
        .map(|r| {
            let mut r = r.clone();
            if let Some(o) = r.as_object_mut() {
                o.remove("includes");
                o.remove("excludes");
                o.remove("comment");
            }
            r
        })
        .collect();
    let mut out = json!({
        "defaultAction": doc["defaultAction"],
        "architectures": arches,
        "syscalls": syscalls,
    });
    if let Some(e) = doc.get("defaultErrnoRet") {
        out["defaultErrnoRet"] = e.clone();
    }
    out
}

/// Whether a Docker rule applies to x86_64 with only the default (runc spec) capabilities.
fn applies(rule: &Value) -> bool {
    const DEFAULT_CAPS: &[&str] = &["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let inc = &rule["includes"];
    if let Some(a) = inc["arches"].as_array() {
        if !a.iter().any(|x| x == "amd64" || x == "x86_64") {
            return false;
        }
    }
    if let Some(c) = inc["caps"].as_array() {
        if !c.iter().all(|x| DEFAULT_CAPS.iter().any(|d| x == d)) {
            return false;
        }
    }
    if inc.get("minKernel").is_some_and(|k| !k.is_null()) {
        return false;
    }
    let exc = &rule["excludes"];
    if let Some(c) = exc["caps"].as_array() {
        if c.iter().any(|x| DEFAULT_CAPS.iter().any(|d| x == d)) {
            return false;
        }
    }
    if let Some(a) = exc["arches"].as_array() {
        if a.iter().any(|x| x == "amd64" || x == "x86_64") {
            return false;
        }
    }
    true
}

/// Number of (syscall name, rule) pairs: what the filter compiler turns into checks.
pub fn count_rules(oci: &Value) -> usize {
    oci["syscalls"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["names"].as_array().map_or(0, |n| n.len()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profile_has_about_300_rules_and_keeps_the_dangerous_calls_out() {
        let p = builtin();
        let n = count_rules(&p);
        assert!((280..=400).contains(&n), "{n} rules");
        let allowed = &p["syscalls"][0]["names"];
        for call in ["mount", "ptrace", "bpf", "kexec_load", "unshare", "setns"] {
            assert!(
                !allowed.as_array().unwrap().iter().any(|x| x == call),
                "{call}"
            );
        }
        for call in ["execve", "exit_group", "openat", "read", "write", "mmap"] {
            assert!(
                allowed.as_array().unwrap().iter().any(|x| x == call),
                "{call}"
            );
        }
    }

    #[test]
    fn docker_format_is_filtered_by_arch_and_capability() {
        let doc = json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
                        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": []}],
            "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["arm_fadvise64_64"], "action": "SCMP_ACT_ALLOW",
                 "includes": {"arches": ["arm"]}},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW",
                 "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "excludes": {"caps": ["CAP_SYS_ADMIN"]}, "comment": "x"}
            ]
        });
        let oci = to_oci(&doc);
        assert_eq!(
            oci["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
        );
        let names: Vec<&Value> = oci["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r["names"][0])
            .collect();
        assert_eq!(names, [&json!("read"), &json!("clone")]);
        assert!(oci["syscalls"][1].get("excludes").is_none());
    }
}
