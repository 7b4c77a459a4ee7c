//! `update` and `events`: live resource limits and statistics through the cgroup.

use crate::cli::{EventsArgs, UpdateArgs};
use crate::error::{Error, Result};
use crate::state::{State, Status};
use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};
use std::io::Read;
use std::path::Path;

/// Parses a byte size like runc: `1024`, `64k`, `100M`, `1g`, `-1` (unlimited).
pub fn parse_bytes(flag: &str, s: &str) -> Result<i64> {
    let bad = || Error::Arg(format!("--{flag}: invalid size {s:?}"));
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    if n < 0.0 {
        return Err(bad());
    }
    Ok((n * mult as f64) as i64)
}

/// What `update` asks to change: the resources file, then single-value flags on top.
fn requested(a: &UpdateArgs) -> Result<LinuxResources> {
    let mut r: LinuxResources = match &a.resources {
        Some(p) => {
            let mut data = Vec::new();
            if p.as_os_str() == "-" {
                std::io::stdin()
                    .read_to_end(&mut data)
                    .map_err(|e| Error::Arg(format!("--resources -: {e}")))?;
            } else {
                data = std::fs::read(p)
                    .map_err(|e| Error::Arg(format!("--resources {}: {e}", p.display())))?;
            }
            crate::config::parse(&data, "--resources")?
        }
        None => LinuxResources::default(),
    };
    // LinuxMemory has no setters: edit it as JSON.
    let mut mem = serde_json::to_value(r.memory().unwrap_or_default()).expect("json");
    let mut mem_set = r.memory().is_some();
    for (flag, key, v) in [
        ("memory", "limit", &a.memory),
        ("memory-reservation", "reservation", &a.memory_reservation),
        ("memory-swap", "swap", &a.memory_swap),
    ] {
        if let Some(v) = v {
            mem[key] = serde_json::json!(parse_bytes(flag, v)?);
            mem_set = true;
        }
    }
    if mem_set {
        let m: LinuxMemory =
            serde_json::from_value(mem).map_err(|e| Error::Arg(format!("memory: {e}")))?;
        r.set_memory(Some(m));
    }
    let mut cpu = r.cpu().clone().unwrap_or_default();
    let cpu_set = r.cpu().is_some()
        || a.cpu_period.is_some()
        || a.cpu_quota.is_some()
        || a.cpu_rt_period.is_some()
        || a.cpu_rt_runtime.is_some()
        || a.cpu_share.is_some()
        || a.cpuset_cpus.is_some()
        || a.cpuset_mems.is_some();
    set_some(&mut cpu, a.cpu_period, LinuxCpu::set_period);
    set_some(&mut cpu, a.cpu_quota, LinuxCpu::set_quota);
    set_some(&mut cpu, a.cpu_rt_period, LinuxCpu::set_realtime_period);
    set_some(&mut cpu, a.cpu_rt_runtime, LinuxCpu::set_realtime_runtime);
    set_some(&mut cpu, a.cpu_share, LinuxCpu::set_shares);
    set_some(&mut cpu, a.cpuset_cpus.clone(), LinuxCpu::set_cpus);
    set_some(&mut cpu, a.cpuset_mems.clone(), LinuxCpu::set_mems);
    if cpu_set {
        r.set_cpu(Some(cpu));
    }
    if let Some(p) = a.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(p);
        r.set_pids(Some(pids));
    }
    if let Some(w) = a.blkio_weight {
        let mut b = r.block_io().clone().unwrap_or_default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    Ok(r)
}

fn set_some<T, V>(target: &mut T, v: Option<V>, f: fn(&mut T, Option<V>) -> &mut T) {
    if v.is_some() {
        f(target, v);
    }
}

