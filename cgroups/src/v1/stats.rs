//! v1 statistics from the controllers' files.

use super::{dir, V1Dir};
use crate::stats::{expand_list, key_values, BlkioEntry, Hugetlb, MemoryEntry, Stats};
use crate::sys::CgroupFs;
use crate::write::{get, num};
use std::path::Path;

/// Nanoseconds per USER_HZ tick of cpuacct.stat (USER_HZ is 100 on Linux).
const NS_PER_TICK: u64 = 10_000_000;

/// Collects what the mounted controllers offer; missing controllers leave zeros.
pub(crate) fn stats(fs: &dyn CgroupFs, dirs: &[V1Dir]) -> Stats {
    let mut s = Stats::default();
    if let Some(d) = dir(dirs, "cpuacct") {
        let u = &mut s.cpu.usage;
        u.total = num(fs, d, "cpuacct.usage");
        u.percpu = list(fs, d, "cpuacct.usage_percpu");
        u.percpu_kernel = list(fs, d, "cpuacct.usage_percpu_sys");
        u.percpu_user = list(fs, d, "cpuacct.usage_percpu_user");
        let kv = key_values(&get(fs, d, "cpuacct.stat").unwrap_or_default());
        u.user = kv.get("user").copied().unwrap_or(0) * NS_PER_TICK;
        u.kernel = kv.get("system").copied().unwrap_or(0) * NS_PER_TICK;
    }
    if let Some(d) = dir(dirs, "cpu") {
        let kv = key_values(&get(fs, d, "cpu.stat").unwrap_or_default());
        s.cpu.throttling.periods = kv.get("nr_periods").copied().unwrap_or(0);
        s.cpu.throttling.throttled_periods = kv.get("nr_throttled").copied().unwrap_or(0);
        s.cpu.throttling.throttled_time = kv.get("throttled_time").copied().unwrap_or(0);
    }
    if let Some(d) = dir(dirs, "cpuset") {
        let c = &mut s.cpuset;
        c.cpus = expand_list(&get(fs, d, "cpuset.cpus").unwrap_or_default());
        c.mems = expand_list(&get(fs, d, "cpuset.mems").unwrap_or_default());
        c.cpu_exclusive = num(fs, d, "cpuset.cpu_exclusive");
        c.mem_exclusive = num(fs, d, "cpuset.mem_exclusive");
        c.mem_hardwall = num(fs, d, "cpuset.mem_hardwall");
        c.memory_migrate = num(fs, d, "cpuset.memory_migrate");
        c.memory_spread_page = num(fs, d, "cpuset.memory_spread_page");
        c.memory_spread_slab = num(fs, d, "cpuset.memory_spread_slab");
        c.memory_pressure = num(fs, d, "cpuset.memory_pressure");
        c.sched_load_balance = num(fs, d, "cpuset.sched_load_balance");
        c.sched_relax_domain_level = get(fs, d, "cpuset.sched_relax_domain_level")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
    }
    if let Some(d) = dir(dirs, "memory") {
        let m = &mut s.memory;
        m.raw = key_values(&get(fs, d, "memory.stat").unwrap_or_default());
        m.cache = m.raw.get("cache").copied().unwrap_or(0);
        m.usage = entry(fs, d, "memory");
        m.swap = entry(fs, d, "memory.memsw");
        m.kernel = entry(fs, d, "memory.kmem");
        m.kernel_tcp = entry(fs, d, "memory.kmem.tcp");
    }
    if let Some(d) = dir(dirs, "pids") {
        s.pids.current = num(fs, d, "pids.current");
        s.pids.limit = match num(fs, d, "pids.max") {
            u64::MAX => 0,
            n => n,
        };
    }
    if let Some(d) = dir(dirs, "blkio") {
        // CFQ files first, then BFQ's, then the throttle layer's (always present).
        for prefix in ["blkio.", "blkio.bfq.", "blkio.throttle."] {
            let bytes = blkio_entries(fs, d, &format!("{prefix}io_service_bytes_recursive"));
            let ios = blkio_entries(fs, d, &format!("{prefix}io_serviced_recursive"));
            if bytes.is_some() || ios.is_some() {
                s.blkio.io_service_bytes_recursive = bytes.unwrap_or_default();
                s.blkio.io_serviced_recursive = ios.unwrap_or_default();
                break;
            }
        }
    }
    if let Some(d) = dir(dirs, "hugetlb") {
        for size in hugetlb_sizes(fs, d, ".limit_in_bytes") {
            let h = Hugetlb {
                usage: num(fs, d, &format!("hugetlb.{size}.usage_in_bytes")),
                max: num(fs, d, &format!("hugetlb.{size}.max_usage_in_bytes")),
                failcnt: num(fs, d, &format!("hugetlb.{size}.failcnt")),
            };
            s.hugetlb.insert(size, h);
        }
    }
    s
}

fn entry(fs: &dyn CgroupFs, d: &Path, prefix: &str) -> MemoryEntry {
    MemoryEntry {
        limit: num(fs, d, &format!("{prefix}.limit_in_bytes")),
        usage: num(fs, d, &format!("{prefix}.usage_in_bytes")),
        max: num(fs, d, &format!("{prefix}.max_usage_in_bytes")),
        failcnt: num(fs, d, &format!("{prefix}.failcnt")),
    }
}

fn list(fs: &dyn CgroupFs, d: &Path, file: &str) -> Vec<u64> {
    get(fs, d, file)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect()
}

/// Parses `MAJ:MIN Op value` lines; `None` when the file does not exist or is empty of data.
fn blkio_entries(fs: &dyn CgroupFs, d: &Path, file: &str) -> Option<Vec<BlkioEntry>> {
    let text = get(fs, d, file).ok()?;
    let mut out = Vec::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let [dev, op, value] = f[..] else { continue };
        let Some((ma, mi)) = dev.split_once(':') else {
            continue;
        };
        out.push(BlkioEntry {
            major: ma.parse().unwrap_or(0),
            minor: mi.parse().unwrap_or(0),
            op: op.to_string(),
            value: value.parse().unwrap_or(0),
        });
    }
    (!out.is_empty()).then_some(out)
}

/// Page sizes a hugetlb directory has files for (`2MB`, `1GB`).
pub(crate) fn hugetlb_sizes(fs: &dyn CgroupFs, d: &Path, suffix: &str) -> Vec<String> {
    let mut v: Vec<String> = fs
        .names(d)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| {
            n.strip_prefix("hugetlb.")?
                .strip_suffix(suffix)
                .map(str::to_string)
        })
        .filter(|s| !s.contains('.'))
        .collect();
    v.sort();
    v
}
