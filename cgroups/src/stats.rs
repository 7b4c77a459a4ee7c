//! Statistics in the shape `runc events --stats` prints (the `data` object of a stats event),
//! so dm-runc can serialize them as they are. Zero numbers and empty lists are left out where
//! runc's `omitempty` leaves them out.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn zero(v: &u64) -> bool {
    *v == 0
}

/// All statistics of one container cgroup.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    /// CPU time and throttling.
    pub cpu: Cpu,
    /// cpuset configuration.
    pub cpuset: CpuSet,
    /// Memory usage and limits.
    pub memory: Memory,
    /// Process counts.
    pub pids: Pids,
    /// Block I/O counters.
    pub blkio: Blkio,
    /// Huge page usage per page size (`2MB`, `1GB`).
    pub hugetlb: BTreeMap<String, Hugetlb>,
    /// Intel RDT (never collected; present for runc's shape).
    pub intel_rdt: serde_json::Map<String, serde_json::Value>,
    /// Network interfaces (never collected; runc prints null here).
    pub network_interfaces: Option<Vec<serde_json::Value>>,
}

/// CPU statistics.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Cpu {
    /// Time used.
    pub usage: CpuUsage,
    /// CFS throttling.
    pub throttling: Throttling,
}

/// CPU time in nanoseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CpuUsage {
    /// Total CPU time.
    #[serde(default, skip_serializing_if = "zero")]
    pub total: u64,
    /// Per-CPU totals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Per-CPU kernel time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    /// Per-CPU user time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    /// Kernel-mode time.
    pub kernel: u64,
    /// User-mode time.
    pub user: u64,
}

/// CFS bandwidth throttling counters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Throttling {
    /// Enforcement periods elapsed.
    #[serde(default, skip_serializing_if = "zero")]
    pub periods: u64,
    /// Periods in which the group was throttled.
    #[serde(default, rename = "throttledPeriods", skip_serializing_if = "zero")]
    pub throttled_periods: u64,
    /// Total time throttled, in nanoseconds.
    #[serde(default, rename = "throttledTime", skip_serializing_if = "zero")]
    pub throttled_time: u64,
}

/// cpuset configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CpuSet {
    /// Allowed CPUs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    /// cpuset.cpu_exclusive.
    pub cpu_exclusive: u64,
    /// Allowed memory nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    /// cpuset.mem_hardwall.
    pub mem_hardwall: u64,
    /// cpuset.mem_exclusive.
    pub mem_exclusive: u64,
    /// cpuset.memory_migrate.
    pub memory_migrate: u64,
    /// cpuset.memory_spread_page.
    pub memory_spread_page: u64,
    /// cpuset.memory_spread_slab.
    pub memory_spread_slab: u64,
    /// cpuset.memory_pressure.
    pub memory_pressure: u64,
    /// cpuset.sched_load_balance.
    pub sched_load_balance: u64,
    /// cpuset.sched_relax_domain_level.
    pub sched_relax_domain_level: i64,
}

/// One memory counter group.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MemoryEntry {
    /// The limit (u64::MAX when unlimited).
    pub limit: u64,
    /// Current usage in bytes.
    #[serde(default, skip_serializing_if = "zero")]
    pub usage: u64,
    /// Peak usage in bytes.
    #[serde(default, skip_serializing_if = "zero")]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// Memory statistics.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Memory {
    /// Page cache bytes.
    #[serde(default, skip_serializing_if = "zero")]
    pub cache: u64,
    /// Memory usage.
    pub usage: MemoryEntry,
    /// Memory+swap usage (v1 semantics, also on v2).
    pub swap: MemoryEntry,
    /// Kernel memory.
    pub kernel: MemoryEntry,
    /// Kernel TCP buffer memory.
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// memory.stat as it is.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// Process counts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Pids {
    /// Processes and threads now.
    #[serde(default, skip_serializing_if = "zero")]
    pub current: u64,
    /// The limit (0 when unlimited).
    #[serde(default, skip_serializing_if = "zero")]
    pub limit: u64,
}

/// One block I/O counter.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BlkioEntry {
    /// Device major.
    #[serde(default, skip_serializing_if = "zero")]
    pub major: u64,
    /// Device minor.
    #[serde(default, skip_serializing_if = "zero")]
    pub minor: u64,
    /// Operation (`Read`, `Write`, `Sync`, `Async`, `Discard`, `Total`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// The count.
    #[serde(default, skip_serializing_if = "zero")]
    pub value: u64,
}

/// Block I/O counters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Blkio {
    /// Bytes transferred.
    #[serde(
        default,
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// I/O operations.
    #[serde(
        default,
        rename = "ioServicedRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// Huge page usage for one page size.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Hugetlb {
    /// Bytes in use.
    #[serde(default, skip_serializing_if = "zero")]
    pub usage: u64,
    /// Peak bytes (v1) or the limit (v2).
    #[serde(default, skip_serializing_if = "zero")]
    pub max: u64,
    /// Allocations that failed on the limit.
    pub failcnt: u64,
}

/// Parses `key value` lines (memory.stat, cpu.stat, memory.events) into a map.
pub(crate) fn key_values(s: &str) -> BTreeMap<String, u64> {
    s.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// Parses a single number; `max` reads as u64::MAX.
pub(crate) fn number(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse().ok()
}

/// Expands a list like `0-3,5` into its members.
pub(crate) fn expand_list(s: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u16>().ok()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(expand_list("0-2,5\n"), vec![0, 1, 2, 5]);
        assert_eq!(number("max\n"), Some(u64::MAX));
        assert_eq!(key_values("cache 5\nrss 7\n")["rss"], 7);
    }

    #[test]
    fn empty_stats_serialize_in_runc_shape() {
        let v = serde_json::to_value(Stats::default()).unwrap();
        for k in [
            "cpu",
            "cpuset",
            "memory",
            "pids",
            "blkio",
            "hugetlb",
            "intel_rdt",
            "network_interfaces",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        assert_eq!(v["cpu"]["usage"], serde_json::json!({"kernel":0,"user":0}));
        assert_eq!(
            v["memory"]["usage"],
            serde_json::json!({"limit":0,"failcnt":0})
        );
        assert!(v["memory"].get("kernelTCP").is_some());
    }
}
