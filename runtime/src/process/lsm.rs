//! Linux security modules: AppArmor profiles and SELinux labels, as runc treats them.
//!
//! AppArmor: applied (`exec <profile>` on the process's attr) when the kernel has it enabled,
//! silently ignored otherwise. SELinux: a `selinuxLabel` on a host without SELinux is an error,
//! since the process would run unconfined against the caller's intent.

use crate::error::{Error, Result};
use oci_spec::runtime::Process;
use std::path::Path;

fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.starts_with('Y'))
}

/// Refuses what this host cannot honour, before anything is created.
pub fn check(p: &Process) -> Result<()> {
    if p.selinux_label().as_deref().is_some_and(|l| !l.is_empty()) && !selinux_enabled() {
        return Err(Error::Config(
            "process.selinuxLabel: SELinux is not enabled on this host".into(),
        ));
    }
    Ok(())
}

/// Sets the labels the next execve takes on (called in the init and exec child).
pub fn apply(p: &Process) -> Result<()> {
    if let Some(profile) = p.apparmor_profile().as_deref().filter(|s| !s.is_empty()) {
        if apparmor_enabled() {
            write_attr("apparmor/exec", "exec", &format!("exec {profile}"))
                .map_err(|e| Error::Child(format!("process.apparmorProfile {profile:?}: {e}")))?;
        }
    }
    if let Some(label) = p.selinux_label().as_deref().filter(|s| !s.is_empty()) {
        write_attr("exec", "exec", label)
            .map_err(|e| Error::Child(format!("process.selinuxLabel {label:?}: {e}")))?;
    }
    Ok(())
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
