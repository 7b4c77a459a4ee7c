//! The syscall ABIs an x86_64 host runs, and syscall name → number for each.
//!
//! One x86_64 kernel serves three ABIs: x86_64, i386 (`int 0x80`, sysenter; a different audit
//! arch and different numbers) and x32 (the x86_64 audit arch with bit 30 set in the number). A
//! filter that only checked x86_64 numbers could be bypassed by calling the same syscall through
//! another ABI, so the filter checks the arch first and the x32 bit second.

use std::str::FromStr;

/// `AUDIT_ARCH_X86_64` from <linux/audit.h>.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_I386` from <linux/audit.h>.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `__X32_SYSCALL_BIT`: x32 syscalls come in as the x86_64 arch with this bit in the number.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// A syscall ABI the filter has a section for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Abi {
    /// The native x86_64 ABI.
    X86_64,
    /// The x32 ABI (x86_64 audit arch, numbers with `X32_SYSCALL_BIT`).
    X32,
    /// The i386 compat ABI.
    I386,
}

/// x32 syscalls whose x32 number differs from the x86_64 one (arch/x86/entry/syscalls/syscall_64.tbl,
/// numbers 512..=547): they take structs with pointers or `long`s, so x32 has its own entry.
const X32_SPECIAL: &[(&str, u32)] = &[
    ("rt_sigaction", 512),
    ("rt_sigreturn", 513),
    ("ioctl", 514),
    ("readv", 515),
    ("writev", 516),
    ("recvfrom", 517),
    ("sendmsg", 518),
    ("recvmsg", 519),
    ("execve", 520),
    ("ptrace", 521),
    ("rt_sigpending", 522),
    ("rt_sigtimedwait", 523),
    ("rt_sigqueueinfo", 524),
    ("sigaltstack", 525),
    ("timer_create", 526),
    ("mq_notify", 527),
    ("kexec_load", 528),
    ("waitid", 529),
    ("set_robust_list", 530),
    ("get_robust_list", 531),
    ("vmsplice", 532),
    ("move_pages", 533),
    ("preadv", 534),
    ("pwritev", 535),
    ("rt_tgsigqueueinfo", 536),
    ("recvmmsg", 537),
    ("sendmmsg", 538),
    ("process_vm_readv", 539),
    ("process_vm_writev", 540),
    ("setsockopt", 541),
    ("getsockopt", 542),
    ("io_setup", 543),
    ("io_submit", 544),
    ("execveat", 545),
    ("preadv2", 546),
    ("pwritev2", 547),
];

impl Abi {
    /// The `seccomp_data.arch` value this ABI's syscalls arrive with.
    pub fn audit_arch(self) -> u32 {
        match self {
            Abi::X86_64 | Abi::X32 => AUDIT_ARCH_X86_64,
            Abi::I386 => AUDIT_ARCH_I386,
        }
    }

    /// Whether syscall arguments are 32-bit (only the low word of `seccomp_data.args[i]` counts).
    pub fn args_are_32bit(self) -> bool {
        matches!(self, Abi::I386)
    }

    /// The number `seccomp_data.nr` holds for `name` on this ABI; `None` if the ABI lacks it.
    pub fn resolve(self, name: &str) -> Option<u32> {
        match self {
            Abi::X86_64 => syscalls::x86_64::Sysno::from_str(name)
                .ok()
                .map(|s| s.id() as u32),
            Abi::X32 => X32_SPECIAL
                .iter()
                .find(|(n, _)| *n == name)
                .map(|&(_, nr)| nr)
                .or_else(|| Abi::X86_64.resolve(name))
                .map(|nr| nr | X32_SYSCALL_BIT),
            Abi::I386 => syscalls::x86::Sysno::from_str(name)
                .ok()
                .map(|s| s.id() as u32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_per_abi() {
        assert_eq!(Abi::X86_64.resolve("getppid"), Some(110));
        assert_eq!(Abi::I386.resolve("getppid"), Some(64));
        assert_eq!(Abi::X32.resolve("getppid"), Some(X32_SYSCALL_BIT | 110));
        assert_eq!(Abi::X32.resolve("ioctl"), Some(X32_SYSCALL_BIT | 514));
        assert_eq!(Abi::X86_64.resolve("chown32"), None);
        assert_eq!(Abi::I386.resolve("chown32"), Some(212));
        assert_eq!(Abi::X86_64.resolve("no_such_syscall"), None);
    }
}
