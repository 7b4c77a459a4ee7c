//! The cgroup v2 driver: one directory in the unified hierarchy.

pub mod devices;
mod freezer;
mod stats;

pub(crate) use freezer::{freeze, is_frozen, kill, thaw};
pub(crate) use stats::stats;

use crate::error::{invalid, Result};
use crate::sys::CgroupFs;
use crate::write::{get, put};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};
use std::path::Path;

const R: &str = "linux.resources";

/// cpu.weight for v1-style cpu.shares, by runc 1.1's linear mapping of [2, 262144] onto
/// [1, 10000]; 0 (unset) stays 0 and other values are clamped into the v1 range first.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

/// io.weight for a v1 blkio weight, mapping [10, 1000] onto [1, 10000]; 0 (unset) stays 0 and
/// other values are clamped into the v1 range first.
pub fn blkio_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + ((u64::from(w.clamp(10, 1000)) - 10) * 9999) / 990
}

/// memory.swap.max for the spec's memory+swap total (`swap`) and memory `limit`; `None` leaves
/// it alone.
pub fn swap_max(swap: i64, limit: i64) -> Option<String> {
    match (swap, limit) {
        (0, -1) | (-1, _) => Some("max".into()),
        (0, _) => None,
        (s, l) => Some(s.saturating_sub(l).max(0).to_string()),
    }
}

