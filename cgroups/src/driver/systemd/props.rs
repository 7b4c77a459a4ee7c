//! The unit properties systemd manages for a container's resources. systemd re-applies a
//! unit's properties whenever it re-realises the cgroup (daemon-reload, a sibling's change), so
//! what it can express must be told to it, not only written to the files; everything else is
//! written to the files afterwards by the cgroupfs code, as runc does.

use super::dbus::{prop, Value};
use crate::devices::{self, Kind, Rule};
use crate::v2::{blkio_to_io_weight, shares_to_weight};
use oci_spec::runtime::LinuxResources;

/// systemd's "no limit" for the u64 properties.
const INFINITY: u64 = u64::MAX;

/// Properties for `res` on a host whose controllers are v1 (`unified` false) or cgroup2.
pub fn resources(res: &LinuxResources, unified: bool) -> Vec<Value> {
    let mut p = Vec::new();
    let limit = |v: i64| if v < 0 { INFINITY } else { v as u64 };
    if let Some(m) = res.memory() {
        if let Some(l) = m.limit() {
            let name = if unified { "MemoryMax" } else { "MemoryLimit" };
            p.push(prop(name, Value::U64(limit(l))));
        }
        if unified {
            if let Some(r) = m.reservation() {
                p.push(prop("MemoryLow", Value::U64(limit(r))));
            }
            if let (Some(s), Some(l)) = (m.swap(), m.limit()) {
                // The spec's swap is memory+swap; systemd's MemorySwapMax is swap alone.
                let v = if s < 0 {
                    INFINITY
                } else {
                    s.saturating_sub(l).max(0) as u64
                };
                p.push(prop("MemorySwapMax", Value::U64(v)));
            }
        }
    }
    if let Some(c) = res.cpu() {
        if let Some(s) = c.shares().filter(|&s| s != 0) {
            if unified {
                p.push(prop("CPUWeight", Value::U64(shares_to_weight(s))));
            } else {
                p.push(prop("CPUShares", Value::U64(s)));
            }
        }
        if let Some(q) = c.quota().filter(|&q| q != 0) {
            p.push(prop(
                "CPUQuotaPerSecUSec",
                Value::U64(quota_per_sec(q, c.period())),
            ));
        }
        if unified {
            if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
                if let Some(mask) = bitmask(cpus) {
                    p.push(prop("AllowedCPUs", Value::Array("y".into(), mask)));
                }
            }
            if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
                if let Some(mask) = bitmask(mems) {
                    p.push(prop("AllowedMemoryNodes", Value::Array("y".into(), mask)));
                }
            }
        }
    }
    if let Some(pids) = res.pids() {
        p.push(prop("TasksMax", Value::U64(limit(pids.limit()))));
    }
    if let Some(rules) = res.devices().as_deref() {
        // Already checked by validate; a rule that does not parse leaves systemd's alone.
        if let Ok(rules) = devices::rules(rules) {
            let text = std::fs::read_to_string("/proc/devices").unwrap_or_default();
            p.extend(device_props(&rules, &|k, m| major_name(&text, k, m)));
        }
    }
    if let Some(w) = res
        .block_io()
        .as_ref()
        .and_then(|b| b.weight())
        .filter(|&w| w != 0)
    {
        if unified {
            p.push(prop("IOWeight", Value::U64(blkio_to_io_weight(w))));
        } else {
            p.push(prop("BlockIOWeight", Value::U64(u64::from(w))));
        }
    }
    p
}

/// DevicePolicy and DeviceAllow for the device rules (applied in order from "deny all", as
/// the cgroupfs code applies them). Without them systemd, re-realising the scope (e.g. on
/// daemon-reload), would write "allow all" over the container's device cgroup. systemd has no
/// deny entries: a deny-all rule restarts the allow list, other denies remove the allows they
/// repeat; rules allowing everything leave the policy `auto` with no list (all devices).
/// `name(kind, major)` is the major's group in /proc/devices, for rules on every minor.
pub fn device_props(rules: &[Rule], name: &dyn Fn(Kind, u32) -> Option<String>) -> Vec<Value> {
    let mut allow_all = false;
    let mut allows: Vec<Rule> = Vec::new();
    for r in rules {
        if r.matches_all() {
            allow_all = r.allow;
            allows.clear();
        } else if r.allow && !allow_all {
            allows.push(*r);
        } else if !r.allow {
            allows.retain(|a| (a.kind, a.major, a.minor) != (r.kind, r.major, r.minor));
        }
    }
    if allow_all {
        return vec![prop("DevicePolicy", Value::Str("auto".into()))];
    }
    let mut entries = Vec::new();
    for r in &allows {
        let kinds: &[(Kind, &str)] = match r.kind {
            Kind::Char => &[(Kind::Char, "char")],
            Kind::Block => &[(Kind::Block, "block")],
            Kind::All => &[(Kind::Char, "char"), (Kind::Block, "block")],
        };
        for (k, word) in kinds {
            let path = match (r.major, r.minor) {
                (Some(ma), Some(mi)) => Some(format!("/dev/{word}/{ma}:{mi}")),
                (Some(ma), None) => name(*k, ma).map(|n| format!("{word}-{n}")),
                (None, _) => Some(format!("{word}-*")),
            };
            if let Some(path) = path {
                let access = Value::Str(r.access_str());
                entries.push(Value::Struct(vec![Value::Str(path), access]));
            }
        }
    }
    vec![
        prop("DevicePolicy", Value::Str("strict".into())),
        prop("DeviceAllow", Value::Array("(ss)".into(), entries)),
    ]
}

