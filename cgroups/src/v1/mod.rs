//! The cgroup v1 driver: one directory per mounted hierarchy.

mod freezer;
mod stats;

pub(crate) use freezer::{freeze, state as freezer_state, thaw};
pub(crate) use stats::{hugetlb_sizes, stats};

use crate::devices::{self, Kind, Rule};
use crate::error::{invalid, Result};
use crate::sys::CgroupFs;
use crate::write::{get, put};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const R: &str = "linux.resources";

/// The container's directory in one v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V1Dir {
    /// Controllers of the hierarchy (`cpu`, `name=systemd`).
    pub controllers: Vec<String>,
    /// Where the hierarchy is mounted on the host.
    pub mountpoint: PathBuf,
    /// The container's directory.
    pub dir: PathBuf,
}

/// The directory of the hierarchy carrying `controller`.
pub(crate) fn dir<'a>(dirs: &'a [V1Dir], controller: &str) -> Option<&'a Path> {
    dirs.iter()
        .find(|d| d.controllers.iter().any(|c| c == controller))
        .map(|d| d.dir.as_path())
}

/// Checks that need the live cgroup but write nothing (memory.checkBeforeUpdate, whether the
/// host's block I/O scheduler has weights).
pub(crate) fn precheck(fs: &dyn CgroupFs, dirs: &[V1Dir], res: &LinuxResources) -> Result<()> {
    if let (Some(b), Some(d)) = (res.block_io(), dir(dirs, "blkio")) {
        if b.weight().is_some_and(|w| w != 0) {
            weight_files(fs, d, &format!("{R}.blockIO.weight"))?;
        }
        for (i, wd) in b.weight_device().iter().flatten().enumerate() {
            if wd.weight().is_some() {
                weight_files(fs, d, &format!("{R}.blockIO.weightDevice[{i}]"))?;
            }
        }
    }
    let Some(m) = res.memory() else { return Ok(()) };
    if m.check_before_update() == Some(true) {
        if let (Some(limit), Some(d)) = (m.limit(), dir(dirs, "memory")) {
            let usage = crate::write::num(fs, d, "memory.usage_in_bytes");
            if limit > 0 && (limit as u64) < usage {
                return Err(invalid(
                    format!("{R}.memory.limit"),
                    format!("{limit} is below the current usage {usage} (checkBeforeUpdate)"),
                ));
            }
        }
    }
    Ok(())
}

/// Writes every resource in `res` (already validated) into the v1 directories.
pub(crate) fn apply(fs: &dyn CgroupFs, dirs: &[V1Dir], res: &LinuxResources) -> Result<()> {
    let need = |c: &str| dir(dirs, c).ok_or_else(|| invalid(R, format!("no {c} hierarchy")));
    if let Some(c) = res.cpu() {
        if c.cpus().as_deref().is_some_and(|s| !s.is_empty())
            || c.mems().as_deref().is_some_and(|s| !s.is_empty())
        {
            cpuset(fs, need("cpuset")?, c)?;
        }
    }
    if let Some(devs) = res.devices() {
        apply_devices(fs, need("devices")?, &devices::rules(devs)?)?;
    }
    if let Some(m) = res.memory() {
        if let Some(d) = dir(dirs, "memory") {
            memory(fs, d, m)?;
        }
    }
    if let Some(c) = res.cpu() {
        if let Some(d) = dir(dirs, "cpu") {
            cpu(fs, d, c)?;
        }
    }
    if let Some(p) = res.pids() {
        if p.limit() != 0 {
            let v = if p.limit() > 0 {
                p.limit().to_string()
            } else {
                "max".into()
            };
            put(
                fs,
                need("pids")?,
                "pids.max",
                &v,
                &format!("{R}.pids.limit"),
            )?;
        }
    }
    if let Some(b) = res.block_io() {
        blkio(fs, need("blkio")?, b)?;
    }
    for (i, h) in res.hugepage_limits().iter().flatten().enumerate() {
        let file = format!("hugetlb.{}.limit_in_bytes", h.page_size());
        put(
            fs,
            need("hugetlb")?,
            &file,
            &h.limit().to_string(),
            &format!("{R}.hugepageLimits[{i}]"),
        )?;
    }
    if let Some(n) = res.network() {
        if let Some(id) = n.class_id() {
            put(
                fs,
                need("net_cls")?,
                "net_cls.classid",
                &id.to_string(),
                &format!("{R}.network.classID"),
            )?;
        }
        for (i, p) in n.priorities().iter().flatten().enumerate() {
            let v = format!("{} {}", p.name(), p.priority());
            put(
                fs,
                need("net_prio")?,
                "net_prio.ifpriomap",
                &v,
                &format!("{R}.network.priorities[{i}]"),
            )?;
        }
    }
    Ok(())
}

