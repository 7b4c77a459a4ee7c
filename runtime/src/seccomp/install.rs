//! Filter flags and loading the compiled program into the current process.

use std::os::fd::OwnedFd;

use libc::c_ulong;
use oci_spec::runtime::LinuxSeccompFilterFlag;

use super::{sys, Filter, SeccompError};

/// Filter flags from `linux.seccomp.flags`. Matched by name so that flags newer oci-spec
/// releases add (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) work as soon as they parse.
pub(super) fn flags(list: &[LinuxSeccompFilterFlag]) -> Result<c_ulong, SeccompError> {
    let mut out = 0;
    for (i, f) in list.iter().enumerate() {
        out |= match f.to_string().as_str() {
            "SECCOMP_FILTER_FLAG_LOG" => libc::SECCOMP_FILTER_FLAG_LOG,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => {
                libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            }
            // The init is single-threaded, so TSYNC has nothing to synchronise (and it
            // conflicts with NEW_LISTENER).
            "SECCOMP_FILTER_FLAG_TSYNC" => 0,
            other => {
                return Err(SeccompError::Invalid {
                    field: format!("linux.seccomp.flags[{i}]"),
                    reason: format!("unsupported filter flag {other}"),
                })
            }
        };
    }
    Ok(out)
}

impl Filter {
    /// Installs the filter on the calling thread (and its future children); returns the user
    /// notification fd when the profile uses SCMP_ACT_NOTIFY.
    ///
    /// Requires no_new_privs or CAP_SYS_ADMIN in the caller's user namespace. Requested flags
    /// the kernel does not know (LOG, SPEC_ALLOW, WAIT_KILLABLE_RECV) are dropped, as runc does
    /// through libseccomp.
    pub fn install(&self) -> Result<Option<OwnedFd>, SeccompError> {
        let base = if self.needs_notify {
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
        } else {
            0
        };
        let mut flags = base;
        for f in [
            libc::SECCOMP_FILTER_FLAG_LOG,
            libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
        ] {
            // WAIT_KILLABLE_RECV only means something for (and is only accepted with) a listener.
            if self.flags & f != 0
                && (f != libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV || self.needs_notify)
                && sys::flags_supported(base | f)
            {
                flags |= f;
            }
        }
        sys::set_mode_filter(flags, &self.program).map_err(SeccompError::Install)
    }
}
