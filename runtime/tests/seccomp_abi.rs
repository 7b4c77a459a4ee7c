//! The filter cannot be bypassed through the host's other syscall ABIs: i386 (`int 0x80`) and
//! x32 (x86_64 numbers with bit 30 set).

mod seccomp_util;

use libc::{SYS_getpid, SYS_getppid};
use nix::sys::signal::Signal;
use seccomp_util::{filter, in_child, sys0, Outcome};
use serde_json::json;

const X32_BIT: libc::c_long = 0x4000_0000;
/// getppid on i386.
const I386_GETPPID: u32 = 64;

/// Makes an i386 syscall without arguments from this 64-bit process; returns eax.
fn int80(nr: u32) -> i32 {
    let ret: i32;
    // SAFETY: `int 0x80` with a no-argument syscall number only clobbers eax (and, on return,
    // nothing else the compiler relies on; r8-r11 are preserved by the compat entry).
    unsafe {
        std::arch::asm!("int 0x80", inlateout("eax") nr as i32 => ret, options(nostack));
    }
    ret
}

fn getppid_errno(architectures: serde_json::Value) -> dm_runtime::seccomp::Filter {
    filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": architectures,
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 9}]
    }))
}

#[test]
fn x32_syscalls_are_killed_unless_x32_is_listed() {
    let f = getppid_errno(json!(["SCMP_ARCH_X86_64"]));
    assert_eq!(in_child(&f, || sys0(SYS_getpid)), Outcome::Exited(0));
    assert_eq!(
        in_child(&f, || sys0(X32_BIT | SYS_getpid)),
        Outcome::Signaled(Signal::SIGSYS)
    );
}

#[test]
fn x32_rules_apply_when_x32_is_listed() {
    let f = getppid_errno(json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]));
    assert_eq!(
        in_child(&f, || sys0(X32_BIT | SYS_getppid)),
        Outcome::Exited(9)
    );
    assert_eq!(in_child(&f, || sys0(SYS_getppid)), Outcome::Exited(9));
}

#[test]
fn i386_syscalls_are_killed_unless_x86_is_listed() {
    let f = getppid_errno(json!([]));
    // Control: with x86 listed, int 0x80 works here (the kernel has ia32 emulation).
    let unfiltered = filter(json!({"defaultAction": "SCMP_ACT_ALLOW",
                                   "architectures": ["SCMP_ARCH_X86"]}));
    assert_eq!(
        in_child(&unfiltered, || (int80(I386_GETPPID) > 0) as i32),
        Outcome::Exited(1)
    );
    assert_eq!(
        in_child(&f, || int80(I386_GETPPID)),
        Outcome::Signaled(Signal::SIGSYS)
    );
}

#[test]
fn i386_rules_use_i386_numbers_when_x86_is_listed() {
    let f = getppid_errno(json!(["SCMP_ARCH_X86", "SCMP_ARCH_X86_64"]));
    assert_eq!(in_child(&f, || -int80(I386_GETPPID)), Outcome::Exited(9));
    // i386 number 64 is not x86_64's getppid (110): on x86_64 it is semget, untouched here.
    assert_eq!(in_child(&f, || sys0(SYS_getpid)), Outcome::Exited(0));
}
