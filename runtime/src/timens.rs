//! Time namespace offsets (`linux.timeOffsets`).
//!
//! The kernel freezes a time namespace's offsets once a process lives in it, and clone3 with
//! CLONE_NEWTIME puts the child straight in. So with offsets the init is cloned without
//! CLONE_NEWTIME and makes the namespace itself: unshare (the new namespace is for children
//! only), write /proc/self/timens_offsets, then setns into its own `time_for_children`.

use crate::config::has_new_namespace;
use crate::error::{Error, Result, SysContext};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::OwnedFd;

/// The clocks a time namespace can offset, as the spec and the kernel name them.
const CLOCKS: [&str; 2] = ["monotonic", "boottime"];

/// The `timens_offsets` text for the spec's offsets, `None` when there are none.
pub fn offsets(spec: &Spec) -> Result<Option<String>> {
    let Some(map) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
    else {
        return Ok(None);
    };
    if map.is_empty() {
        return Ok(None);
    }
    if !has_new_namespace(spec, LinuxNamespaceType::Time) {
        return Err(Error::Config(
            "linux.timeOffsets: needs a new time namespace (linux.namespaces type \"time\" without a path)".into(),
        ));
    }
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let mut text = String::new();
    for k in keys {
        if !CLOCKS.contains(&k.as_str()) {
            return Err(Error::Config(format!(
                "linux.timeOffsets.{k}: unknown clock (expected monotonic or boottime)"
            )));
        }
        let o = &map[k];
        let nanos = o.nanosecs().unwrap_or(0);
        if nanos >= 1_000_000_000 {
            return Err(Error::Config(format!(
                "linux.timeOffsets.{k}.nanosecs: {nanos} is not below one second"
            )));
        }
        text.push_str(&format!("{k} {} {nanos}\n", o.secs().unwrap_or(0)));
    }
    Ok(Some(text))
}

/// In the init: a new time namespace with `offsets`, entered by this process.
pub fn enter(offsets: &str) -> Result<()> {
    let newtime = nix::sched::CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);
    nix::sched::unshare(newtime).sys(|| "unshare time namespace".into())?;
    std::fs::write("/proc/self/timens_offsets", offsets).map_err(|e| {
        Error::Config(format!(
            "linux.timeOffsets: write /proc/self/timens_offsets: {e}"
        ))
    })?;
    let ns: OwnedFd = std::fs::File::open("/proc/self/ns/time_for_children")
        .map_err(|e| Error::Config(format!("linux.timeOffsets: open time_for_children: {e}")))?
        .into();
    nix::sched::setns(&ns, newtime).sys(|| "enter time namespace".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(linux: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({"ociVersion": "1.0.2", "linux": linux})).unwrap()
    }

    #[test]
    fn offsets_render_in_kernel_format() {
        let s = spec(serde_json::json!({
            "namespaces": [{"type": "time"}],
            "timeOffsets": {"monotonic": {"secs": 5, "nanosecs": 7}, "boottime": {"secs": -3}}
        }));
        assert_eq!(
            offsets(&s).unwrap().unwrap(),
            "boottime -3 0\nmonotonic 5 7\n"
        );
    }

    #[test]
    fn offsets_need_a_new_time_namespace() {
        let s = spec(serde_json::json!({"timeOffsets": {"monotonic": {"secs": 5}}}));
        let e = offsets(&s).unwrap_err().to_string();
        assert!(
            e.contains("linux.timeOffsets") && e.contains("time namespace"),
            "{e}"
        );
    }

    #[test]
    fn unknown_clock_is_named() {
        let s = spec(serde_json::json!({
            "namespaces": [{"type": "time"}],
            "timeOffsets": {"realtime": {"secs": 5}}
        }));
        let e = offsets(&s).unwrap_err().to_string();
        assert!(e.contains("linux.timeOffsets.realtime"), "{e}");
    }
}
