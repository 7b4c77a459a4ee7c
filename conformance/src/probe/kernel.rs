//! Kernel-side state: namespaces, id maps, uts names, sysctls, seccomp, cgroups, personality.

use super::{outcome, status_field};
use crate::case::Outcome;
use crate::plan::{CgroupFile, Probe};
use crate::sys::raw_syscall2;

pub(super) fn verify(probe: &Probe) -> Outcome {
    outcome(match probe {
        Probe::NsNew(ns, host) => ns_inode(ns).map(|i| {
            Outcome::check(i != *host && *host != 0, || {
                format!("{ns} inode {i} is the runtime's ({host})")
            })
        }),
        Probe::NsHost(ns, host) => ns_inode(ns).map(|i| {
            Outcome::check(i == *host, || {
                format!("{ns} inode {i}, runtime's is {host}")
            })
        }),
        Probe::NsJoined(ns, want) => ns_inode(ns).map(|i| Outcome::eq(i, *want)),
        Probe::Pid1 => Ok(Outcome::eq(std::process::id(), 1)),
        Probe::IdMap(file, want) => idmap(file).map(|mut got| {
            let mut want = want.clone();
            got.sort();
            want.sort();
            Outcome::eq(got, want)
        }),
        Probe::Hostname(h) => Ok(Outcome::eq(
            nix::sys::utsname::uname()
                .map(|u| u.nodename().to_string_lossy().into_owned())
                .unwrap_or_default(),
            h.clone(),
        )),
        Probe::Domainname(d) => Ok(Outcome::eq(
            nix::sys::utsname::uname()
                .map(|u| u.domainname().to_string_lossy().into_owned())
                .unwrap_or_default(),
            d.clone(),
        )),
        Probe::Sysctl(k, v) => {
            let p = format!("/proc/sys/{}", k.replace('.', "/"));
            std::fs::read_to_string(&p)
                .map_err(|e| format!("read {p}: {e}"))
                .map(|s| Outcome::eq(words(&s), words(v)))
        }
        Probe::SeccompMode => status_field("Seccomp").map(|s| Outcome::eq(s.as_str(), "2")),
        Probe::SeccompErrno(name, nr, arg, errno) => Ok(match raw_syscall2(*nr, *arg, 0) {
            Err(e) => Outcome::eq(e, *errno),
            Ok(r) => Outcome::Fail(format!("{name}({arg}) returned {r}, want errno {errno}")),
        }),
        Probe::SeccompAllowed(name, nr, arg) => Ok(match raw_syscall2(*nr, *arg, 0) {
            Ok(_) => Outcome::Pass,
            Err(e) => Outcome::Fail(format!("{name}({arg}) failed with errno {e}")),
        }),
        Probe::Cgroup(f) => cgroup(f),
        Probe::CgroupPath(suffix) => cgroup_path(suffix),
        Probe::Personality(p) => nix::sys::personality::get()
            .map(|got| {
                Outcome::eq(
                    format!("{:#x}", got.bits() as u64 & 0xff),
                    format!("{p:#x}"),
                )
            })
            .map_err(|e| format!("personality: {e}")),
        other => Err(format!("internal: {other:?} is not a kernel probe")),
    })
}

fn words(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn ns_inode(ns: &str) -> Result<u64, String> {
    let p = format!("/proc/self/ns/{ns}");
    let t = std::fs::read_link(&p).map_err(|e| format!("readlink {p}: {e}"))?;
    inode_of_link(&t.to_string_lossy()).ok_or_else(|| format!("{p} -> {}", t.display()))
}

/// The inode in a namespace link text such as `net:[4026531993]`.
pub fn inode_of_link(t: &str) -> Option<u64> {
    t.split_once(":[")?.1.strip_suffix(']')?.parse().ok()
}

fn idmap(file: &str) -> Result<Vec<(u64, u64, u64)>, String> {
    let p = format!("/proc/self/{file}");
    let text = std::fs::read_to_string(&p).map_err(|e| format!("read {p}: {e}"))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let n: Vec<u64> = l
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (n.len() == 3).then(|| (n[0], n[1], n[2]))
        })
        .collect())
}

/// (controllers, path) pairs of /proc/self/cgroup.
fn self_cgroups() -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("read /proc/self/cgroup: {e}"))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
            Some((ctrls.to_owned(), path.to_owned()))
        })
        .collect())
}

fn is_cgroup2_root() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

fn cgroup(f: &CgroupFile) -> Result<Outcome, String> {
    let cgs = self_cgroups()?;
    let (dirs, file, want): (Vec<String>, &str, &str) = if is_cgroup2_root() {
        let Some(file) = f.v2_file else {
            return Ok(Outcome::Skip(format!(
                "{} has no cgroup v2 file",
                f.v1_file
            )));
        };
        let path = cgs
            .iter()
            .find(|(c, _)| c.is_empty())
            .map(|(_, p)| p.clone())
            .unwrap_or_default();
        (
            vec![format!("/sys/fs/cgroup{path}"), "/sys/fs/cgroup".into()],
            file,
            &f.v2_value,
        )
    } else {
        let (ctrls, path) = cgs
            .iter()
            .find(|(c, _)| c.split(',').any(|x| x == f.controller))
            .cloned()
            .ok_or_else(|| format!("no {} hierarchy in /proc/self/cgroup", f.controller))?;
        let mut dirs = Vec::new();
        for base in [f.controller.to_owned(), ctrls] {
            dirs.push(format!("/sys/fs/cgroup/{base}{path}"));
            dirs.push(format!("/sys/fs/cgroup/{base}"));
        }
        (dirs, f.v1_file, &f.v1_value)
    };
    for d in &dirs {
        if let Ok(s) = std::fs::read_to_string(format!("{d}/{file}")) {
            return Ok(Outcome::check(s.trim() == want, || {
                format!("{d}/{file} is {:?}, want {want:?}", s.trim())
            }));
        }
    }
    Err(format!("{file} not found in {dirs:?}"))
}

fn cgroup_path(suffix: &str) -> Result<Outcome, String> {
    let cgs = self_cgroups()?;
    let want = format!("/{}", suffix.trim_start_matches('/'));
    let line = cgs
        .iter()
        .find(|(c, _)| c.split(',').any(|x| x == "memory"))
        .or_else(|| cgs.iter().find(|(c, _)| c.is_empty()))
        .ok_or("no memory or unified line in /proc/self/cgroup")?;
    Ok(Outcome::check(line.1.ends_with(&want), || {
        format!(
            "cgroup {} path is {}, want it to end with {want}",
            line.0, line.1
        )
    }))
}
