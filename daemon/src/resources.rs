//! A container's resource limits: HostConfig's fields checked as dockerd checks them, the
//! host's support probed (swap accounting, block I/O weights), and turned into OCI
//! `linux.resources` for config.json and for live updates.

use crate::error::{ApiError, ApiResult};
use crate::record::HostConfig;
use serde_json::{json, Map, Value};
use std::path::Path;

/// The v1 memory controller's swap file (present when swap accounting is on).
const MEMSW: &str = "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes";
/// The unified hierarchy's controller list (a pure v2 host).
const V2_CONTROLLERS: &str = "/sys/fs/cgroup/cgroup.controllers";

const DEFAULT_PERIOD: i64 = 100_000;

/// Whether swap limits can be set on this host.
fn swap_supported() -> bool {
    Path::new(MEMSW).exists() || Path::new(V2_CONTROLLERS).exists()
}

/// Whether block I/O weights can be set on this host (v1 CFQ or BFQ weight files, or v2 io).
fn blkio_weight_supported() -> bool {
    let v1 = Path::new("/sys/fs/cgroup/blkio");
    v1.join("blkio.weight").exists()
        || v1.join("blkio.bfq.weight").exists()
        || std::fs::read_to_string(V2_CONTROLLERS)
            .is_ok_and(|c| c.split_whitespace().any(|x| x == "io"))
}

/// The host's online CPUs.
fn online_cpus() -> Vec<u32> {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| parse_cpu_list(s.trim()))
        .unwrap_or_default()
}

