//! Task stats: the init's cgroup statistics (read by dm-cgroups, whichever runtime made the
//! cgroup) in containerd's cgroups v1 or v2 protobuf types, with the fields containerd's CRI
//! plugin turns into a kubelet's CPU, working-set and available-memory figures.

use crate::error::Result;
use containerd_shim::protos::cgroups::metrics as v1;
use containerd_shim::protos::cgroups_v2::metrics as v2;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{Message, MessageField};
use dm_cgroups::stats::{Memory, MemoryEntry};
use dm_cgroups::{Cgroup, Mode, Stats};

/// Metrics of the cgroup `pid` lives in, as the Any `ctr task metrics` and CRI decode.
pub fn stats(pid: u32) -> Result<Any> {
    let cg = Cgroup::of_pid(pid as i32)?;
    let s = cg.stats()?;
    let (type_url, value) = if cg.mode == Mode::Unified {
        (
            "io.containerd.cgroups.v2.Metrics",
            to_v2(&s).write_to_bytes(),
        )
    } else {
        (
            "io.containerd.cgroups.v1.Metrics",
            to_v1(&s).write_to_bytes(),
        )
    };
    Ok(Any {
        type_url: type_url.into(),
        value: value.map_err(containerd_shim::Error::from)?,
        ..Default::default()
    })
}

/// containerd's v1 Metrics: nanoseconds, v1 memory.stat names, swap entry = memory + swap.
pub fn to_v1(s: &Stats) -> v1::Metrics {
    let m = &s.memory;
    let raw = |k: &str| m.raw.get(k).copied().unwrap_or(0);
    let memory = v1::MemoryStat {
        cache: m.cache,
        rss: raw("rss"),
        rss_huge: raw("rss_huge"),
        mapped_file: raw("mapped_file"),
        dirty: raw("dirty"),
        writeback: raw("writeback"),
        pg_pg_in: raw("pgpgin"),
        pg_pg_out: raw("pgpgout"),
        pg_fault: raw("pgfault"),
        pg_maj_fault: raw("pgmajfault"),
        inactive_anon: raw("inactive_anon"),
        active_anon: raw("active_anon"),
        inactive_file: raw("inactive_file"),
        active_file: raw("active_file"),
        unevictable: raw("unevictable"),
        hierarchical_memory_limit: raw("hierarchical_memory_limit"),
        hierarchical_swap_limit: raw("hierarchical_memsw_limit"),
        total_cache: raw("total_cache"),
        total_rss: raw("total_rss"),
        total_rss_huge: raw("total_rss_huge"),
        total_mapped_file: raw("total_mapped_file"),
        total_dirty: raw("total_dirty"),
        total_writeback: raw("total_writeback"),
        total_pg_pg_in: raw("total_pgpgin"),
        total_pg_pg_out: raw("total_pgpgout"),
        total_pg_fault: raw("total_pgfault"),
        total_pg_maj_fault: raw("total_pgmajfault"),
        total_inactive_anon: raw("total_inactive_anon"),
        total_active_anon: raw("total_active_anon"),
        total_inactive_file: raw("total_inactive_file"),
        total_active_file: raw("total_active_file"),
        total_unevictable: raw("total_unevictable"),
        usage: entry(&m.usage),
        swap: entry(&m.swap),
        kernel: entry(&m.kernel),
        kernel_tcp: entry(&m.kernel_tcp),
        ..Default::default()
    };
    let c = &s.cpu;
    let cpu = v1::CPUStat {
        usage: MessageField::some(v1::CPUUsage {
            total: c.usage.total,
            kernel: c.usage.kernel,
            user: c.usage.user,
            per_cpu: c.usage.percpu.clone(),
            ..Default::default()
        }),
        throttling: MessageField::some(v1::Throttle {
            periods: c.throttling.periods,
            throttled_periods: c.throttling.throttled_periods,
            throttled_time: c.throttling.throttled_time,
            ..Default::default()
        }),
        ..Default::default()
    };
    v1::Metrics {
        pids: MessageField::some(v1::PidsStat {
            current: s.pids.current,
            limit: s.pids.limit,
            ..Default::default()
        }),
        cpu: MessageField::some(cpu),
        memory: MessageField::some(memory),
        ..Default::default()
    }
}

fn entry(e: &MemoryEntry) -> MessageField<v1::MemoryEntry> {
    MessageField::some(v1::MemoryEntry {
        limit: e.limit,
        usage: e.usage,
        max: e.max,
        failcnt: e.failcnt,
        ..Default::default()
    })
}

