//! linux.seccomp: compiled to one classic-BPF program in Rust, installed right before execve.
//!
//! # Why our own BPF instead of stacking seccompiler filters
//! seccompiler compiles one match action per filter, has no NOTIFY, and every filter it emits
//! kills any arch but its one target, so SCMP_ARCH_X86/X32 sections cannot be stacked at all.
//! Stacked per-action filters also combine by the kernel's precedence (KILL > TRAP > ERRNO >
//! NOTIFY > TRACE > LOG > ALLOW), not libseccomp's rule (an unconditional rule replaces a
//! syscall's conditional rules whatever their actions; ERRNO rules with different errnos would
//! tie and take the newest filter's errno). They agree on docker's profile (`seccomp_cost` test
//! checks every x86_64 syscall number), but cost more: measured on docker's default profile
//! (x86_64 only, release build), seccompiler's two stacked filters hold 1567 instructions and
//! run 314 per allowed syscall on average (max 618), scanning rules linearly; this program, a
//! binary search over syscall numbers with shared return slots, holds 450 and runs 18 (max 28),
//! and compiles in 27 us against 35-46 us. With docker's x86 and x32 sections too: 970
//! instructions, compiled in ~80 us, installed in ~200 us (install time follows program size,
//! ~0.2 us per instruction; 23 us for a trivial filter). The kernel's action cache (5.11+) skips
//! the filter for syscalls allowed whatever their arguments; the rest run it on every call.
//!
//! # Semantics (those of runc 1.1 + libseccomp)
//! - The native ABI (x86_64) is always filtered; SCMP_ARCH_X86 and SCMP_ARCH_X32 add sections,
//!   other CPUs' arches are accepted and can never occur here. A syscall from an ABI not in the
//!   filter (i386 via `int 0x80`, or the x32 bit on x86_64) kills the process, so no other ABI
//!   can bypass it.
//! - Names unknown on an ABI are skipped (see [`Filter::skipped_syscalls`]); rules whose action
//!   equals the default action are dropped, as runc does.
//! - For one syscall, an unconditional rule wins over conditional ones (libseccomp); conditional
//!   rules are tried in profile order, their conditions ANDed; else the default action.
//! - 64-bit argument comparisons on x86_64/x32; low 32 bits only on i386, like libseccomp.
//! - i386's multiplexers socketcall(2) and ipc(2) match by their own names only: a rule on
//!   `socket` covers i386's direct socket syscall, not `socketcall(SYS_SOCKET, ...)`, whose
//!   arguments sit in memory a filter cannot read (libseccomp adds the socketcall variant).
//! - SCMP_ACT_KILL is KILL_THREAD; ERRNO and TRACE data default to EPERM.
//! - When the default action blocks (not ALLOW/LOG), syscalls numbered above the newest one the
//!   profile names on an ABI get ENOSYS: they are newer than the profile, and libcs fall back
//!   on ENOSYS but not on EPERM (runc's -ENOSYS stub; e.g. glibc's fchmodat2 → fchmodat).
//!
//! # Where dm-runc calls this
//! 1. Parent, while validating config.json: [`compile`]. Every error names its field; nothing
//!    has been created yet. (Unknown action/op/arch/flag names already fail config.json parsing
//!    with their serde path.)
//! 2. Init, last steps before execve. seccomp(2) needs no_new_privs or CAP_SYS_ADMIN, and every
//!    syscall after [`Filter::install`] is filtered, so:
//!    - noNewPrivileges = true: prctl(PR_SET_NO_NEW_PRIVS), then user/groups and capabilities,
//!      then `install`, then execve (runc: after finalizeNamespace).
//!    - noNewPrivileges = false: `install` BEFORE setgroups/setresgid/setresuid/capset and the
//!      bounding-set drop, while CAP_SYS_ADMIN is still held (runc does the same). Those calls,
//!      the exec-fifo wait and execve then run under the filter, so the profile must allow them
//!      (docker's does; runc has the same constraint).
//! 3. With a notify fd (`install` returned `Some`, i.e. [`Filter::needs_notify`]): the agent
//!    must have it before the container runs a notified syscall, and `listenerPath` is a host
//!    path the init (after pivot_root) cannot reach. Install while the parent still waits
//!    (`create`: before reporting ready and blocking on the exec fifo; `exec`: before execve),
//!    send the fd to the parent over the init socketpair (SCM_RIGHTS), and let the parent call
//!    [`send_to_listener`] with `ProcessState::new(init_pid, listenerMetadata, state)`
//!    (status `creating` for create, `running` for exec), then close its copy. No NOTIFY rule
//!    may cover the calls the init makes to hand the fd over (`write`, `sendmsg` are refused at
//!    compile time). The init should not close(2) its copy (close may be notified, and would
//!    wait on the agent); the fd is O_CLOEXEC, so execve drops it without a syscall.

mod arch;
mod bpf;
mod compile;
mod install;
mod listener;
mod sys;

use std::path::PathBuf;

pub use compile::compile;
pub use listener::{send_to_listener, ContainerState, ProcessState};

/// Errors of the seccomp module.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// A field of `linux.seccomp` the runtime cannot honour.
    #[error("{field}: {reason}")]
    Invalid {
        /// Path of the field in config.json, e.g. `linux.seccomp.syscalls[3].errnoRet`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// seccomp(2) refused the filter.
    #[error("installing the seccomp filter: {0}")]
    Install(#[source] std::io::Error),
    /// The notify fd could not be handed to the agent.
    #[error("sending the seccomp notify fd to {}: {source}", path.display())]
    Listener {
        /// `linux.seccomp.listenerPath`.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

/// A compiled seccomp program, ready to install.
#[derive(Clone)]
pub struct Filter {
    program: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
    needs_notify: bool,
    skipped: Vec<String>,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("instructions", &self.program.len())
            .field("flags", &self.flags)
            .field("needs_notify", &self.needs_notify)
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl Filter {
    /// Whether the profile uses SCMP_ACT_NOTIFY, so `install` returns a listener fd.
    pub fn needs_notify(&self) -> bool {
        self.needs_notify
    }

    /// The BPF program, for measuring and inspecting it.
    pub fn program(&self) -> &[libc::sock_filter] {
        &self.program
    }

    /// Syscall names the host knows on none of the filtered ABIs (runc logs these at debug).
    pub fn skipped_syscalls(&self) -> &[String] {
        &self.skipped
    }
}