/// `0-2,4` as a list; None when malformed.
pub fn parse_cpu_list(s: &str) -> Option<Vec<u32>> {
    let mut out = vec![];
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?);
                if a > b {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// Checks the limits as dockerd does at create and after an update; host features that are
/// missing are dropped with docker's warning.
pub fn verify(h: &mut HostConfig) -> ApiResult<Vec<String>> {
    let mut warnings = vec![];
    if h.memory != 0 && h.memory < 6 * 1024 * 1024 {
        return Err(ApiError::bad("Minimum memory limit allowed is 6MB"));
    }
    if h.memory_swap > 0 && h.memory == 0 {
        return Err(ApiError::bad(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if h.memory > 0 && h.memory_swap > 0 && h.memory_swap < h.memory {
        return Err(ApiError::bad(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if h.memory_swap != 0 && !swap_supported() {
        warnings.push("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.".to_owned());
        h.memory_swap = -1;
    }
    if h.memory_reservation < 0 || (h.memory > 0 && h.memory_reservation > h.memory) {
        return Err(ApiError::bad(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    if h.cpu_shares < 0 {
        return Err(ApiError::bad("invalid CPU shares: must not be negative"));
    }
    if h.nano_cpus > 0 && (h.cpu_period > 0 || h.cpu_quota > 0) {
        return Err(ApiError::bad(
            "Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set",
        ));
    }
    let cpus = online_cpus().len() as i64;
    if h.nano_cpus > 0 && cpus > 0 && h.nano_cpus > cpus * 1_000_000_000 {
        return Err(ApiError::bad(format!(
            "Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
        )));
    }
    if h.cpu_period != 0 && !(1000..=1_000_000).contains(&h.cpu_period) {
        return Err(ApiError::bad(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if h.cpu_quota > 0 && h.cpu_quota < 1000 {
        return Err(ApiError::bad(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ));
    }
    if !h.cpuset_cpus.is_empty() {
        let want = parse_cpu_list(&h.cpuset_cpus).ok_or_else(|| {
            ApiError::bad(format!("Invalid value {} for cpuset cpus", h.cpuset_cpus))
        })?;
        let online = online_cpus();
        if let Some(c) = want.iter().find(|c| !online.contains(c)) {
            return Err(ApiError::bad(format!(
                "Requested CPUs are not available - requested {}, available: {}",
                h.cpuset_cpus,
                std::fs::read_to_string("/sys/devices/system/cpu/online")
                    .unwrap_or_else(|_| c.to_string())
                    .trim()
            )));
        }
    }
    if !h.cpuset_mems.is_empty() && parse_cpu_list(&h.cpuset_mems).is_none() {
        return Err(ApiError::bad(format!(
            "Invalid value {} for cpuset mems",
            h.cpuset_mems
        )));
    }
    if h.blkio_weight > 0 {
        if !(10..=1000).contains(&h.blkio_weight) {
            return Err(ApiError::bad("Range of blkio weight is from 10 to 1000"));
        }
        if !blkio_weight_supported() {
            warnings.push("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.".to_owned());
            h.blkio_weight = 0;
        }
    }
    if h.pids_limit.is_some_and(|p| p <= 0) {
        h.pids_limit = None;
    }
    Ok(warnings)
}

/// Docker's create-time default: a memory limit without a swap limit gets twice as much
/// memory plus swap (where swap can be limited).
pub fn adapt(h: &mut HostConfig) {
    if h.memory > 0 && h.memory_swap == 0 && swap_supported() {
        h.memory_swap = 2 * h.memory;
    }
}

/// OCI `linux.resources` for the limits in `h` (only what is set).
pub fn linux(h: &HostConfig) -> Value {
    let mut res = Map::new();
    let mut mem = Map::new();
    if h.memory > 0 {
        mem.insert("limit".into(), json!(h.memory));
        if h.memory_swap != 0 {
            mem.insert("swap".into(), json!(h.memory_swap));
        }
    }
    if h.memory_reservation > 0 {
        mem.insert("reservation".into(), json!(h.memory_reservation));
    }
    if !mem.is_empty() {
        res.insert("memory".into(), Value::Object(mem));
    }
    let mut cpu = Map::new();
    if h.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(h.cpu_shares));
    }
    if h.nano_cpus > 0 {
        cpu.insert(
            "quota".into(),
            json!(h.nano_cpus * DEFAULT_PERIOD / 1_000_000_000),
        );
        cpu.insert("period".into(), json!(DEFAULT_PERIOD));
    } else {
        if h.cpu_quota != 0 {
            cpu.insert("quota".into(), json!(h.cpu_quota));
        }
        if h.cpu_period > 0 {
            cpu.insert("period".into(), json!(h.cpu_period));
        }
    }
    if !h.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(h.cpuset_cpus));
    }
    if !h.cpuset_mems.is_empty() {
        cpu.insert("mems".into(), json!(h.cpuset_mems));
    }
    if !cpu.is_empty() {
        res.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(p) = h.pids_limit.filter(|p| *p > 0) {
        res.insert("pids".into(), json!({"limit": p}));
    }
    if h.blkio_weight > 0 {
        res.insert("blockIO".into(), json!({"weight": h.blkio_weight}));
    }
    Value::Object(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_become_oci_resources() {
        let h = HostConfig {
            memory: 64 << 20,
            memory_swap: 128 << 20,
            nano_cpus: 500_000_000,
            cpu_shares: 256,
            cpuset_cpus: "0".into(),
            pids_limit: Some(9),
            ..Default::default()
        };
        let r = linux(&h);
        assert_eq!(r["memory"], json!({"limit": 64 << 20, "swap": 128 << 20}));
        assert_eq!(
            r["cpu"],
            json!({"shares": 256, "quota": 50_000, "period": 100_000, "cpus": "0"})
        );
        assert_eq!(r["pids"]["limit"], 9);
        assert!(r.get("blockIO").is_none());
    }

    #[test]
    fn bad_limits_get_dockers_messages() {
        let mut h = HostConfig {
            memory: 1 << 20,
            ..Default::default()
        };
        assert!(verify(&mut h).unwrap_err().message.contains("6MB"));
        let mut h = HostConfig {
            cpu_period: 10,
            ..Default::default()
        };
        assert!(verify(&mut h).unwrap_err().message.contains("cfs period"));
        assert_eq!(parse_cpu_list("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpu_list("2-1"), None);
    }
}
