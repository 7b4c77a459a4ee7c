//! linux.seccomp semantics, observed from a forked child that installs the filter
//! (no_new_privs, so no root needed) and from its exit status.

mod seccomp_util;

use dm_runtime::seccomp::compile;
use libc::{SYS_getpid, SYS_getppid};
use nix::sys::signal::Signal;
use seccomp_util::{filter, in_child, profile, sys0, sys6, Outcome};
use serde_json::json;

#[test]
fn errno_rule_returns_configured_errno() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]
    }));
    assert_eq!(in_child(&f, || sys0(SYS_getppid)), Outcome::Exited(42));
    // Control: other syscalls are untouched.
    assert_eq!(in_child(&f, || sys0(SYS_getpid)), Outcome::Exited(0));
}

#[test]
fn errno_without_errno_ret_is_eperm() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]
    }));
    assert_eq!(
        in_child(&f, || sys0(SYS_getppid)),
        Outcome::Exited(libc::EPERM)
    );
}

#[test]
fn default_action_applies_to_unlisted_syscalls() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": libc::EACCES,
        "syscalls": [{"names": ["getpid", "exit", "exit_group"], "action": "SCMP_ACT_ALLOW"}]
    }));
    assert_eq!(
        in_child(&f, || sys0(SYS_getppid)),
        Outcome::Exited(libc::EACCES)
    );
    assert_eq!(in_child(&f, || sys0(SYS_getpid)), Outcome::Exited(0));
}

/// Runs `getpid(args)` for each probe under a rule `getpid ERRNO(77) if <args>` and checks
/// which probes matched; the child exits with 100 + the first wrong probe's index.
fn check_probes(rule_args: serde_json::Value, probes: &[([u64; 6], bool)]) {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77,
                      "args": rule_args}]
    }));
    let got = in_child(&f, || {
        for (i, (args, matches)) in probes.iter().enumerate() {
            let want = if *matches { 77 } else { 0 };
            if sys6(SYS_getpid, *args) != want {
                return 100 + i as i32;
            }
        }
        0
    });
    assert_eq!(
        got,
        Outcome::Exited(0),
        "probe (100 + index) got the wrong result"
    );
}

fn arg0(v: u64) -> [u64; 6] {
    [v, 0, 0, 0, 0, 0]
}

/// An operator name and what it means in Rust.
type OpCase = (&'static str, fn(u64) -> bool);

#[test]
fn each_comparison_operator_matches_64bit_values() {
    // Values differing only in the high word or only in the low word catch a comparison that
    // looks at one word alone.
    const V: u64 = 0x1_0000_0005;
    let samples = [
        0,
        5,
        V - 1,
        V,
        V + 1,
        0x2_0000_0000,
        0x0_ffff_ffff,
        u64::MAX,
    ];
    let ops: [OpCase; 6] = [
        ("SCMP_CMP_EQ", |x| x == V),
        ("SCMP_CMP_NE", |x| x != V),
        ("SCMP_CMP_LT", |x| x < V),
        ("SCMP_CMP_LE", |x| x <= V),
        ("SCMP_CMP_GE", |x| x >= V),
        ("SCMP_CMP_GT", |x| x > V),
    ];
    for (op, holds) in ops {
        let probes: Vec<_> = samples.iter().map(|&x| (arg0(x), holds(x))).collect();
        check_probes(json!([{"index": 0, "value": V, "op": op}]), &probes);
    }
}

#[test]
fn masked_eq_compares_under_the_mask() {
    const MASK: u64 = 0xff00_0000_00ff;
    const WANT: u64 = 0x1200_0000_0034;
    let samples = [
        WANT,
        WANT | 0xff_ffff_ff00,
        0x1200_0000_0035,
        0x1300_0000_0034,
        0x34,
        0,
    ];
    let probes: Vec<_> = samples
        .iter()
        .map(|&x| (arg0(x), x & MASK == WANT))
        .collect();
    check_probes(
        json!([{"index": 0, "value": MASK, "valueTwo": WANT, "op": "SCMP_CMP_MASKED_EQ"}]),
        &probes,
    );
}

#[test]
fn conditions_of_one_rule_are_anded_on_any_argument() {
    check_probes(
        json!([
            {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"},
            {"index": 5, "value": 9, "op": "SCMP_CMP_GT"}
        ]),
        &[
            ([0, 2, 0, 0, 0, 10], true),
            ([0, 2, 0, 0, 0, 9], false),
            ([0, 3, 0, 0, 0, 10], false),
            ([0, 0, 0, 0, 0, 0], false),
        ],
    );
}

#[test]
fn rules_for_the_same_syscall_are_ored_and_unconditional_wins() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 11,
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 12,
             "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]},
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 14}
        ]
    }));
    for (nr, a0, want) in [
        (SYS_getpid, 1, 11),
        (SYS_getpid, 2, 12),
        (SYS_getpid, 3, 0),
        (SYS_getppid, 1, 14),
        (SYS_getppid, 5, 14),
    ] {
        assert_eq!(
            in_child(&f, || sys6(nr, arg0(a0))),
            Outcome::Exited(want),
            "syscall {nr} with arg0 {a0}"
        );
    }
}

