//! v2 statistics, mapped onto runc's (v1-shaped) stats.

use crate::stats::{expand_list, key_values, BlkioEntry, Hugetlb, Stats};
use crate::sys::CgroupFs;
use crate::write::{get, num};
use std::path::Path;

/// Collects what the enabled controllers offer; missing files leave zeros.
pub(crate) fn stats(fs: &dyn CgroupFs, d: &Path) -> Stats {
    let mut s = Stats::default();
    let cpu = key_values(&get(fs, d, "cpu.stat").unwrap_or_default());
    let c = |k: &str| cpu.get(k).copied().unwrap_or(0);
    s.cpu.usage.total = c("usage_usec") * 1000;
    s.cpu.usage.user = c("user_usec") * 1000;
    s.cpu.usage.kernel = c("system_usec") * 1000;
    s.cpu.throttling.periods = c("nr_periods");
    s.cpu.throttling.throttled_periods = c("nr_throttled");
    s.cpu.throttling.throttled_time = c("throttled_usec") * 1000;

    s.cpuset.cpus = expand_list(&get(fs, d, "cpuset.cpus.effective").unwrap_or_default());
    s.cpuset.mems = expand_list(&get(fs, d, "cpuset.mems.effective").unwrap_or_default());

    let m = &mut s.memory;
    m.raw = key_values(&get(fs, d, "memory.stat").unwrap_or_default());
    m.cache = m.raw.get("file").copied().unwrap_or(0);
    m.usage.usage = num(fs, d, "memory.current");
    m.usage.limit = num(fs, d, "memory.max");
    m.usage.max = num(fs, d, "memory.peak");
    let events = key_values(&get(fs, d, "memory.events").unwrap_or_default());
    m.usage.failcnt = events.get("max").copied().unwrap_or(0);
    // runc reports swap as memory+swap, as v1 does.
    m.swap.usage = num(fs, d, "memory.swap.current") + m.usage.usage;
    m.swap.limit = match num(fs, d, "memory.swap.max") {
        u64::MAX => u64::MAX,
        sw if m.usage.limit == u64::MAX => sw,
        sw => sw.saturating_add(m.usage.limit),
    };

    s.pids.current = num(fs, d, "pids.current");
    s.pids.limit = match num(fs, d, "pids.max") {
        u64::MAX => 0,
        n => n,
    };

    for l in get(fs, d, "io.stat").unwrap_or_default().lines() {
        let mut f = l.split_whitespace();
        let Some((ma, mi)) = f.next().and_then(|dev| dev.split_once(':')) else {
            continue;
        };
        let (major, minor) = (ma.parse().unwrap_or(0), mi.parse().unwrap_or(0));
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let value = v.parse().unwrap_or(0);
            let (list, op) = match k {
                "rbytes" => (&mut s.blkio.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut s.blkio.io_service_bytes_recursive, "Write"),
                "rios" => (&mut s.blkio.io_serviced_recursive, "Read"),
                "wios" => (&mut s.blkio.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }

    for size in crate::v1::hugetlb_sizes(fs, d, ".max") {
        let ev = key_values(&get(fs, d, &format!("hugetlb.{size}.events")).unwrap_or_default());
        s.hugetlb.insert(
            size.clone(),
            Hugetlb {
                usage: num(fs, d, &format!("hugetlb.{size}.current")),
                max: num(fs, d, &format!("hugetlb.{size}.max")),
                failcnt: ev.get("max").copied().unwrap_or(0),
            },
        );
    }
    s
}