fn memory(fs: &dyn CgroupFs, d: &Path, m: &LinuxMemory) -> Result<()> {
    let f = |n: &str| format!("{R}.memory.{n}");
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    if limit == -1 && swap == 0 && fs.exists(&d.join("memory.memsw.limit_in_bytes")) {
        swap = -1;
    }
    // The kernel insists on limit <= memsw at every moment, so the order of the two writes
    // depends on whether the limits go up or down.
    let swap_first = limit != 0 && swap != 0 && {
        let cur = crate::write::num(fs, d, "memory.limit_in_bytes");
        swap == -1 || cur < swap as u64
    };
    let write_swap = |fs: &dyn CgroupFs| -> Result<()> {
        if swap != 0 {
            put(
                fs,
                d,
                "memory.memsw.limit_in_bytes",
                &swap.to_string(),
                &f("swap"),
            )?;
        }
        Ok(())
    };
    if swap_first {
        write_swap(fs)?;
    }
    if limit != 0 {
        put(
            fs,
            d,
            "memory.limit_in_bytes",
            &limit.to_string(),
            &f("limit"),
        )?;
    }
    if !swap_first {
        write_swap(fs)?;
    }
    if let Some(r) = m.reservation().filter(|&r| r != 0) {
        put(
            fs,
            d,
            "memory.soft_limit_in_bytes",
            &r.to_string(),
            &f("reservation"),
        )?;
    }
    if let Some(s) = m.swappiness() {
        put(fs, d, "memory.swappiness", &s.to_string(), &f("swappiness"))?;
    }
    if let Some(k) = m.kernel_tcp().filter(|&k| k != 0) {
        put(
            fs,
            d,
            "memory.kmem.tcp.limit_in_bytes",
            &k.to_string(),
            &f("kernelTCP"),
        )?;
    }
    if let Some(off) = m.disable_oom_killer() {
        put(
            fs,
            d,
            "memory.oom_control",
            if off { "1" } else { "0" },
            &f("disableOOMKiller"),
        )?;
    }
    Ok(())
}

fn cpu(fs: &dyn CgroupFs, d: &Path, c: &LinuxCpu) -> Result<()> {
    let f = |n: &str| format!("{R}.cpu.{n}");
    if let Some(s) = c.shares().filter(|&s| s != 0) {
        put(fs, d, "cpu.shares", &s.to_string(), &f("shares"))?;
    }
    let quota = c.quota().unwrap_or(0);
    let mut period_pending = None;
    if let Some(p) = c.period().filter(|&p| p != 0) {
        // A shorter period can be refused while the old quota is in place; retry it after
        // the new quota when there is one.
        if let Err(e) = put(fs, d, "cpu.cfs_period_us", &p.to_string(), &f("period")) {
            if quota == 0 {
                return Err(e);
            }
            period_pending = Some(p);
        }
    }
    if quota != 0 {
        put(fs, d, "cpu.cfs_quota_us", &quota.to_string(), &f("quota"))?;
    }
    if let Some(p) = period_pending {
        put(fs, d, "cpu.cfs_period_us", &p.to_string(), &f("period"))?;
    }
    if let Some(b) = c.burst() {
        put(fs, d, "cpu.cfs_burst_us", &b.to_string(), &f("burst"))?;
    }
    if let Some(p) = c.realtime_period().filter(|&p| p != 0) {
        put(
            fs,
            d,
            "cpu.rt_period_us",
            &p.to_string(),
            &f("realtimePeriod"),
        )?;
    }
    if let Some(r) = c.realtime_runtime().filter(|&r| r != 0) {
        put(
            fs,
            d,
            "cpu.rt_runtime_us",
            &r.to_string(),
            &f("realtimeRuntime"),
        )?;
    }
    if let Some(i) = c.idle() {
        put(fs, d, "cpu.idle", &i.to_string(), &f("idle"))?;
    }
    Ok(())
}