/// containerd's v2 Metrics: microseconds, v2 memory.stat names, swap apart from memory.
pub fn to_v2(s: &Stats) -> v2::Metrics {
    let m: &Memory = &s.memory;
    let raw = |k: &str| m.raw.get(k).copied().unwrap_or(0);
    let memory = v2::MemoryStat {
        anon: raw("anon"),
        file: raw("file"),
        kernel_stack: raw("kernel_stack"),
        slab: raw("slab"),
        sock: raw("sock"),
        shmem: raw("shmem"),
        file_mapped: raw("file_mapped"),
        file_dirty: raw("file_dirty"),
        file_writeback: raw("file_writeback"),
        anon_thp: raw("anon_thp"),
        inactive_anon: raw("inactive_anon"),
        active_anon: raw("active_anon"),
        inactive_file: raw("inactive_file"),
        active_file: raw("active_file"),
        unevictable: raw("unevictable"),
        slab_reclaimable: raw("slab_reclaimable"),
        slab_unreclaimable: raw("slab_unreclaimable"),
        pgfault: raw("pgfault"),
        pgmajfault: raw("pgmajfault"),
        workingset_refault: raw("workingset_refault"),
        workingset_activate: raw("workingset_activate"),
        workingset_nodereclaim: raw("workingset_nodereclaim"),
        pgrefill: raw("pgrefill"),
        pgscan: raw("pgscan"),
        pgsteal: raw("pgsteal"),
        pgactivate: raw("pgactivate"),
        pgdeactivate: raw("pgdeactivate"),
        pglazyfree: raw("pglazyfree"),
        pglazyfreed: raw("pglazyfreed"),
        thp_fault_alloc: raw("thp_fault_alloc"),
        thp_collapse_alloc: raw("thp_collapse_alloc"),
        usage: m.usage.usage,
        usage_limit: m.usage.limit,
        max_usage: m.usage.max,
        // dm-cgroups reports swap as runc does (memory + swap); containerd's v2 type wants
        // swap alone.
        swap_usage: m.swap.usage.saturating_sub(m.usage.usage),
        swap_limit: match (m.swap.limit, m.usage.limit) {
            (u64::MAX, _) | (_, u64::MAX) => m.swap.limit,
            (sw, mem) => sw.saturating_sub(mem),
        },
        ..Default::default()
    };
    let c = &s.cpu;
    let cpu = v2::CPUStat {
        usage_usec: c.usage.total / 1000,
        user_usec: c.usage.user / 1000,
        system_usec: c.usage.kernel / 1000,
        nr_periods: c.throttling.periods,
        nr_throttled: c.throttling.throttled_periods,
        throttled_usec: c.throttling.throttled_time / 1000,
        ..Default::default()
    };
    v2::Metrics {
        pids: MessageField::some(v2::PidsStat {
            current: s.pids.current,
            limit: s.pids.limit,
            ..Default::default()
        }),
        cpu: MessageField::some(cpu),
        memory: MessageField::some(memory),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Stats {
        let mut s = Stats::default();
        s.cpu.usage.total = 3_000_000;
        s.cpu.usage.user = 2_000_000;
        s.cpu.usage.kernel = 1_000_000;
        s.cpu.usage.percpu = vec![1_000_000, 2_000_000];
        s.cpu.throttling.throttled_time = 5_000;
        s.memory.usage = MemoryEntry {
            limit: 64 << 20,
            usage: 10 << 20,
            max: 12 << 20,
            failcnt: 1,
        };
        s.memory.swap.usage = 11 << 20;
        s.memory.swap.limit = 96 << 20;
        s.pids.current = 3;
        s
    }

    #[test]
    fn v1_carries_what_cri_computes_working_set_and_available_from() {
        let mut s = sample();
        s.memory.raw = [("total_inactive_file", 4096), ("total_rss", 8192)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let m = to_v1(&s);
        let cpu = m.cpu.usage.as_ref().unwrap();
        assert_eq!(
            (cpu.total, cpu.user, cpu.kernel),
            (3_000_000, 2_000_000, 1_000_000)
        );
        assert_eq!(cpu.per_cpu, [1_000_000, 2_000_000]);
        let mem = m.memory.as_ref().unwrap();
        assert_eq!(mem.usage.limit, 64 << 20);
        assert_eq!(mem.usage.usage, 10 << 20);
        assert_eq!(mem.total_inactive_file, 4096);
        assert_eq!(mem.total_rss, 8192);
        assert_eq!(mem.swap.usage, 11 << 20, "v1's swap entry is memory + swap");
        assert_eq!(m.pids.current, 3);
    }

    #[test]
    fn v2_is_in_microseconds_with_swap_apart_from_memory() {
        let mut s = sample();
        s.memory.raw = [("anon", 8192), ("inactive_file", 4096)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let m = to_v2(&s);
        assert_eq!(m.cpu.usage_usec, 3_000);
        assert_eq!((m.cpu.user_usec, m.cpu.system_usec), (2_000, 1_000));
        assert_eq!(m.cpu.throttled_usec, 5);
        let mem = m.memory.as_ref().unwrap();
        assert_eq!(
            (mem.usage, mem.usage_limit, mem.max_usage),
            (10 << 20, 64 << 20, 12 << 20)
        );
        assert_eq!((mem.anon, mem.inactive_file), (8192, 4096));
        assert_eq!((mem.swap_usage, mem.swap_limit), (1 << 20, 32 << 20));
        // No memory limit: both limits stay "max".
        s.memory.usage.limit = u64::MAX;
        s.memory.swap.limit = u64::MAX;
        let mem = to_v2(&s).memory.unwrap();
        assert_eq!((mem.usage_limit, mem.swap_limit), (u64::MAX, u64::MAX));
    }
}