/// The group name of `major` in /proc/devices' `kind` section.
fn major_name(proc_devices: &str, kind: Kind, major: u32) -> Option<String> {
    let section = if kind == Kind::Block {
        "Block devices:"
    } else {
        "Character devices:"
    };
    proc_devices
        .lines()
        .skip_while(|l| l.trim() != section)
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .find_map(|l| {
            let (n, name) = l.trim().split_once(' ')?;
            (n.parse::<u32>().ok()? == major).then(|| name.trim().to_string())
        })
}

/// CPUQuotaPerSecUSec for a CFS quota per period (default period 100 ms); systemd keeps it in
/// 10 ms steps, so it is rounded up to one (a quota is never tightened by rounding).
pub fn quota_per_sec(quota: i64, period: Option<u64>) -> u64 {
    if quota < 0 {
        return INFINITY;
    }
    let period = period.filter(|&p| p != 0).unwrap_or(100_000);
    let per_sec = (quota as u64).saturating_mul(1_000_000) / period;
    per_sec.div_ceil(10_000) * 10_000
}

/// A cpuset list (`0-2,5`) as systemd's byte mask (bit n of byte n/8 for cpu n).
fn bitmask(list: &str) -> Option<Vec<Value>> {
    let mut bytes: Vec<u8> = Vec::new();
    for part in list.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (
                a.trim().parse::<usize>().ok()?,
                b.trim().parse::<usize>().ok()?,
            ),
            None => {
                let n = part.trim().parse::<usize>().ok()?;
                (n, n)
            }
        };
        if b < a || b > 8191 {
            return None;
        }
        for n in a..=b {
            if bytes.len() <= n / 8 {
                bytes.resize(n / 8 + 1, 0);
            }
            bytes[n / 8] |= 1 << (n % 8);
        }
    }
    Some(bytes.into_iter().map(Value::Byte).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    fn names(p: &[Value]) -> Vec<(String, Value)> {
        p.iter()
            .map(|v| match v {
                Value::Struct(f) => (f[0].as_str().unwrap().to_string(), f[1].inner().clone()),
                _ => panic!("{v:?}"),
            })
            .collect()
    }

    #[test]
    fn v1_hosts_get_the_legacy_properties() {
        let r = res(
            r#"{"memory":{"limit":104857600},"cpu":{"shares":512,"quota":50000,"period":100000},"pids":{"limit":-1}}"#,
        );
        assert_eq!(
            names(&resources(&r, false)),
            vec![
                ("MemoryLimit".into(), Value::U64(104_857_600)),
                ("CPUShares".into(), Value::U64(512)),
                ("CPUQuotaPerSecUSec".into(), Value::U64(500_000)),
                ("TasksMax".into(), Value::U64(u64::MAX)),
            ]
        );
    }

    #[test]
    fn unified_hosts_get_the_cgroup2_properties() {
        let r =
            res(r#"{"memory":{"limit":1000,"swap":3000},"cpu":{"shares":1024,"cpus":"0-2,9"}}"#);
        let p = names(&resources(&r, true));
        assert_eq!(p[0], ("MemoryMax".into(), Value::U64(1000)));
        assert_eq!(p[1], ("MemorySwapMax".into(), Value::U64(2000)));
        assert_eq!(
            p[2],
            ("CPUWeight".into(), Value::U64(shares_to_weight(1024)))
        );
        assert_eq!(
            p[3],
            (
                "AllowedCPUs".into(),
                Value::Array("y".into(), vec![Value::Byte(7), Value::Byte(2)])
            )
        );
    }

    #[test]
    fn device_rules_become_a_strict_allow_list() {
        let dev =
            |j: &str| -> oci_spec::runtime::LinuxDeviceCgroup { serde_json::from_str(j).unwrap() };
        let rules = devices::rules(&[
            dev(r#"{"allow":false,"access":"rwm"}"#),
            dev(r#"{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}"#),
            dev(r#"{"allow":true,"type":"c","major":136,"access":"rwm"}"#),
            dev(r#"{"allow":true,"type":"b","access":"m"}"#),
            dev(r#"{"allow":true,"type":"c","major":10,"minor":200,"access":"rwm"}"#),
            dev(r#"{"allow":false,"type":"c","major":10,"minor":200,"access":"rwm"}"#),
        ])
        .unwrap();
        let name = |k: Kind, m: u32| (k == Kind::Char && m == 136).then(|| "pts".to_string());
        let p = names(&device_props(&rules, &name));
        assert_eq!(p[0], ("DevicePolicy".into(), Value::Str("strict".into())));
        let entry =
            |p: &str, a: &str| Value::Struct(vec![Value::Str(p.into()), Value::Str(a.into())]);
        assert_eq!(
            p[1].1,
            Value::Array(
                "(ss)".into(),
                vec![
                    entry("/dev/char/1:3", "rw"),
                    entry("char-pts", "rwm"),
                    entry("block-*", "m")
                ]
            )
        );
        let all = devices::rules(&[dev(r#"{"allow":true,"access":"rwm"}"#)]).unwrap();
        assert_eq!(
            names(&device_props(&all, &name)),
            vec![("DevicePolicy".into(), Value::Str("auto".into()))]
        );
    }

    #[test]
    fn major_names_come_from_their_section() {
        let text = "Character devices:\n  1 mem\n136 pts\n\nBlock devices:\n  8 sd\n";
        assert_eq!(major_name(text, Kind::Char, 136).as_deref(), Some("pts"));
        assert_eq!(major_name(text, Kind::Block, 8).as_deref(), Some("sd"));
        assert_eq!(major_name(text, Kind::Char, 8), None);
    }

    #[test]
    fn quota_rounds_up_to_systemd_steps() {
        assert_eq!(quota_per_sec(1, Some(100_000)), 10_000);
        assert_eq!(quota_per_sec(150_000, Some(300_000)), 500_000);
        assert_eq!(quota_per_sec(-1, None), u64::MAX);
    }
}