fn cpuset(fs: &dyn CgroupFs, d: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(v) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        put(fs, d, "cpuset.cpus", v, &format!("{R}.cpu.cpus"))?;
    }
    if let Some(v) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        put(fs, d, "cpuset.mems", v, &format!("{R}.cpu.mems"))?;
    }
    Ok(())
}

/// The weight and per-device weight files of blkio dir `d`. Weights exist only under a
/// scheduler that has them: CFQ's files (kernels before 5.0) or BFQ's. With neither
/// (mq-deadline, kyber, none) a weight cannot be applied, so `field` is refused by name.
fn weight_files(fs: &dyn CgroupFs, d: &Path, field: &str) -> Result<(&'static str, &'static str)> {
    if fs.exists(&d.join("blkio.weight")) {
        Ok(("blkio.weight", "blkio.weight_device"))
    } else if fs.exists(&d.join("blkio.bfq.weight")) {
        Ok(("blkio.bfq.weight", "blkio.bfq.weight_device"))
    } else {
        Err(invalid(
            field,
            format!(
                "this host's blkio controller has no weight files (neither blkio.weight nor \
                 blkio.bfq.weight in {}): no block I/O scheduler with weights (CFQ or BFQ) is \
                 in use",
                d.display()
            ),
        ))
    }
}

fn blkio(fs: &dyn CgroupFs, d: &Path, b: &LinuxBlockIo) -> Result<()> {
    let f = |n: &str| format!("{R}.blockIO.{n}");
    let weight_files = |field: &str| weight_files(fs, d, &f(field));
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        put(
            fs,
            d,
            weight_files("weight")?.0,
            &w.to_string(),
            &f("weight"),
        )?;
    }
    if let Some(w) = b.leaf_weight().filter(|&w| w != 0) {
        put(fs, d, "blkio.leaf_weight", &w.to_string(), &f("leafWeight"))?;
    }
    for (i, wd) in b.weight_device().iter().flatten().enumerate() {
        if let Some(w) = wd.weight() {
            let wdev = weight_files(&format!("weightDevice[{i}]"))?.1;
            // CFQ takes 0 as "remove"; BFQ refuses 0 and wants `default`.
            let w = if wdev == "blkio.weight_device" {
                w.to_string()
            } else {
                crate::v2::device_weight(w.into())
            };
            let v = format!("{}:{} {}", wd.major(), wd.minor(), w);
            put(fs, d, wdev, &v, &f(&format!("weightDevice[{i}]")))?;
        }
        if let Some(w) = wd.leaf_weight() {
            let v = format!("{}:{} {}", wd.major(), wd.minor(), w);
            put(
                fs,
                d,
                "blkio.leaf_weight_device",
                &v,
                &f(&format!("weightDevice[{i}]")),
            )?;
        }
    }
    for (name, file, list) in [
        (
            "throttleReadBpsDevice",
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "throttleWriteBpsDevice",
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "throttleReadIOPSDevice",
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ] {
        for (i, t) in list.iter().flatten().enumerate() {
            let v = format!("{}:{} {}", t.major(), t.minor(), t.rate());
            put(fs, d, file, &v, &f(&format!("{name}[{i}]")))?;
        }
    }
    Ok(())
}