#[test]
fn allow_rule_under_errno_default_allows_only_when_conditions_hold() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["exit", "exit_group"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}
        ]
    }));
    assert_eq!(
        in_child(&f, || sys6(SYS_getpid, arg0(0))),
        Outcome::Exited(0)
    );
    assert_eq!(
        in_child(&f, || sys6(SYS_getpid, arg0(1))),
        Outcome::Exited(libc::EPERM)
    );
}

fn one_rule(action: &str) -> dm_runtime::seccomp::Filter {
    filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": action}]
    }))
}

#[test]
fn kill_actions_kill_with_sigsys() {
    for action in [
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL",
    ] {
        let f = one_rule(action);
        assert_eq!(
            in_child(&f, || sys0(SYS_getppid)),
            Outcome::Signaled(Signal::SIGSYS),
            "{action}"
        );
        assert_eq!(
            in_child(&f, || sys0(SYS_getpid)),
            Outcome::Exited(0),
            "{action}"
        );
    }
}

extern "C" fn exit_on_sigsys(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SYS_SECCOMP (1) is the si_code of a seccomp SIGSYS.
    // SAFETY: the kernel hands a valid siginfo to an SA_SIGINFO handler.
    let code = unsafe { (*info).si_code };
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(if code == 1 { 61 } else { 62 }) }
}

#[test]
fn trap_delivers_a_catchable_sigsys() {
    let f = one_rule("SCMP_ACT_TRAP");
    let got = in_child(&f, || {
        // SAFETY: installs a handler that only calls _exit; sigaction is a raw syscall here.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = exit_on_sigsys as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigaction(libc::SIGSYS, &sa, std::ptr::null_mut());
        }
        sys0(SYS_getppid);
        0
    });
    assert_eq!(got, Outcome::Exited(61));
}

#[test]
fn log_allows_the_syscall() {
    let f = one_rule("SCMP_ACT_LOG");
    assert_eq!(in_child(&f, || sys0(SYS_getppid)), Outcome::Exited(0));
}

#[test]
fn trace_without_a_tracer_fails_with_enosys() {
    let f = one_rule("SCMP_ACT_TRACE");
    assert_eq!(
        in_child(&f, || sys0(SYS_getppid)),
        Outcome::Exited(libc::ENOSYS)
    );
}

#[test]
fn unknown_syscall_names_are_skipped() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["no_such_syscall", "getppid", "arm_fadvise64_64"],
                      "action": "SCMP_ACT_ERRNO", "errnoRet": 5}]
    }));
    assert_eq!(
        f.skipped_syscalls(),
        ["no_such_syscall", "arm_fadvise64_64"]
    );
    assert_eq!(in_child(&f, || sys0(SYS_getppid)), Outcome::Exited(5));
}

#[test]
fn filter_flags_are_accepted_and_installed() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                  "SECCOMP_FILTER_FLAG_TSYNC"],
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3}]
    }));
    assert_eq!(in_child(&f, || sys0(SYS_getppid)), Outcome::Exited(3));
}

fn compile_err(v: serde_json::Value) -> String {
    compile(&profile(v))
        .expect_err("profile must be rejected")
        .to_string()
}