/// A per-device weight: 0 removes the device's own weight, which io.weight and BFQ spell
/// `default` (both refuse a numeric 0).
pub(crate) fn device_weight(w: u64) -> String {
    if w == 0 {
        "default".into()
    } else {
        w.to_string()
    }
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// Checks that need the live cgroup but write nothing (memory.checkBeforeUpdate).
pub(crate) fn precheck(fs: &dyn CgroupFs, d: &Path, res: &LinuxResources) -> Result<()> {
    let Some(m) = res.memory() else { return Ok(()) };
    if let (Some(true), Some(limit)) = (m.check_before_update(), m.limit()) {
        let usage = crate::write::num(fs, d, "memory.current");
        if limit > 0 && (limit as u64) < usage {
            return Err(invalid(
                format!("{R}.memory.limit"),
                format!("{limit} is below the current usage {usage} (checkBeforeUpdate)"),
            ));
        }
    }
    Ok(())
}

/// Writes every resource in `res` (already validated) into the v2 directory `d`. Device rules
/// are attached as an eBPF program only when `bpf` is true (a fake tree cannot take one).
pub(crate) fn apply(fs: &dyn CgroupFs, d: &Path, res: &LinuxResources, bpf: bool) -> Result<()> {
    if let Some(c) = res.cpu() {
        for (name, file, v) in [
            ("cpus", "cpuset.cpus", c.cpus()),
            ("mems", "cpuset.mems", c.mems()),
        ] {
            if let Some(v) = v.as_deref().filter(|s| !s.is_empty()) {
                put(fs, d, file, v, &format!("{R}.cpu.{name}"))?;
            }
        }
    }
    if let Some(m) = res.memory() {
        memory(fs, d, m)?;
    }
    if let Some(c) = res.cpu() {
        cpu(fs, d, c)?;
    }
    if let Some(p) = res.pids() {
        if p.limit() != 0 {
            put(
                fs,
                d,
                "pids.max",
                &max_or(p.limit()),
                &format!("{R}.pids.limit"),
            )?;
        }
    }
    if let Some(b) = res.block_io() {
        io(fs, d, b)?;
    }
    for (i, h) in res.hugepage_limits().iter().flatten().enumerate() {
        let file = format!("hugetlb.{}.max", h.page_size());
        put(
            fs,
            d,
            &file,
            &max_or(h.limit()),
            &format!("{R}.hugepageLimits[{i}]"),
        )?;
    }
    if let (Some(devs), true) = (res.devices(), bpf) {
        devices::apply(d, &crate::devices::rules(devs)?)?;
    }
    if let Some(u) = res.unified() {
        // Sorted so the order of writes does not depend on the map's hashing.
        let mut keys: Vec<&String> = u.keys().collect();
        keys.sort();
        for k in keys {
            put(fs, d, k, &u[k], &format!("{R}.unified.{k}"))?;
        }
    }
    Ok(())
}

fn memory(fs: &dyn CgroupFs, d: &Path, m: &LinuxMemory) -> Result<()> {
    let f = |n: &str| format!("{R}.memory.{n}");
    let limit = m.limit().unwrap_or(0);
    if let Some(v) = swap_max(m.swap().unwrap_or(0), limit) {
        put(fs, d, "memory.swap.max", &v, &f("swap"))?;
    }
    if limit != 0 {
        put(fs, d, "memory.max", &max_or(limit), &f("limit"))?;
    }
    if let Some(r) = m.reservation().filter(|&r| r != 0) {
        put(fs, d, "memory.low", &max_or(r), &f("reservation"))?;
    }
    // swappiness, disableOOMKiller and kernel memory have no v2 files; runc ignores them too.
    Ok(())
}

fn cpu(fs: &dyn CgroupFs, d: &Path, c: &LinuxCpu) -> Result<()> {
    let f = |n: &str| format!("{R}.cpu.{n}");
    if let Some(s) = c.shares().filter(|&s| s != 0) {
        put(
            fs,
            d,
            "cpu.weight",
            &shares_to_weight(s).to_string(),
            &f("shares"),
        )?;
    }
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    if quota != 0 || period != 0 {
        let q = if quota > 0 {
            quota.to_string()
        } else if quota < 0 {
            "max".into()
        } else {
            // Only the period changes: keep the quota that is there.
            get(fs, d, "cpu.max")
                .ok()
                .and_then(|s| s.split_whitespace().next().map(str::to_string))
                .unwrap_or_else(|| "max".into())
        };
        let v = if period != 0 {
            format!("{q} {period}")
        } else {
            q
        };
        put(fs, d, "cpu.max", &v, &f("quota"))?;
    }
    if let Some(b) = c.burst() {
        put(fs, d, "cpu.max.burst", &b.to_string(), &f("burst"))?;
    }
    if let Some(i) = c.idle() {
        put(fs, d, "cpu.idle", &i.to_string(), &f("idle"))?;
    }
    Ok(())
}

fn io(fs: &dyn CgroupFs, d: &Path, b: &LinuxBlockIo) -> Result<()> {
    let f = |n: &str| format!("{R}.blockIO.{n}");
    // With BFQ the weights go to its own file, unconverted; otherwise io.weight's scale.
    let bfq = fs.exists(&d.join("io.bfq.weight"));
    let (file, conv): (&str, fn(u16) -> u64) = if bfq {
        ("io.bfq.weight", u64::from)
    } else {
        ("io.weight", blkio_to_io_weight)
    };
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        put(fs, d, file, &format!("default {}", conv(w)), &f("weight"))?;
    }
    for (i, wd) in b.weight_device().iter().flatten().enumerate() {
        if let Some(w) = wd.weight() {
            let v = format!("{}:{} {}", wd.major(), wd.minor(), device_weight(conv(w)));
            put(fs, d, file, &v, &f(&format!("weightDevice[{i}]")))?;
        }
    }
    // One io.max line per device carrying all of its limits.
    let mut lines: Vec<((i64, i64), String, String)> = Vec::new();
    for (name, key, list) in [
        (
            "throttleReadBpsDevice",
            "rbps",
            b.throttle_read_bps_device(),
        ),
        (
            "throttleWriteBpsDevice",
            "wbps",
            b.throttle_write_bps_device(),
        ),
        (
            "throttleReadIOPSDevice",
            "riops",
            b.throttle_read_iops_device(),
        ),
        (
            "throttleWriteIOPSDevice",
            "wiops",
            b.throttle_write_iops_device(),
        ),
    ] {
        for (i, t) in list.iter().flatten().enumerate() {
            let dev = (t.major(), t.minor());
            let rate = if t.rate() == 0 {
                "max".to_string()
            } else {
                t.rate().to_string()
            };
            let item = format!(" {key}={rate}");
            match lines.iter_mut().find(|l| l.0 == dev) {
                Some(l) => l.1.push_str(&item),
                None => lines.push((dev, item, f(&format!("{name}[{i}]")))),
            }
        }
    }
    for ((ma, mi), items, field) in lines {
        put(fs, d, "io.max", &format!("{ma}:{mi}{items}"), &field)?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::path::PathBuf;

    /// Records writes; `exists` is true for the names in `has`.
    pub(crate) struct Rec(pub RefCell<Vec<(PathBuf, String)>>, pub Vec<&'static str>);

    impl CgroupFs for Rec {
        fn write(&self, path: &Path, value: &str) -> std::io::Result<()> {
            self.0.borrow_mut().push((path.into(), value.into()));
            Ok(())
        }
        fn read(&self, _: &Path) -> std::io::Result<String> {
            Err(std::io::ErrorKind::NotFound.into())
        }
        fn exists(&self, path: &Path) -> bool {
            self.1.iter().any(|n| path.ends_with(n))
        }
    }

    /// Found writing the `cgroup_resources` fuzz oracle: a weightDevice weight of 0 (remove the device's
    /// weight) was written as "8:0 0", which io.weight and io.bfq.weight refuse.
    #[test]
    fn zero_device_weight_is_written_as_default() {
        let res: LinuxResources = serde_json::from_str(
            r#"{"blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":0},{"major":8,"minor":16,"weight":1000}]}}"#,
        )
        .unwrap();
        for (has, file, last) in [
            (vec![], "io.weight", "10000"),
            (vec!["io.bfq.weight"], "io.bfq.weight", "1000"),
        ] {
            let fs = Rec(RefCell::new(Vec::new()), has);
            crate::apply_v2_with(&fs, Path::new("/cg"), &res).unwrap();
            let w = fs.0.into_inner();
            assert_eq!(
                w[0],
                (Path::new("/cg").join(file), "8:0 default".to_string())
            );
            assert_eq!(w[1].1, format!("8:16 {last}"));
        }
    }

    /// Both conversions are public; outside the validated ranges they overflowed (shares
    /// above u64::MAX / 9999 panicked in debug builds) or left the kernel's [1, 10000].
    #[test]
    fn conversions_stay_in_the_kernel_range() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(u64::MAX), 10_000);
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        assert_eq!(blkio_to_io_weight(u16::MAX), 10_000);
        assert_eq!(swap_max(i64::MAX, -2), Some(i64::MAX.to_string()));
        assert_eq!(swap_max(100, 40), Some("60".into()));
    }
}
