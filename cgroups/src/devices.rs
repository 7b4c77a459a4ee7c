//! Device rules from `linux.resources.devices`, checked and normalised once for both drivers.
//!
//! Semantics as runc: start from "deny everything", apply the rules in order, a later rule
//! overrides an earlier one for the devices both match.

use crate::error::{invalid, Result};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// Access bits, as the kernel's BPF_DEVCG_ACC_* values.
pub const ACC_MKNOD: u32 = 1;
/// Read access.
pub const ACC_READ: u32 = 2;
/// Write access.
pub const ACC_WRITE: u32 = 4;
/// All of `rwm`.
pub const ACC_ALL: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// Device type of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Every device type.
    All,
    /// Block devices.
    Block,
    /// Character devices.
    Char,
}

/// One checked device rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Allow (true) or deny.
    pub allow: bool,
    /// The device type it matches.
    pub kind: Kind,
    /// Major number, `None` for any.
    pub major: Option<u32>,
    /// Minor number, `None` for any.
    pub minor: Option<u32>,
    /// Access bits (ACC_*).
    pub access: u32,
}

impl Rule {
    /// True when the rule matches every device with every access.
    pub fn matches_all(&self) -> bool {
        self.kind == Kind::All
            && self.major.is_none()
            && self.minor.is_none()
            && self.access == ACC_ALL
    }

    /// The access as the kernel's v1 `rwm` letters.
    pub fn access_str(&self) -> String {
        let mut s = String::new();
        if self.access & ACC_READ != 0 {
            s.push('r');
        }
        if self.access & ACC_WRITE != 0 {
            s.push('w');
        }
        if self.access & ACC_MKNOD != 0 {
            s.push('m');
        }
        s
    }
}

/// Checks and normalises the spec's device rules.
pub fn rules(devs: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>> {
    devs.iter().enumerate().map(|(i, d)| rule(i, d)).collect()
}

fn rule(i: usize, d: &LinuxDeviceCgroup) -> Result<Rule> {
    let field = |f: &str| format!("linux.resources.devices[{i}].{f}");
    let kind = match d.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => Kind::All,
        LinuxDeviceType::B => Kind::Block,
        LinuxDeviceType::C | LinuxDeviceType::U => Kind::Char,
        LinuxDeviceType::P => {
            return Err(invalid(
                field("type"),
                "\"p\" (fifo) cannot be controlled by the devices cgroup; use a, b, c or u",
            ))
        }
    };
    let num = |v: Option<i64>, f: &str| -> Result<Option<u32>> {
        match v {
            None | Some(-1) => Ok(None),
            Some(n) if (0..=u32::MAX as i64).contains(&n) => Ok(Some(n as u32)),
            Some(n) => Err(invalid(
                field(f),
                format!("{n} is not a device number or -1"),
            )),
        }
    };
    let access = match d.access().as_deref() {
        None | Some("") => ACC_ALL,
        Some(a) => {
            let mut bits = 0;
            for ch in a.chars() {
                bits |= match ch {
                    'r' => ACC_READ,
                    'w' => ACC_WRITE,
                    'm' => ACC_MKNOD,
                    _ => {
                        return Err(invalid(
                            field("access"),
                            format!("{a:?} may only contain r, w and m"),
                        ))
                    }
                };
            }
            bits
        }
    };
    Ok(Rule {
        allow: d.allow(),
        kind,
        major: num(d.major(), "major")?,
        minor: num(d.minor(), "minor")?,
        access,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(json: &str) -> LinuxDeviceCgroup {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn rules_are_normalised_and_checked() {
        let r = rules(&[
            dev(r#"{"allow":false,"access":"rwm"}"#),
            dev(r#"{"allow":true,"type":"u","major":1,"minor":3,"access":"rw"}"#),
        ])
        .unwrap();
        assert!(r[0].matches_all() && !r[0].allow);
        assert_eq!(r[1].kind, Kind::Char);
        assert_eq!((r[1].major, r[1].minor), (Some(1), Some(3)));
        assert_eq!(r[1].access_str(), "rw");
        let e = rules(&[dev(r#"{"allow":true,"access":"rx"}"#)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "linux.resources.devices[0].access: \"rx\" may only contain r, w and m"
        );
        assert!(rules(&[dev(r#"{"allow":true,"type":"p"}"#)]).is_err());
        assert!(rules(&[dev(r#"{"allow":true,"major":-5}"#)]).is_err());
    }
}
