//! The last steps before execve, shared by the container init and `exec`: rlimits, user and
//! groups, capabilities, no_new_privs, umask, cwd, environment and the executable's path.

use crate::error::{Error, Result, SysContext};
use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{PosixRlimitType, Process};
use std::ffi::CString;
use std::path::{Path, PathBuf};

/// Applies process.rlimits; EPERM (raising a hard limit without CAP_SYS_RESOURCE) is reported
/// as such.
pub fn rlimits(p: &Process) -> Result<()> {
    for (i, r) in p.rlimits().iter().flatten().enumerate() {
        let res = rlimit_resource(r.typ());
        let rl = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: setrlimit reads a valid rlimit struct that lives for the call.
        let rc = unsafe { libc::setrlimit(res as _, &rl) };
        if rc != 0 {
            let e = nix::errno::Errno::last();
            let hint = if e == nix::errno::Errno::EPERM {
                " (raising a hard limit needs CAP_SYS_RESOURCE)"
            } else {
                ""
            };
            return Err(Error::Child(format!(
                "process.rlimits[{i}] ({:?} soft {} hard {}): {e}{hint}",
                r.typ(),
                r.soft(),
                r.hard()
            )));
        }
    }
    Ok(())
}

fn rlimit_resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType as T;
    match t {
        T::RlimitCpu => libc::RLIMIT_CPU,
        T::RlimitFsize => libc::RLIMIT_FSIZE,
        T::RlimitData => libc::RLIMIT_DATA,
        T::RlimitStack => libc::RLIMIT_STACK,
        T::RlimitCore => libc::RLIMIT_CORE,
        T::RlimitRss => libc::RLIMIT_RSS,
        T::RlimitNproc => libc::RLIMIT_NPROC,
        T::RlimitNofile => libc::RLIMIT_NOFILE,
        T::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        T::RlimitAs => libc::RLIMIT_AS,
        T::RlimitLocks => libc::RLIMIT_LOCKS,
        T::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        T::RlimitNice => libc::RLIMIT_NICE,
        T::RlimitRtprio => libc::RLIMIT_RTPRIO,
        T::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

fn to_caps(set: &Option<oci_spec::runtime::Capabilities>) -> CapsHashSet {
    set.iter()
        .flatten()
        .filter_map(|c| {
            let name = serde_json::to_value(c).ok()?;
            name.as_str()?.parse::<Capability>().ok()
        })
        .collect()
}

/// Capabilities held past the user switch while a seccomp filter is still to be installed
/// without no_new_privs: installing it needs CAP_SYS_ADMIN, and taking that out of the bounding
/// set afterwards needs CAP_SETPCAP (dropped last).
const KEPT_FOR_SECCOMP: [Capability; 2] = [Capability::CAP_SYS_ADMIN, Capability::CAP_SETPCAP];

/// The kept capabilities this process actually holds (only those can be kept).
fn kept_for_seccomp() -> CapsHashSet {
    KEPT_FOR_SECCOMP
        .into_iter()
        .filter(|c| caps::has_cap(None, CapSet::Permitted, *c).unwrap_or(false))
        .collect()
}

/// Switches to the process's user and capabilities: bounding set first (needs CAP_SETPCAP),
/// then groups and ids with KEEPCAPS so permitted survives, then the exact sets. With
/// `keep_for_seccomp`, CAP_SYS_ADMIN and CAP_SETPCAP stay until [`drop_kept_caps`], so that
/// a filter without no_new_privs can still go in after everything else.
pub fn user_and_caps(p: &Process, setgroups_allowed: bool, keep_for_seccomp: bool) -> Result<()> {
    let caps_cfg = p.capabilities().clone().unwrap_or_default();
    let kept = if keep_for_seccomp {
        kept_for_seccomp()
    } else {
        CapsHashSet::new()
    };
    let mut bounding = to_caps(caps_cfg.bounding());
    bounding.extend(kept.iter().copied());
    for c in caps::all() {
        if !bounding.contains(&c) && caps::has_cap(None, CapSet::Bounding, c).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, c)
                .map_err(|e| Error::Child(format!("drop bounding cap {c}: {e}")))?;
        }
    }
    nix::sys::prctl::set_keepcaps(true).sys(|| "prctl(PR_SET_KEEPCAPS)".into())?;
    let u = p.user();
    if setgroups_allowed {
        let gids: Vec<Gid> = u
            .additional_gids()
            .iter()
            .flatten()
            .map(|g| Gid::from_raw(*g))
            .collect();
        nix::unistd::setgroups(&gids).sys(|| "process.user.additionalGids: setgroups".into())?;
    }
    let gid = Gid::from_raw(u.gid());
    nix::unistd::setresgid(gid, gid, gid).sys(|| format!("process.user.gid: setgid {gid}"))?;
    let uid = Uid::from_raw(u.uid());
    nix::unistd::setresuid(uid, uid, uid).sys(|| format!("process.user.uid: setuid {uid}"))?;
    nix::sys::prctl::set_keepcaps(false).sys(|| "prctl(PR_SET_KEEPCAPS)".into())?;
    caps::set(None, CapSet::Inheritable, &to_caps(caps_cfg.inheritable()))
        .map_err(|e| Error::Child(format!("process.capabilities.inheritable: {e}")))?;
    let mut permitted = to_caps(caps_cfg.permitted());
    let mut effective = to_caps(caps_cfg.effective());
    permitted.extend(kept.iter().copied());
    effective.extend(kept.iter().copied());
    exact_sets(&permitted, &effective)?;
    caps::clear(None, CapSet::Ambient).map_err(|e| Error::Child(format!("clear ambient: {e}")))?;
    for c in to_caps(caps_cfg.ambient()) {
        // Ambient needs the cap in permitted and inheritable; the kernel refuses otherwise,
        // and runc ignores such entries too.
        let _ = caps::raise(None, CapSet::Ambient, c);
    }
    Ok(())
}

