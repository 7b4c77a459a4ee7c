//! Linux security modules: AppArmor profiles and SELinux labels.
//!
//! A label or profile is applied or refused, never dropped: a container asked to run confined
//! must not start unconfined because the host lacks the module (runc and crun refuse too).
//! `process.apparmorProfile` needs AppArmor enabled; `process.selinuxLabel` and
//! `linux.mountLabel` need SELinux. Refused before anything is created.

use crate::error::{Error, Result};
use oci_spec::runtime::{Process, Spec};
use std::path::Path;

fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.starts_with('Y'))
}

fn set(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// Refuses the process's LSM settings this host cannot honour (create and exec).
pub fn check(p: &Process) -> Result<()> {
    if let Some(profile) = set(p.apparmor_profile()) {
        if !apparmor_enabled() {
            return Err(Error::Config(format!(
                "process.apparmorProfile {profile:?}: AppArmor is not enabled on this host"
            )));
        }
    }
    if let Some(label) = set(p.selinux_label()) {
        if !selinux_enabled() {
            return Err(Error::Config(format!(
                "process.selinuxLabel {label:?}: SELinux is not enabled on this host"
            )));
        }
    }
    Ok(())
}

/// [`check`] for the init's process, plus `linux.mountLabel`.
pub fn check_spec(spec: &Spec) -> Result<()> {
    if let Some(p) = spec.process() {
        check(p)?;
    }
    if let Some(label) = spec.linux().as_ref().and_then(|l| set(l.mount_label())) {
        if !selinux_enabled() {
            return Err(Error::Config(format!(
                "linux.mountLabel {label:?}: SELinux is not enabled on this host"
            )));
        }
    }
    Ok(())
}

/// Sets the labels the next execve takes on (called in the init and exec child, after
/// [`check`] passed in the parent).
pub fn apply(p: &Process) -> Result<()> {
    if let Some(profile) = set(p.apparmor_profile()) {
        write_attr("apparmor/exec", "exec", &format!("exec {profile}"))
            .map_err(|e| Error::Child(format!("process.apparmorProfile {profile:?}: {e}")))?;
    }
    if let Some(label) = set(p.selinux_label()) {
        write_attr("exec", "exec", label)
            .map_err(|e| Error::Child(format!("process.selinuxLabel {label:?}: {e}")))?;
    }
    Ok(())
}

/// Mount data for a filesystem mounted for the container: with `linux.mountLabel`, the
/// `context=` option that labels every file in it (as runc: not for proc, sysfs, mqueue or
/// cgroup, which take no context option or keep their own labels).
pub fn mount_data(typ: &str, data: &str, mount_label: Option<&str>) -> String {
    match mount_label.filter(|l| !l.is_empty()) {
        Some(l) if !matches!(typ, "proc" | "sysfs" | "mqueue" | "cgroup" | "cgroup2") => {
            let ctx = format!("context=\"{l}\"");
            if data.is_empty() {
                ctx
            } else {
                format!("{data},{ctx}")
            }
        }
        _ => data.to_owned(),
    }
}

/// Writes /proc/thread-self/attr/<new>, falling back to the pre-5.8 shared attr file.
fn write_attr(new: &str, old: &str, value: &str) -> std::io::Result<()> {
    let p = format!("/proc/thread-self/attr/{new}");
    match std::fs::write(&p, value) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::write(format!("/proc/thread-self/attr/{old}"), value)
        }
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_label_becomes_a_context_option() {
        let l = Some("system_u:object_r:container_file_t:s0:c1,c2");
        assert_eq!(
            mount_data("tmpfs", "mode=755", l),
            "mode=755,context=\"system_u:object_r:container_file_t:s0:c1,c2\""
        );
        assert_eq!(
            mount_data("devpts", "", l),
            "context=\"system_u:object_r:container_file_t:s0:c1,c2\""
        );
        assert_eq!(mount_data("proc", "", l), "");
        assert_eq!(mount_data("mqueue", "x", l), "x");
        assert_eq!(mount_data("tmpfs", "mode=755", None), "mode=755");
        assert_eq!(mount_data("tmpfs", "mode=755", Some("")), "mode=755");
    }
}
