//! Checks `linux.resources` before anything is written: value ranges and formats, and whether
//! the chosen driver (and, for v1, the mounted controllers) can apply each field at all.

use crate::devices;
use crate::error::{invalid, Result};
use oci_spec::runtime::LinuxResources;

/// Which driver receives the resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// cgroup v1 controllers.
    V1,
    /// cgroup v2.
    V2,
}

const R: &str = "linux.resources";

/// Validates `res` for `driver` (`None`: only what holds for both drivers). `available` lists
/// the controllers that can be used: the mounted v1 controllers, or a v2 directory's
/// cgroup.controllers; `None` skips that check (v2 directory not made yet, or a fake tree).
pub fn validate(
    res: &LinuxResources,
    driver: Option<Driver>,
    available: Option<&[String]>,
) -> Result<()> {
    let need = |field: &str, ctrl: &str| -> Result<()> {
        let Some(driver) = driver else { return Ok(()) };
        // v1 blkio is v2's io; devices on v2 are an eBPF program, not a controller.
        let ctrl = match (driver, ctrl) {
            (Driver::V2, "blkio") => "io",
            (Driver::V2, "devices") => return Ok(()),
            _ => ctrl,
        };
        let Some(avail) = available else {
            return Ok(());
        };
        if avail.iter().any(|c| c == ctrl) {
            return Ok(());
        }
        let msg = match driver {
            Driver::V1 => format!("the {ctrl} cgroup controller is not mounted on this host"),
            Driver::V2 => format!(
                "the {ctrl} controller is not enabled for this cgroup (not in its cgroup.controllers)"
            ),
        };
        Err(invalid(format!("{R}.{field}"), msg))
    };
    if let Some(m) = res.memory() {
        let f = |n: &str| format!("{R}.memory.{n}");
        for (name, v) in [
            ("limit", m.limit()),
            ("reservation", m.reservation()),
            ("swap", m.swap()),
            ("kernelTCP", m.kernel_tcp()),
        ] {
            if let Some(v) = v {
                if v < -1 {
                    return Err(invalid(
                        f(name),
                        format!("{v} is neither -1 (unlimited) nor a byte count"),
                    ));
                }
            }
        }
        if let Some(s) = m.swappiness() {
            if s > 100 {
                return Err(invalid(f("swappiness"), format!("{s} is outside 0-100")));
            }
        }
        let limit = m.limit().unwrap_or(0);
        let swap = m.swap().unwrap_or(0);
        if swap > 0 && limit > 0 && swap < limit {
            return Err(invalid(
                f("swap"),
                format!("{swap} is below memory.limit {limit}; swap is the memory+swap total"),
            ));
        }
        // The kernel keeps memory.limit <= memory+swap at all times (v1 refuses the write).
        if swap > 0 && limit == -1 {
            return Err(invalid(
                f("swap"),
                format!("{swap} limits memory+swap but memory.limit is -1 (unlimited)"),
            ));
        }
        if driver == Some(Driver::V2) && swap > 0 && limit <= 0 {
            return Err(invalid(
                f("swap"),
                "a swap limit needs a memory limit on cgroup v2",
            ));
        }
        let any = m.limit().is_some()
            || m.reservation().is_some()
            || m.swap().is_some()
            || m.swappiness().is_some()
            || m.disable_oom_killer().is_some()
            || m.kernel_tcp().is_some();
        if any {
            need("memory", "memory")?;
        }
    }
    if let Some(c) = res.cpu() {
        let f = |n: &str| format!("{R}.cpu.{n}");
        if let Some(s) = c.shares() {
            if s != 0 && !(2..=262_144).contains(&s) {
                return Err(invalid(f("shares"), format!("{s} is outside 2-262144")));
            }
        }
        if let Some(q) = c.quota() {
            if q < -1 || (0 < q && q < 1000) || q > MAX_CFS_QUOTA {
                return Err(invalid(
                    f("quota"),
                    format!("{q} is neither -1 nor within 1000-{MAX_CFS_QUOTA} (µs)"),
                ));
            }
        }
        if let Some(p) = c.period() {
            if p != 0 && !(1000..=1_000_000).contains(&p) {
                return Err(invalid(
                    f("period"),
                    format!("{p} is outside 1000-1000000 (µs)"),
                ));
            }
        }
        if let (Some(b), Some(q)) = (c.burst(), c.quota()) {
            if b > 0 && q > 0 && b > q as u64 {
                return Err(invalid(f("burst"), format!("{b} exceeds cpu.quota {q}")));
            }
            if q > 0 && b.saturating_add(q as u64) > MAX_CFS_QUOTA as u64 {
                return Err(invalid(
                    f("burst"),
                    format!("{b} plus cpu.quota {q} exceeds {MAX_CFS_QUOTA} (µs)"),
                ));
            }
        }
        if let Some(r) = c.realtime_runtime() {
            if r < -1 {
                return Err(invalid(
                    f("realtimeRuntime"),
                    format!("{r} is neither -1 nor a µs count"),
                ));
            }
        }
        if driver == Some(Driver::V2)
            && (c.realtime_runtime().unwrap_or(0) != 0 || c.realtime_period().unwrap_or(0) != 0)
        {
            return Err(invalid(
                f("realtimeRuntime"),
                "realtime scheduling limits do not exist on cgroup v2",
            ));
        }
        if let Some(i) = c.idle() {
            if i != 0 && i != 1 {
                return Err(invalid(f("idle"), format!("{i} is neither 0 nor 1")));
            }
        }
        for (name, v) in [("cpus", c.cpus()), ("mems", c.mems())] {
            if let Some(v) = v {
                if !v.is_empty() && !is_list(v) {
                    return Err(invalid(
                        f(name),
                        format!("{v:?} is not a list like \"0-3,5\""),
                    ));
                }
                if !v.is_empty() {
                    need(&format!("cpu.{name}"), "cpuset")?;
                }
            }
        }
        let any_cpu = c.shares().is_some()
            || c.quota().is_some()
            || c.period().is_some()
            || c.burst().is_some()
            || c.realtime_runtime().is_some()
            || c.realtime_period().is_some()
            || c.idle().is_some();
        if any_cpu {
            need("cpu", "cpu")?;
        }
    }
    if let Some(p) = res.pids() {
        if p.limit() > PID_MAX_LIMIT {
            return Err(invalid(
                format!("{R}.pids.limit"),
                format!(
                    "{} exceeds the kernel's {PID_MAX_LIMIT} (use -1 for no limit)",
                    p.limit()
                ),
            ));
        }
        if p.limit() != 0 {
            need("pids", "pids")?;
        }
    }
    if let Some(b) = res.block_io() {
        let f = |n: &str| format!("{R}.blockIO.{n}");
        let weight_ok = |v: u16| v == 0 || (10..=1000).contains(&v);
        for (name, v) in [("weight", b.weight()), ("leafWeight", b.leaf_weight())] {
            if let Some(v) = v {
                if !weight_ok(v) {
                    return Err(invalid(f(name), format!("{v} is outside 10-1000")));
                }
            }
        }
        if driver == Some(Driver::V2) && b.leaf_weight().unwrap_or(0) != 0 {
            return Err(invalid(f("leafWeight"), "does not exist on cgroup v2"));
        }
        for (i, d) in b.weight_device().iter().flatten().enumerate() {
            check_dev(&f(&format!("weightDevice[{i}]")), d.major(), d.minor())?;
            for v in [d.weight(), d.leaf_weight()].into_iter().flatten() {
                if !weight_ok(v) {
                    return Err(invalid(
                        f(&format!("weightDevice[{i}].weight")),
                        format!("{v} is outside 10-1000"),
                    ));
                }
            }
        }
        for (name, list) in [
            ("throttleReadBpsDevice", b.throttle_read_bps_device()),
            ("throttleWriteBpsDevice", b.throttle_write_bps_device()),
            ("throttleReadIOPSDevice", b.throttle_read_iops_device()),
            ("throttleWriteIOPSDevice", b.throttle_write_iops_device()),
        ] {
            for (i, d) in list.iter().flatten().enumerate() {
                check_dev(&f(&format!("{name}[{i}]")), d.major(), d.minor())?;
            }
        }
        need("blockIO", "blkio")?;
    }
    if let Some(h) = res.hugepage_limits() {
        for (i, l) in h.iter().enumerate() {
            let f = format!("{R}.hugepageLimits[{i}]");
            if !is_page_size(l.page_size()) {
                return Err(invalid(
                    format!("{f}.pageSize"),
                    format!("{:?} is not a size like \"2MB\"", l.page_size()),
                ));
            }
            if l.limit() < -1 {
                return Err(invalid(
                    format!("{f}.limit"),
                    format!("{} is neither -1 nor a byte count", l.limit()),
                ));
            }
        }
        if !h.is_empty() {
            need("hugepageLimits", "hugetlb")?;
        }
    }
    if let Some(devs) = res.devices() {
        let rules = devices::rules(devs)?;
        if driver == Some(Driver::V1) {
            crate::v1::check_device_rules(&rules)?;
        }
        need("devices", "devices")?;
    }
    if let Some(n) = res.network() {
        if driver == Some(Driver::V2) && (n.class_id().is_some() || n.priorities().is_some()) {
            return Err(invalid(
                format!("{R}.network"),
                "net_cls/net_prio do not exist on cgroup v2",
            ));
        }
        if n.class_id().is_some() {
            need("network.classID", "net_cls")?;
        }
        for (i, p) in n.priorities().iter().flatten().enumerate() {
            if !is_ifname(p.name()) {
                return Err(invalid(
                    format!("{R}.network.priorities[{i}].name"),
                    format!("{:?} is not an interface name", p.name()),
                ));
            }
            need("network.priorities", "net_prio")?;
        }
    }
    if res.rdma().as_ref().is_some_and(|r| !r.is_empty()) {
        return Err(invalid(
            format!("{R}.rdma"),
            "the rdma controller is not supported",
        ));
    }
    if let Some(u) = res.unified() {
        if !u.is_empty() && driver == Some(Driver::V1) {
            return Err(invalid(
                format!("{R}.unified"),
                "needs a cgroup v2 (unified) host",
            ));
        }
        let mut keys: Vec<&String> = u.keys().collect();
        keys.sort();
        for k in keys {
            if !is_file_name(k) {
                return Err(invalid(
                    format!("{R}.unified"),
                    format!("{k:?} is not a cgroup file name like \"memory.high\""),
                ));
            }
            if !is_one_line(&u[k]) {
                return Err(invalid(
                    format!("{R}.unified.{k}"),
                    format!("{:?} holds a NUL or a line break before its end", u[k]),
                ));
            }
            let ctrl = k.split('.').next().unwrap_or_default();
            if ctrl != "cgroup" {
                need(&format!("unified.{k}"), ctrl)?;
            }
        }
    }
    Ok(())
}