/// Sets permitted and effective exactly; effective must stay within permitted at every step.
fn exact_sets(permitted: &CapsHashSet, effective: &CapsHashSet) -> Result<()> {
    let capset = |set: CapSet, v: &CapsHashSet, what: &str| {
        caps::set(None, set, v)
            .map_err(|e| Error::Child(format!("process.capabilities.{what}: {e}")))
    };
    capset(
        CapSet::Effective,
        &effective.intersection(permitted).copied().collect(),
        "effective",
    )?;
    capset(CapSet::Permitted, permitted, "permitted")?;
    capset(CapSet::Effective, effective, "effective")
}

/// Gives up what [`user_and_caps`] kept for seccomp, once the filter is in: the process ends
/// with exactly its configured sets. Lowering permitted also clears ambient caps outside it.
pub fn drop_kept_caps(p: &Process) -> Result<()> {
    let caps_cfg = p.capabilities().clone().unwrap_or_default();
    let bounding = to_caps(caps_cfg.bounding());
    for c in KEPT_FOR_SECCOMP {
        if !bounding.contains(&c) && caps::has_cap(None, CapSet::Bounding, c).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, c)
                .map_err(|e| Error::Child(format!("drop bounding cap {c}: {e}")))?;
        }
    }
    exact_sets(
        &to_caps(caps_cfg.permitted()),
        &to_caps(caps_cfg.effective()),
    )
}

/// no_new_privs and umask.
pub fn privs_and_umask(p: &Process) -> Result<()> {
    if p.no_new_privileges().unwrap_or(false) {
        nix::sys::prctl::set_no_new_privs().sys(|| "prctl(PR_SET_NO_NEW_PRIVS)".into())?;
    }
    if let Some(m) = p.user().umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(m as _));
    }
    Ok(())
}

/// chdir into process.cwd and make sure it landed inside the container: a cwd such as
/// /proc/self/fd/N could otherwise reach a host directory through one of our own fds
/// (CVE-2024-21626 class).
pub fn enter_cwd(p: &Process) -> Result<()> {
    let cwd = p.cwd();
    nix::unistd::chdir(cwd).sys(|| format!("process.cwd: chdir {}", cwd.display()))?;
    match nix::unistd::getcwd() {
        Ok(real) if real.is_absolute() => Ok(()),
        _ => Err(Error::Child(format!(
            "process.cwd: {} is outside the container",
            cwd.display()
        ))),
    }
}

/// The environment: process.env plus HOME from /etc/passwd when unset (as runc).
pub fn environment(p: &Process) -> Vec<String> {
    let mut env: Vec<String> = p.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", home_of(p.user().uid())));
    }
    env
}

fn home_of(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[2].parse() == Ok(uid))
        .map(|f| f[5].to_owned())
        .unwrap_or_else(|| "/".to_owned())
}

/// Finds args[0] like execvp, but in the container's PATH (from `env`).
pub fn find_executable(arg0: &str, env: &[String]) -> Result<PathBuf> {
    let not_found = || {
        Error::Child(format!(
            "exec: {arg0:?}: executable file not found in $PATH"
        ))
    };
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        return match std::fs::metadata(&p) {
            Ok(m) if m.is_file() => Ok(p),
            Ok(_) => Err(Error::Child(format!("exec: {arg0:?}: is a directory"))),
            Err(e) => Err(Error::Child(format!("exec: {arg0:?}: {e}"))),
        };
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let cand = Path::new(dir).join(arg0);
        if let Ok(m) = std::fs::metadata(&cand) {
            use std::os::unix::fs::PermissionsExt;
            if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                return Ok(cand);
            }
        }
    }
    Err(not_found())
}

/// execve, with arguments and environment converted; returns only on failure.
pub fn exec(path: &Path, args: &[String], env: &[String]) -> Error {
    let c = |s: &str| CString::new(s).unwrap_or_default();
    let path_c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap_or_default();
    let argv: Vec<CString> = args.iter().map(|a| c(a)).collect();
    let envp: Vec<CString> = env.iter().map(|e| c(e)).collect();
    match nix::unistd::execve(&path_c, &argv, &envp) {
        Err(e) => Error::Child(format!("exec {}: {e}", path.display())),
        Ok(never) => match never {},
    }
}

/// Joins the container's own session keyring (`_ses.<id>`), so container processes never hold
/// the caller's session keys. The init (`owner`) makes it and lets its owner search it, and with
/// a user namespace anyone: exec joins it by name as host root, before taking the process's
/// ids, and host root is not container root there. Without keyring support (ENOSYS) there is
/// nothing to isolate; any other failure stops the process.
pub fn session_keyring(id: &str, owner: bool, userns: bool) -> Result<()> {
    // Possessor: everything; owner: view, read, search; others: search with a user namespace.
    let perm = 0x3f0b_0000 | if userns { 0x08 } else { 0 };
    let serial = match crate::sys::join_session_keyring(&format!("_ses.{id}")) {
        Ok(s) => s,
        Err(nix::errno::Errno::ENOSYS) => return Ok(()),
        Err(e) => return Err(e).sys(|| "join a new session keyring".into()),
    };
    if owner {
        crate::sys::set_key_perm(serial, perm).sys(|| "set session keyring permissions".into())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_in_container_path() {
        let env = vec!["PATH=/nonexistent:/bin".to_owned()];
        assert_eq!(
            find_executable("sh", &env).unwrap(),
            PathBuf::from("/bin/sh")
        );
        let e = find_executable("no-such-binary-xyz", &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("executable file not found in $PATH"), "{e}");
        assert!(find_executable("/bin", &env).is_err());
    }
}