/// Applies changed limits to a live container and records them in its state.
pub fn update(root: &Path, a: &UpdateArgs) -> Result<()> {
    let mut st = State::load(root, &a.id)?;
    if st.status(root) == Status::Stopped {
        return Err(Error::State("container not running".into()));
    }
    let req = requested(a)?;
    st.cgroup.apply(&req)?;
    // Remember what is now in force, field by field.
    let mut spec = st.config.clone();
    if let Some(linux) = spec.linux_mut() {
        let mut cur = linux.resources().clone().unwrap_or_default();
        if req.memory().is_some() {
            cur.set_memory(*req.memory());
        }
        if req.cpu().is_some() {
            cur.set_cpu(req.cpu().clone());
        }
        if req.pids().is_some() {
            cur.set_pids(*req.pids());
        }
        if req.block_io().is_some() {
            cur.set_block_io(req.block_io().clone());
        }
        if req.devices().is_some() {
            cur.set_devices(req.devices().clone());
        }
        linux.set_resources(Some(cur));
    }
    st.config = spec;
    st.save(root)
}

/// Prints stats events (one with `--stats`, else every interval) and OOM events, as JSON lines.
pub fn events(root: &Path, a: &EventsArgs) -> Result<()> {
    let st = State::load(root, &a.id)?;
    if st.status(root) == Status::Stopped {
        return Err(Error::State("container not running".into()));
    }
    let print = |kind: &str, data: Option<serde_json::Value>| {
        let mut v = serde_json::json!({"type": kind, "id": a.id});
        if let Some(d) = data {
            v["data"] = d;
        }
        println!("{v}");
    };
    let stats = || -> Result<serde_json::Value> {
        Ok(serde_json::to_value(st.cgroup.stats()?).expect("stats serialize"))
    };
    if a.stats {
        print("stats", Some(stats()?));
        return Ok(());
    }
    let interval = humantime::parse_duration(&a.interval)
        .map_err(|e| Error::Arg(format!("--interval {:?}: {e}", a.interval)))?;
    let mut oom = st.cgroup.oom_watcher().ok();
    let mut next = std::time::Instant::now();
    while st.init_alive() {
        let now = std::time::Instant::now();
        if now >= next {
            print("stats", Some(stats()?));
            next = now + interval;
        }
        let wait = next.saturating_duration_since(std::time::Instant::now());
        match &mut oom {
            Some(w) => {
                let fd = unsafe_borrow(w);
                let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
                let ms = nix::poll::PollTimeout::try_from(wait.as_millis().min(1000) as i32)
                    .unwrap_or(nix::poll::PollTimeout::ZERO);
                let _ = nix::poll::poll(&mut fds, ms);
                for _ in 0..w.check()? {
                    print("oom", None);
                }
            }
            None => std::thread::sleep(wait.min(std::time::Duration::from_secs(1))),
        }
    }
    // An OOM kill of the init ends the loop as it happens: its event may have landed after
    // the last check, and is the one a caller waits for.
    if let Some(w) = &mut oom {
        for _ in 0..w.check()? {
            print("oom", None);
        }
    }
    Ok(())
}

fn unsafe_borrow(w: &dm_cgroups::OomWatcher) -> std::os::fd::BorrowedFd<'_> {
    use std::os::fd::AsRawFd;
    // SAFETY: the watcher owns the fd and outlives the returned borrow.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(w.as_raw_fd()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("memory", "1024").unwrap(), 1024);
        assert_eq!(parse_bytes("memory", "64k").unwrap(), 65536);
        assert_eq!(parse_bytes("memory", "100M").unwrap(), 100 << 20);
        assert_eq!(parse_bytes("memory", "1gb").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("memory", "-1").unwrap(), -1);
        assert!(parse_bytes("memory", "lots")
            .unwrap_err()
            .to_string()
            .contains("--memory"));
    }

    #[test]
    fn flags_build_resources() {
        let a = UpdateArgs {
            memory: Some("64m".into()),
            cpu_quota: Some(5000),
            pids_limit: Some(7),
            id: "x".into(),
            ..Default::default()
        };
        let r = requested(&a).unwrap();
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(64 << 20));
        assert_eq!(r.cpu().as_ref().unwrap().quota(), Some(5000));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 7);
        assert!(r.block_io().is_none());
    }
}