/// Largest CFS quota (and quota + burst) the kernel takes, in µs: its max_cfs_runtime,
/// 2^44 - 1 (BW_SHIFT 20); larger values get EINVAL.
pub(crate) const MAX_CFS_QUOTA: i64 = (1 << 44) - 1;
/// Largest pids.max the kernel takes (PID_MAX_LIMIT on 64-bit; PIDS_MAX is one more).
pub(crate) const PID_MAX_LIMIT: i64 = 4 * 1024 * 1024;

/// Largest major the kernel's dev_t holds (12 bits); larger ones fail its MKDEV round trip.
pub(crate) const MAX_MAJOR: i64 = (1 << 12) - 1;
/// Largest minor the kernel's dev_t holds (MINORBITS = 20).
pub(crate) const MAX_MINOR: i64 = (1 << 20) - 1;

fn check_dev(field: &str, major: i64, minor: i64) -> Result<()> {
    if !(0..=MAX_MAJOR).contains(&major) || !(0..=MAX_MINOR).contains(&minor) {
        return Err(invalid(
            field,
            format!("{major}:{minor} is not a device number"),
        ));
    }
    Ok(())
}

/// True for a cpu/node list like `0-3,5` (no blanks: the value is written as it is).
pub(crate) fn is_list(s: &str) -> bool {
    let num = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    s.split(',').all(|part| {
        let mut it = part.splitn(2, '-');
        if !it.clone().all(num) {
            return false;
        }
        let a = it.next().and_then(|x| x.parse::<u32>().ok());
        match (a, it.next()) {
            (Some(_), None) => true,
            (Some(a), Some(b)) => b.parse::<u32>().is_ok_and(|b| a <= b),
            _ => false,
        }
    })
}

