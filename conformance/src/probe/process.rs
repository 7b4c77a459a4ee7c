//! Process attributes: argv, env, cwd, ids, umask, rlimits, capabilities, nnp, oom_score_adj.

use super::{outcome, status_field};
use crate::case::Outcome;
use crate::plan::Probe;
use nix::sys::resource::{getrlimit, Resource};
use nix::unistd::{getgroups, getresgid, getresuid};
use std::str::FromStr;

pub(super) fn verify(probe: &Probe) -> Outcome {
    outcome(match probe {
        Probe::Args(want) => Ok(Outcome::eq(
            std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            want.clone(),
        )),
        Probe::Env(k, v) => Ok(Outcome::eq(
            std::env::var_os(k).map(|s| s.to_string_lossy().into_owned()),
            Some(v.clone()),
        )),
        // /proc/self/cwd rather than getcwd(2), which a seccomp scenario filters.
        Probe::Cwd(want) => std::fs::read_link("/proc/self/cwd")
            .map(|d| {
                Outcome::eq(
                    d.to_string_lossy().into_owned(),
                    want.trim_end_matches('/').to_owned().max("/".into()),
                )
            })
            .map_err(|e| format!("readlink /proc/self/cwd: {e}")),
        Probe::Uid(u) => getresuid().map_err(|e| format!("getresuid: {e}")).map(|r| {
            Outcome::eq(
                [r.real.as_raw(), r.effective.as_raw(), r.saved.as_raw()],
                [*u; 3],
            )
        }),
        Probe::Gid(g) => getresgid().map_err(|e| format!("getresgid: {e}")).map(|r| {
            Outcome::eq(
                [r.real.as_raw(), r.effective.as_raw(), r.saved.as_raw()],
                [*g; 3],
            )
        }),
        Probe::Group(g) => getgroups()
            .map_err(|e| format!("getgroups: {e}"))
            .map(|gs| {
                let gs: Vec<u32> = gs.iter().map(|g| g.as_raw()).collect();
                Outcome::check(gs.contains(g), || format!("groups are {gs:?}, {g} missing"))
            }),
        Probe::Umask(m) => status_field("Umask").and_then(|s| {
            u32::from_str_radix(&s, 8)
                .map(|got| Outcome::eq(format!("{got:04o}"), format!("{m:04o}")))
                .map_err(|e| format!("Umask {s}: {e}"))
        }),
        Probe::Rlimit(name, soft, hard) => rlimit(name).and_then(|r| {
            getrlimit(r)
                .map(|got| Outcome::eq(got, (*soft, *hard)))
                .map_err(|e| format!("getrlimit({name}): {e}"))
        }),
        Probe::Caps(key, names) => caps(key, names),
        Probe::NoNewPrivs(want) => {
            status_field("NoNewPrivs").map(|s| Outcome::eq(s, (*want as u8).to_string()))
        }
        Probe::OomScoreAdj(want) => std::fs::read_to_string("/proc/self/oom_score_adj")
            .map(|s| Outcome::eq(s.trim().to_owned(), want.to_string()))
            .map_err(|e| format!("read oom_score_adj: {e}")),
        other => Err(format!("internal: {other:?} is not a process probe")),
    })
}

fn rlimit(name: &str) -> Result<Resource, String> {
    Ok(match name {
        "RLIMIT_AS" => Resource::RLIMIT_AS,
        "RLIMIT_CORE" => Resource::RLIMIT_CORE,
        "RLIMIT_CPU" => Resource::RLIMIT_CPU,
        "RLIMIT_DATA" => Resource::RLIMIT_DATA,
        "RLIMIT_FSIZE" => Resource::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => Resource::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => Resource::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => Resource::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => Resource::RLIMIT_NICE,
        "RLIMIT_NOFILE" => Resource::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => Resource::RLIMIT_NPROC,
        "RLIMIT_RSS" => Resource::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => Resource::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => Resource::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => Resource::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => Resource::RLIMIT_STACK,
        other => return Err(format!("unknown rlimit type {other}")),
    })
}

fn caps(key: &str, names: &[String]) -> Result<Outcome, String> {
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    let mut want = 0u64;
    for n in names {
        let c = caps::Capability::from_str(n).map_err(|e| format!("capability {n}: {e}"))?;
        if u32::from(c.index()) <= last {
            want |= c.bitmask();
        }
    }
    let got = u64::from_str_radix(&status_field(key)?, 16).map_err(|e| format!("{key}: {e}"))?;
    let show = |mask: u64| -> Vec<String> {
        caps::all()
            .into_iter()
            .filter(|c| mask & c.bitmask() != 0)
            .map(|c| c.to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    Ok(Outcome::check(got == want, || {
        let (g, w) = (show(got), show(want));
        let extra: Vec<_> = g.iter().filter(|c| !w.contains(c)).collect();
        let missing: Vec<_> = w.iter().filter(|c| !g.contains(c)).collect();
        format!("{key} is {got:#x}, want {want:#x}: extra {extra:?}, missing {missing:?}")
    }))
}