/// Lines for devices.allow/devices.deny: start from deny-all, then the rules in order.
pub(crate) fn device_lines(rules: &[Rule]) -> Vec<(bool, String)> {
    // Everything before the last catch-all rule is overridden by it.
    let start = rules.iter().rposition(Rule::matches_all);
    let base_allow = start.is_some_and(|i| rules[i].allow);
    let rest = &rules[start.map_or(0, |i| i + 1)..];
    let mut out = vec![(base_allow, "a".to_string())];
    let n = |v: Option<u32>| v.map_or("*".to_string(), |v| v.to_string());
    for r in rest {
        // The kernel reads type `a` as "everything", so a narrower `a` rule becomes b and c.
        let kinds: &[char] = match r.kind {
            Kind::All => &['b', 'c'],
            Kind::Block => &['b'],
            Kind::Char => &['c'],
        };
        for k in kinds {
            out.push((
                r.allow,
                format!("{k} {}:{} {}", n(r.major), n(r.minor), r.access_str()),
            ));
        }
    }
    out
}

/// A v1 device exception's type letter, major and minor (`None` = `*`).
type DevMeta = (char, Option<u32>, Option<u32>);

/// Refuses device rules the v1 kernel would silently ignore. The kernel keeps a default plus
/// exact-match exceptions, and a rule that agrees with the default only removes an exception
/// with the very same type, major and minor: after "deny all, allow c *:* rwm", a "deny
/// c 1:3 rwm" is a no-op and /dev/null stays usable although the spec denies it (cgroup v2's
/// program, checked last-to-first, does deny it). runc 1.1 refuses such rules too.
pub(crate) fn check_device_rules(rules: &[Rule]) -> Result<()> {
    let start = rules.iter().rposition(Rule::matches_all);
    let default_allow = start.is_some_and(|i| rules[i].allow);
    let first = start.map_or(0, |i| i + 1);
    // Exceptions: (type, major, minor) and access.
    let mut exc: Vec<(DevMeta, u32)> = Vec::new();
    for (i, r) in rules.iter().enumerate().skip(first) {
        let kinds: &[char] = match r.kind {
            Kind::All => &['b', 'c'],
            Kind::Block => &['b'],
            Kind::Char => &['c'],
        };
        for &k in kinds {
            let meta = (k, r.major, r.minor);
            if r.allow != default_allow {
                match exc.iter_mut().find(|(m, _)| *m == meta) {
                    Some((_, a)) => *a |= r.access,
                    None => exc.push((meta, r.access)),
                }
                continue;
            }
            let covers = |m: &DevMeta| {
                m.0 == k
                    && m.1.is_none_or(|x| Some(x) == r.major)
                    && m.2.is_none_or(|x| Some(x) == r.minor)
            };
            if let Some((m, _)) = exc
                .iter()
                .find(|(m, a)| *m != meta && covers(m) && a & r.access != 0)
            {
                let n = |v: Option<u32>| v.map_or("*".to_string(), |v| v.to_string());
                return Err(invalid(
                    format!("{R}.devices[{i}]"),
                    format!(
                        "cgroup v1 cannot take {} out of the earlier rule for {} {}:{} (it ignores such rules); list the devices to {} instead",
                        r.access_str(),
                        m.0,
                        n(m.1),
                        n(m.2),
                        if r.allow { "deny" } else { "allow" }
                    ),
                ));
            }
            if let Some(pos) = exc.iter().position(|(m, _)| *m == meta) {
                exc[pos].1 &= !r.access;
                if exc[pos].1 == 0 {
                    exc.remove(pos);
                }
            }
        }
    }
    Ok(())
}

fn apply_devices(fs: &dyn CgroupFs, d: &Path, rules: &[Rule]) -> Result<()> {
    let current = get(fs, d, "devices.list").unwrap_or_default();
    let lines = device_lines(rules);
    // An unchanged allow-list is left alone: rewriting it would briefly deny every device to
    // the running container.
    if !current.is_empty() && current == render_list(&lines) {
        return Ok(());
    }
    for (allow, line) in lines {
        let file = if allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        put(fs, d, file, &line, &format!("{R}.devices"))?;
    }
    Ok(())
}