#[test]
fn bad_fields_are_rejected_naming_the_field() {
    let cases = [
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["getppid"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]}),
            "linux.seccomp.syscalls[1].errnoRet: ",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getpid"],
                "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
            "linux.seccomp.syscalls[0].args[0].index: ",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}),
            "linux.seccomp.defaultErrnoRet: ",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"}),
            "linux.seccomp.defaultAction: ",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["getpid"], "action": "SCMP_ACT_NOTIFY"}]}),
            "linux.seccomp.listenerPath: ",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/agent", "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}]}),
            "linux.seccomp.syscalls[0].names[1]: ",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["getpid", ""], "action": "SCMP_ACT_LOG"}]}),
            "linux.seccomp.syscalls[0].names[1]: ",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]}),
            "linux.seccomp.syscalls[0].errnoRet: ",
        ),
    ];
    for (v, prefix) in cases {
        let e = compile_err(v);
        assert!(e.starts_with(prefix), "{e:?} should start with {prefix:?}");
    }
}

/// Unknown actions, operators and arches cannot reach `compile`: config.json parsing (as dm-runc
/// does it) names the field.
#[test]
fn unknown_action_op_and_arch_fail_parsing_with_the_field_path() {
    let cases = [
        (
            json!({"syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
                                {"names": ["getpid"], "action": "SCMP_ACT_EXPLODE"}]}),
            "linux.seccomp.syscalls[1].action",
        ),
        (
            json!({"syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW",
                                 "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]}),
            "linux.seccomp.syscalls[0].args[0].op",
        ),
        (
            json!({"architectures": ["SCMP_ARCH_Z80"]}),
            "linux.seccomp.architectures[0]",
        ),
    ];
    for (mut seccomp, path) in cases {
        seccomp["defaultAction"] = json!("SCMP_ACT_ALLOW");
        let config = json!({"ociVersion": "1.0.2", "linux": {"seccomp": seccomp}}).to_string();
        let e =
            dm_runtime::config::parse::<oci_spec::runtime::Spec>(config.as_bytes(), "config.json")
                .expect_err("must not parse")
                .to_string();
        assert!(e.contains(&format!("config.json: {path}: ")), "{e}");
    }
}

/// Forks a child that installs `f` WITHOUT no_new_privs, optionally after dropping every
/// effective capability first; exits 0 if the filter works, 30 + errno-ish codes otherwise.
fn install_without_nnp(f: &dm_runtime::seccomp::Filter, drop_caps: bool) -> Outcome {
    // SAFETY: the child makes raw syscalls only and _exits.
    match unsafe { libc::fork() } {
        -1 => panic!("fork: {}", std::io::Error::last_os_error()),
        0 => unsafe {
            // SAFETY: capget/capset on ourselves with correctly sized v3 structs.
            if drop_caps {
                let mut hdr = [0x2008_0522u32, 0]; // _LINUX_CAPABILITY_VERSION_3, this thread
                let mut data = [0u32; 6];
                libc::syscall(libc::SYS_capget, hdr.as_mut_ptr(), data.as_mut_ptr());
                data[0] = 0; // effective, low word
                data[3] = 0; // effective, high word
                if libc::syscall(libc::SYS_capset, hdr.as_mut_ptr(), data.as_ptr()) != 0 {
                    libc::_exit(40);
                }
            }
            match f.install() {
                Err(dm_runtime::seccomp::SeccompError::Install(e))
                    if e.raw_os_error() == Some(libc::EACCES) =>
                {
                    libc::_exit(31)
                }
                Err(_) => libc::_exit(32),
                Ok(_) => libc::_exit(sys0(SYS_getppid)),
            }
        },
        pid => seccomp_util::wait(pid),
    }
}

#[test]
fn installs_without_no_new_privs_only_while_cap_sys_admin_is_held() {
    if !dm_testkit::require_root("seccomp without no_new_privs") {
        return;
    }
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 9}]
    }));
    assert_eq!(install_without_nnp(&f, false), Outcome::Exited(9));
    // Hence dm-runc must install before dropping capabilities when noNewPrivileges is false.
    assert_eq!(install_without_nnp(&f, true), Outcome::Exited(31));
}