/// True for a cgroup control file name: `controller.file`, no `/`, no leading `.`, only
/// the characters the kernel's file names use.
fn is_file_name(k: &str) -> bool {
    k.contains('.')
        && !k.starts_with('.')
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// True when `v` is one line: no NUL, no line break except a final one.
fn is_one_line(v: &str) -> bool {
    let body = v.strip_suffix('\n').unwrap_or(v);
    !body.contains(['\n', '\r', '\0'])
}

/// True for a name the kernel accepts for a network interface (dev_valid_name).
fn is_ifname(n: &str) -> bool {
    !n.is_empty()
        && n.len() < 16
        && n != "."
        && n != ".."
        && !n.contains(|c: char| c == '/' || c == ':' || c == '\0' || c.is_whitespace())
}

/// True for a huge page size like `2MB` or `1GB`.
fn is_page_size(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && ["B", "KB", "MB", "GB", "TB"].contains(&unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    fn all() -> Vec<String> {
        [
            "memory", "cpu", "cpuset", "pids", "blkio", "devices", "hugetlb",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn err(json: &str, d: Driver) -> String {
        validate(&res(json), Some(d), Some(&all()))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            (
                r#"{"memory":{"limit":-2}}"#,
                "linux.resources.memory.limit: ",
            ),
            (
                r#"{"memory":{"swappiness":101}}"#,
                "linux.resources.memory.swappiness: ",
            ),
            (
                r#"{"memory":{"limit":100000000,"swap":1000}}"#,
                "linux.resources.memory.swap: ",
            ),
            (r#"{"cpu":{"shares":1}}"#, "linux.resources.cpu.shares: "),
            (r#"{"cpu":{"quota":10}}"#, "linux.resources.cpu.quota: "),
            (r#"{"cpu":{"period":10}}"#, "linux.resources.cpu.period: "),
            (
                r#"{"cpu":{"quota":5000,"burst":9000}}"#,
                "linux.resources.cpu.burst: ",
            ),
            (r#"{"cpu":{"cpus":"0-x"}}"#, "linux.resources.cpu.cpus: "),
            (r#"{"cpu":{"mems":"3-1"}}"#, "linux.resources.cpu.mems: "),
            (r#"{"cpu":{"idle":2}}"#, "linux.resources.cpu.idle: "),
            (
                r#"{"blockIO":{"weight":5}}"#,
                "linux.resources.blockIO.weight: ",
            ),
            (
                r#"{"blockIO":{"throttleReadBpsDevice":[{"major":-1,"minor":0,"rate":1}]}}"#,
                "linux.resources.blockIO.throttleReadBpsDevice[0]: ",
            ),
            (
                r#"{"hugepageLimits":[{"pageSize":"2XB","limit":1}]}"#,
                "linux.resources.hugepageLimits[0].pageSize: ",
            ),
            (
                r#"{"unified":{"memory.high":"1"}}"#,
                "linux.resources.unified: ",
            ),
            (
                r#"{"network":{"classID":1}}"#,
                "linux.resources.network.classID: ",
            ),
        ];
        for (json, want) in cases {
            let e = err(json, Driver::V1);
            assert!(e.starts_with(want), "{json}: got {e}");
        }
    }

    #[test]
    fn v2_only_rules() {
        assert!(err(r#"{"cpu":{"realtimeRuntime":1000}}"#, Driver::V2)
            .starts_with("linux.resources.cpu.realtimeRuntime: "));
        assert!(err(r#"{"memory":{"swap":1000}}"#, Driver::V2)
            .starts_with("linux.resources.memory.swap: "));
        assert!(
            err(r#"{"unified":{"../x":"1"}}"#, Driver::V2).starts_with("linux.resources.unified: ")
        );
        let ok =
            res(r#"{"unified":{"memory.high":"1"},"memory":{"limit":1048576,"swap":2097152}}"#);
        validate(&ok, Some(Driver::V2), None).unwrap();
        let only_pids = ["pids".to_string()];
        let e = validate(&ok, Some(Driver::V2), Some(&only_pids))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("linux.resources.memory: the memory controller is not enabled"),
            "{e}"
        );
    }

    #[test]
    fn missing_v1_controller_is_reported() {
        let e = validate(
            &res(r#"{"pids":{"limit":5}}"#),
            Some(Driver::V1),
            Some(&["memory".into()]),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "linux.resources.pids: the pids cgroup controller is not mounted on this host"
        );
        validate(&res(r#"{"pids":{"limit":0}}"#), Some(Driver::V1), Some(&[])).unwrap();
    }

    /// cpus/mems are written verbatim, and blanks inside each part were trimmed away before
    /// checking: "0,\n1" passed and put a line break into cpuset.cpus.
    #[test]
    fn lists_are_refused_with_blanks_inside() {
        for bad in [
            "0,\n1", " 0-3", "0 -3", "0-3\n", "0-\t1", "+1", "1-+2", "0,,1", "-1",
        ] {
            assert!(!is_list(bad), "{bad:?}");
            let e = err(&format!(r#"{{"cpu":{{"cpus":{bad:?}}}}}"#), Driver::V2);
            assert!(e.starts_with("linux.resources.cpu.cpus: "), "{e}");
        }
    }

    /// The unified map's keys become file names and its values are written verbatim.
    #[test]
    fn unified_keys_are_file_names_and_values_one_line() {
        for k in [
            "memory/../x",
            "..",
            ".x",
            "memory",
            "memory.high\n",
            "memory.h igh",
            "a.\u{0}",
        ] {
            let json = serde_json::json!({"unified": {k: "1"}}).to_string();
            assert!(
                err(&json, Driver::V2).starts_with("linux.resources.unified: "),
                "{k:?}"
            );
        }
        for v in ["1\nmax", "1\0", "max\r\n", "1\n\n"] {
            let json = serde_json::json!({"unified": {"memory.high": v}}).to_string();
            let e = err(&json, Driver::V2);
            assert!(
                e.starts_with("linux.resources.unified.memory.high: "),
                "{v:?}: {e}"
            );
        }
        let ok = res(r#"{"unified":{"hugetlb.2MB.max":"max\n","cgroup.max.descendants":"5"}}"#);
        validate(&ok, Some(Driver::V2), None).unwrap();
    }

    /// Device numbers beyond the kernel's 12/20-bit major/minor passed (up to u32::MAX) and
    /// were refused only by the write, or aliased another device on older kernels.
    #[test]
    fn device_numbers_fit_the_kernel_dev_t() {
        for (ma, mi) in [(4096, 0), (0, 1 << 20), (u32::MAX as i64, 0)] {
            let json = format!(
                r#"{{"blockIO":{{"throttleReadBpsDevice":[{{"major":{ma},"minor":{mi},"rate":1}}]}}}}"#
            );
            let e = err(&json, Driver::V2);
            assert!(
                e.starts_with("linux.resources.blockIO.throttleReadBpsDevice[0]: "),
                "{e}"
            );
        }
        let ok =
            res(r#"{"blockIO":{"weightDevice":[{"major":4095,"minor":1048575,"weight":10}]}}"#);
        validate(&ok, Some(Driver::V1), None).unwrap();
    }

    /// memory.limit -1 with a finite memory+swap total can never hold (the kernel keeps
    /// limit <= memsw); v1 only failed at the write, after the cgroup was made.
    #[test]
    fn finite_swap_needs_a_finite_limit() {
        for d in [Driver::V1, Driver::V2] {
            let e = err(r#"{"memory":{"limit":-1,"swap":1048576}}"#, d);
            assert!(e.starts_with("linux.resources.memory.swap: "), "{e}");
        }
        validate(
            &res(r#"{"memory":{"limit":-1,"swap":-1}}"#),
            Some(Driver::V1),
            None,
        )
        .unwrap();
    }

    /// Values the kernel refuses with EINVAL (cpu quota above max_cfs_runtime, quota + burst
    /// above it, pids.max at PIDS_MAX or more) were accepted and failed only at the write.
    #[test]
    fn kernel_bounds_for_quota_burst_and_pids() {
        let max = MAX_CFS_QUOTA;
        for (json, field) in [
            (format!(r#"{{"cpu":{{"quota":{}}}}}"#, max + 1), "cpu.quota"),
            (
                format!(r#"{{"cpu":{{"quota":{max},"burst":1}}}}"#),
                "cpu.burst",
            ),
            (r#"{"pids":{"limit":4194305}}"#.to_string(), "pids.limit"),
        ] {
            for d in [Driver::V1, Driver::V2] {
                let e = err(&json, d);
                assert!(e.starts_with(&format!("linux.resources.{field}: ")), "{e}");
            }
        }
        let ok = res(&format!(
            r#"{{"cpu":{{"quota":{},"burst":{}}},"pids":{{"limit":4194304}}}}"#,
            max / 2 + 1,
            max / 2
        ));
        validate(&ok, Some(Driver::V2), None).unwrap();
    }

    #[test]
    fn interface_names() {
        assert!(is_ifname("eth0") && is_ifname("veth-a.1"));
        for n in [
            "",
            "a b",
            "a/b",
            "a:1",
            ".",
            "..",
            "0123456789abcdef",
            "e\0",
        ] {
            assert!(!is_ifname(n), "{n:?}");
        }
    }

    #[test]
    fn lists_and_page_sizes() {
        assert!(is_list("0") && is_list("0-3,5") && !is_list("") && !is_list("a"));
        assert!(
            is_page_size("2MB")
                && is_page_size("1GB")
                && !is_page_size("MB")
                && !is_page_size("2M")
        );
    }
}