/// What devices.list shows after `lines` when they only add allow entries to a deny-all.
fn render_list(lines: &[(bool, String)]) -> String {
    if lines[0].0 || lines.iter().skip(1).any(|(allow, _)| !allow) {
        return String::new(); // not predictable without an emulator; always rewrite
    }
    lines
        .iter()
        .skip(1)
        .map(|(_, l)| l.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v2::tests::Rec;
    use std::cell::RefCell;

    fn rules(json: &str) -> Vec<Rule> {
        let devs: Vec<oci_spec::runtime::LinuxDeviceCgroup> = serde_json::from_str(json).unwrap();
        devices::rules(&devs).unwrap()
    }

    /// Found writing the `cgroup_resources` oracle (its kernel emulation of devices.allow/deny):
    /// a narrow deny after a wildcard allow was written, and the kernel ignored it.
    #[test]
    fn v1_refuses_holes_in_wildcard_device_rules() {
        let e = check_device_rules(&rules(
            r#"[{"allow":false},{"allow":true,"type":"c","access":"rwm"},
                {"allow":false,"type":"c","major":1,"minor":3,"access":"rw"}]"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("linux.resources.devices[2]: "), "{e}");
        // Allow-by-default: the same for a narrow allow inside a wildcard deny.
        let e = check_device_rules(&rules(
            r#"[{"allow":true},{"allow":false,"type":"b","major":8,"access":"w"},
                {"allow":true,"type":"b","major":8,"minor":0,"access":"rw"}]"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("linux.resources.devices[2]: "), "{e}");
        // Exact matches and disjoint access are fine, as are broader rules after narrow ones
        // (the kernel drops the exact wildcard exception only, as runc does).
        check_device_rules(&rules(
            r#"[{"allow":false},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
                {"allow":false,"type":"c","major":1,"minor":3,"access":"m"},
                {"allow":true,"type":"c","major":5,"access":"r"},
                {"allow":false,"type":"c","major":5,"minor":1,"access":"w"},
                {"allow":false,"type":"c","access":"rwm"}]"#,
        ))
        .unwrap();
    }

    /// BFQ's blkio.bfq.weight_device refuses "8:0 0" (ERANGE); CFQ's file takes 0 as "remove".
    #[test]
    fn zero_device_weight_follows_the_scheduler() {
        let res: LinuxResources = serde_json::from_str(
            r#"{"blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":0}]}}"#,
        )
        .unwrap();
        let dirs = [V1Dir {
            controllers: vec!["blkio".into()],
            mountpoint: "/cg/blkio".into(),
            dir: "/cg/blkio/c".into(),
        }];
        for (has, file, v) in [
            (
                vec!["blkio.bfq.weight"],
                "blkio.bfq.weight_device",
                "8:0 default",
            ),
            (vec!["blkio.weight"], "blkio.weight_device", "8:0 0"),
        ] {
            let fs = Rec(RefCell::new(Vec::new()), has);
            crate::apply_v1_with(&fs, &dirs, &res).unwrap();
            let w = fs.0.into_inner();
            assert_eq!(
                w,
                vec![(Path::new("/cg/blkio/c").join(file), v.to_string())]
            );
        }
    }

    /// mq-deadline, kyber and none have no weights: a weight is refused by field, nothing written.
    #[test]
    fn weights_without_a_weighted_scheduler_are_refused_by_name() {
        let dirs = [V1Dir {
            controllers: vec!["blkio".into()],
            mountpoint: "/cg/blkio".into(),
            dir: "/cg/blkio/c".into(),
        }];
        for (json, field) in [
            (
                r#"{"blockIO":{"weight":300}}"#,
                "linux.resources.blockIO.weight: ",
            ),
            (
                r#"{"blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":50}]}}"#,
                "linux.resources.blockIO.weightDevice[0]: ",
            ),
        ] {
            let res: LinuxResources = serde_json::from_str(json).unwrap();
            let fs = Rec(RefCell::new(Vec::new()), vec![]);
            let e = crate::apply_v1_with(&fs, &dirs, &res)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(field), "{e}");
            assert!(e.contains("blkio.bfq.weight"), "{e}");
            assert!(fs.0.into_inner().is_empty());
        }
    }
}
