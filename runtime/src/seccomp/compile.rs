//! OCI `linux.seccomp` → one seccomp BPF program (see the module docs for the layout and why).

use std::collections::BTreeMap;

use libc::sock_filter;
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator};

use super::arch::{Abi, X32_SYSCALL_BIT};
use super::bpf::{Asm, Cond, Label, Target};
use super::{Filter, SeccompError};

/// Most syscalls a binary-search leaf tests linearly. Measured on docker's profile
/// (`seccomp_cost`): 12 gives 970 instructions and 17.8 run per allowed syscall, 8 gives 1164
/// and 16.6. Size wins: install time grows with it, while the kernel's seccomp action cache
/// (5.11+) skips the filter altogether for syscalls it allows whatever their arguments.
const LEAF: usize = 12;
/// Most conditions in one rule: keeps every jump to the next rule within BPF's 255.
const MAX_CONDS: usize = 32;
/// Largest errno the kernel passes through (MAX_ERRNO).
const MAX_ERRNO: u32 = 4095;
/// What a syscall from an ABI the profile does not cover gets (libseccomp's default bad-arch
/// action is to kill; the whole process rather than one thread, so nothing half-dead goes on).
const BAD_ARCH: u32 = libc::SECCOMP_RET_KILL_PROCESS;

/// Byte offsets in `struct seccomp_data` (x86 is little-endian: low word first).
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
fn off_arg_lo(i: u8) -> u32 {
    16 + 8 * i as u32
}

/// One argument comparison, already validated.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ArgCmp {
    index: u8,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: u64,
}

/// Rules with argument conditions (ANDed within a rule), tried in profile order.
#[derive(Clone, Debug, PartialEq, Eq)]
struct CondRule {
    conds: Vec<ArgCmp>,
    action: u32,
}

/// Everything the profile says about one syscall number on one ABI.
#[derive(Default, Debug)]
struct SyscallRules {
    /// An unconditional rule overrides every conditional one, as in libseccomp.
    unconditional: Option<u32>,
    conditional: Vec<CondRule>,
}

/// Everything the profile says for one ABI.
#[derive(Default, Debug)]
struct AbiRules {
    syscalls: BTreeMap<u32, SyscallRules>,
    /// Highest syscall number the profile names on this ABI. Syscalls above it are newer than
    /// the profile: they get ENOSYS instead of a blocking default action, so that libcs fall
    /// back to the older calls the profile does know (runc's "-ENOSYS stub").
    last_named: Option<u32>,
}

/// What a syscall-number leaf jumps to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dest {
    Ret(u32),
    Body(Label),
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> SeccompError {
    SeccompError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Maps an OCI action (+ errnoRet) to a `SECCOMP_RET_*` value; `field` names the action's
/// object for errors (e.g. `linux.seccomp.syscalls[3]`), `errno_key` its errno field name.
fn action(
    a: LinuxSeccompAction,
    errno: Option<u32>,
    field: &str,
    action_key: &str,
    errno_key: &str,
) -> Result<u32, SeccompError> {
    use LinuxSeccompAction::*;
    let data = match (a, errno) {
        (ScmpActErrno | ScmpActTrace, Some(e)) if e > MAX_ERRNO => {
            return Err(invalid(
                format!("{field}.{errno_key}"),
                format!("{e} is out of range (0..={MAX_ERRNO})"),
            ))
        }
        (ScmpActErrno | ScmpActTrace, e) => e.unwrap_or(libc::EPERM as u32),
        (_, Some(_)) => {
            return Err(invalid(
                format!("{field}.{errno_key}"),
                format!("only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno, not {a} (in {field}.{action_key})"),
            ))
        }
        (_, None) => 0,
    };
    Ok(match a {
        ScmpActKill | ScmpActKillThread => libc::SECCOMP_RET_KILL_THREAD,
        ScmpActKillProcess => libc::SECCOMP_RET_KILL_PROCESS,
        ScmpActTrap => libc::SECCOMP_RET_TRAP,
        ScmpActErrno => libc::SECCOMP_RET_ERRNO | data,
        ScmpActTrace => libc::SECCOMP_RET_TRACE | data,
        ScmpActNotify => libc::SECCOMP_RET_USER_NOTIF,
        ScmpActLog => libc::SECCOMP_RET_LOG,
        ScmpActAllow => libc::SECCOMP_RET_ALLOW,
    })
}

fn arg_cmp(a: &LinuxSeccompArg, field: &str) -> Result<ArgCmp, SeccompError> {
    if a.index() > 5 {
        return Err(invalid(
            format!("{field}.index"),
            format!("{} is not a syscall argument index (0..=5)", a.index()),
        ));
    }
    Ok(ArgCmp {
        index: a.index() as u8,
        op: a.op(),
        value: a.value(),
        value_two: a.value_two().unwrap_or(0),
    })
}

/// Compiles `linux.seccomp` for this host (x86_64 with its i386 and x32 ABIs).
pub fn compile(s: &LinuxSeccomp) -> Result<Filter, SeccompError> {
    const F: &str = "linux.seccomp";
    if s.default_action() == LinuxSeccompAction::ScmpActNotify {
        return Err(invalid(
            format!("{F}.defaultAction"),
            "SCMP_ACT_NOTIFY cannot be the default action: the runtime's own calls before execve would wait on the agent",
        ));
    }
    let default = action(
        s.default_action(),
        s.default_errno_ret(),
        F,
        "defaultAction",
        "defaultErrnoRet",
    )?;

    let flags = super::install::flags(s.flags().as_deref().unwrap_or_default())?;

    // The native ABI is always filtered (libseccomp's context starts with it); others only when
    // listed. Foreign CPUs' arches are accepted and never match on this host.
    let mut abis = vec![Abi::X86_64];
    for a in s.architectures().iter().flatten() {
        use oci_spec::runtime::Arch::*;
        let abi = match a {
            ScmpArchX86 => Abi::I386,
            ScmpArchX32 => Abi::X32,
            _ => continue,
        };
        if !abis.contains(&abi) {
            abis.push(abi);
        }
    }

    let mut per_abi: BTreeMap<Abi, AbiRules> =
        abis.iter().map(|&a| (a, AbiRules::default())).collect();
    let mut skipped = Vec::new();
    let mut needs_notify = false;

    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let field = format!("{F}.syscalls[{i}]");
        let act = action(sc.action(), sc.errno_ret(), &field, "action", "errnoRet")?;
        let conds = sc
            .args()
            .iter()
            .flatten()
            .enumerate()
            .map(|(j, a)| arg_cmp(a, &format!("{field}.args[{j}]")))
            .collect::<Result<Vec<_>, _>>()?;
        if conds.len() > MAX_CONDS {
            return Err(invalid(
                format!("{field}.args"),
                format!(
                    "{} conditions in one rule; at most {MAX_CONDS}",
                    conds.len()
                ),
            ));
        }
        for (j, name) in sc.names().iter().enumerate() {
            if name.is_empty() {
                return Err(invalid(format!("{field}.names[{j}]"), "empty syscall name"));
            }
            if act == libc::SECCOMP_RET_USER_NOTIF && matches!(name.as_str(), "write" | "sendmsg") {
                return Err(invalid(
                    format!("{field}.names[{j}]"),
                    format!("SCMP_ACT_NOTIFY cannot be used for {name}: the runtime needs it to hand the notify fd over"),
                ));
            }
        }
        // A rule with the default action changes nothing; libseccomp refuses it and runc drops
        // it, which also keeps it from overriding other rules for the same syscall. Its names
        // still tell how new the profile is (see `AbiRules::last_named`).
        let effective = act != default;
        needs_notify |= act == libc::SECCOMP_RET_USER_NOTIF;
        for name in sc.names() {
            let mut known = false;
            for (&abi, rules) in per_abi.iter_mut() {
                let Some(nr) = abi.resolve(name) else {
                    continue;
                };
                known = true;
                rules.last_named = rules.last_named.max(Some(nr));
                if !effective {
                    continue;
                }
                let r = rules.syscalls.entry(nr).or_default();
                if conds.is_empty() {
                    r.unconditional.get_or_insert(act);
                } else {
                    let rule = CondRule {
                        conds: conds.clone(),
                        action: act,
                    };
                    if !r.conditional.contains(&rule) {
                        r.conditional.push(rule);
                    }
                }
            }
            if !known && !skipped.contains(name) {
                skipped.push(name.clone());
            }
        }
    }
    if needs_notify && s.listener_path().is_none() {
        return Err(invalid(
            format!("{F}.listenerPath"),
            "required when a rule uses SCMP_ACT_NOTIFY",
        ));
    }

    let program = emit(&per_abi, default)?;
    if program.len() > libc::BPF_MAXINSNS as usize {
        return Err(invalid(
            F,
            format!(
                "compiles to {} BPF instructions; the kernel takes at most {}",
                program.len(),
                libc::BPF_MAXINSNS
            ),
        ));
    }
    Ok(Filter {
        program,
        flags,
        needs_notify,
        skipped,
    })
}

/// Lays out: arch dispatch, then per arch a binary search over syscall numbers whose leaves
/// return directly (unconditional rules) or jump to a per-syscall body of argument checks.
///
/// x32 shares x86_64's section: its numbers are x86_64's with bit 30 set (plus 512..=547 for
/// its own entries, which x86_64 does not use), so after its own ENOSYS check the bit is
/// masked off and the same tree decides. That halves the program docker's profile compiles to,
/// and install time follows program size. The only numbers this answers differently from
/// separate sections are ones the kernel has no syscall for on that ABI (an x32 call with an
/// x86_64-only number, an x86_64 call in 512..=547): they get the other ABI's verdict and then
/// fail with ENOSYS in the kernel, never running anything.
fn emit(per_abi: &BTreeMap<Abi, AbiRules>, default: u32) -> Result<Vec<sock_filter>, SeccompError> {
    // Only a default that blocks the call can hide a newer syscall from a libc's fallback.
    let enosys_stub = !matches!(
        default & libc::SECCOMP_RET_ACTION_FULL,
        libc::SECCOMP_RET_ALLOW | libc::SECCOMP_RET_LOG
    );
    let enosys = |asm: &mut Asm, last: Option<u32>| {
        if let (true, Some(last)) = (enosys_stub, last) {
            let known = asm.label();
            asm.jmp(Cond::Gt, last, Target::Next, Target::To(known));
            asm.ret(libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
            asm.bind(known);
        }
    };
    let mut asm = Asm::default();

    let x64 = asm.label();
    let i386 = asm.label();
    asm.load(OFF_ARCH);
    let skip = asm.label();
    let arch = Abi::X86_64.audit_arch();
    asm.jmp(Cond::Eq, arch, Target::Next, Target::To(skip));
    asm.ja(x64);
    asm.bind(skip);
    if per_abi.contains_key(&Abi::I386) {
        let skip = asm.label();
        let arch = Abi::I386.audit_arch();
        asm.jmp(Cond::Eq, arch, Target::Next, Target::To(skip));
        asm.ja(i386);
        asm.bind(skip);
    }
    asm.ret(BAD_ARCH);

    // x86_64 and x32 share the audit arch; bit 30 of the number tells them apart.
    asm.bind(x64);
    asm.load(OFF_NR);
    let native = asm.label();
    let tree_start = asm.label();
    asm.jmp(Cond::Ge, X32_SYSCALL_BIT, Target::Next, Target::To(native));
    match per_abi.get(&Abi::X32) {
        Some(x32) => {
            enosys(&mut asm, x32.last_named);
            asm.and(!X32_SYSCALL_BIT);
            asm.ja(tree_start);
        }
        None => asm.ret(BAD_ARCH),
    }
    asm.bind(native);
    let x86_64 = &per_abi[&Abi::X86_64];
    enosys(&mut asm, x86_64.last_named);
    asm.bind(tree_start);
    let mut merged: BTreeMap<u32, &SyscallRules> =
        x86_64.syscalls.iter().map(|(&nr, r)| (nr, r)).collect();
    if let Some(x32) = per_abi.get(&Abi::X32) {
        for (&nr, r) in &x32.syscalls {
            // A shared number means the same syscall name, hence the same rules.
            merged.entry(nr & !X32_SYSCALL_BIT).or_insert(r);
        }
    }
    section(&mut asm, merged, default, false);

    if let Some(rules) = per_abi.get(&Abi::I386) {
        asm.bind(i386);
        asm.load(OFF_NR);
        enosys(&mut asm, rules.last_named);
        let rules = rules.syscalls.iter().map(|(&nr, r)| (nr, r)).collect();
        section(&mut asm, rules, default, Abi::I386.args_are_32bit());
    }
    asm.finish().map_err(|e| {
        invalid(
            "linux.seccomp",
            format!("internal: BPF jump out of range at {}", e.at),
        )
    })
}

/// One arch's syscall tree followed by the argument-check bodies it jumps to.
fn section(asm: &mut Asm, rules: BTreeMap<u32, &SyscallRules>, default: u32, args32: bool) {
    let mut bodies: Vec<(Label, &[CondRule])> = Vec::new();
    let entries: Vec<(u32, Dest)> = rules
        .iter()
        .map(|(&nr, r)| {
            let dest = match r.unconditional {
                Some(act) => Dest::Ret(act),
                None => {
                    let l = asm.label();
                    bodies.push((l, &r.conditional));
                    Dest::Body(l)
                }
            };
            (nr, dest)
        })
        .collect();
    tree(asm, &entries, default);
    for (label, rules) in bodies {
        asm.bind(label);
        body(asm, rules, default, args32);
    }
}

/// Binary search on the syscall number held in A.
fn tree(asm: &mut Asm, entries: &[(u32, Dest)], default: u32) {
    let start = asm.len();
    tree_at(asm, entries, default);
    debug_assert_eq!(
        asm.len() - start,
        tree_len(entries),
        "tree_len out of step with tree"
    );
}

fn tree_at(asm: &mut Asm, entries: &[(u32, Dest)], default: u32) {
    if entries.len() <= LEAF {
        let mut slots: Vec<(Dest, Label)> = Vec::new();
        for &(nr, dest) in entries {
            let l = match slots.iter().find(|(d, _)| *d == dest) {
                Some(&(_, l)) => l,
                None => {
                    let l = asm.label();
                    slots.push((dest, l));
                    l
                }
            };
            asm.jmp(Cond::Eq, nr, Target::To(l), Target::Next);
        }
        asm.ret(default);
        for (dest, l) in slots {
            asm.bind(l);
            match dest {
                Dest::Ret(k) => asm.ret(k),
                Dest::Body(b) => asm.ja(b),
            }
        }
        return;
    }
    let (left_half, right_half) = entries.split_at(entries.len() / 2);
    let right = asm.label();
    if tree_len(left_half) <= 255 {
        asm.jmp(Cond::Ge, right_half[0].0, Target::To(right), Target::Next);
    } else {
        let left = asm.label();
        asm.jmp(Cond::Ge, right_half[0].0, Target::Next, Target::To(left));
        asm.ja(right);
        asm.bind(left);
    }
    tree_at(asm, left_half, default);
    asm.bind(right);
    tree_at(asm, right_half, default);
}

/// Instructions `tree` emits for `entries`, so a node can tell whether a conditional jump
/// reaches past its left subtree (saving a `ja` per level on most paths).
fn tree_len(entries: &[(u32, Dest)]) -> usize {
    if entries.len() <= LEAF {
        let distinct = entries
            .iter()
            .enumerate()
            .filter(|(i, e)| !entries[..*i].iter().any(|p| p.1 == e.1))
            .count();
        return entries.len() + 1 + distinct;
    }
    let (l, r) = entries.split_at(entries.len() / 2);
    let ll = tree_len(l);
    ll + tree_len(r) + if ll <= 255 { 1 } else { 2 }
}

/// Conditional rules of one syscall, first match wins, else the default action.
fn body(asm: &mut Asm, rules: &[CondRule], default: u32, args32: bool) {
    for rule in rules {
        let next = asm.label();
        for c in &rule.conds {
            cmp(asm, c, next, args32);
        }
        asm.ret(rule.action);
        asm.bind(next);
    }
    asm.ret(default);
}

/// Falls through when `c` holds, jumps to `fail` otherwise. 64-bit comparisons are done on the
/// high word first, then the low word; 32-bit ABIs compare the low word only, like libseccomp.
fn cmp(asm: &mut Asm, c: &ArgCmp, fail: Label, args32: bool) {
    use LinuxSeccompOperator::*;
    let lo_off = off_arg_lo(c.index);
    let hi_off = lo_off + 4;
    let (v_hi, v_lo) = ((c.value >> 32) as u32, c.value as u32);
    let f = Target::To(fail);
    let ok = asm.label();
    let pass = Target::To(ok);
    match c.op {
        ScmpCmpEq | ScmpCmpNe => {
            // EQ: all words equal. NE: some word differs.
            let (on_eq_hi, on_ne_hi) = match c.op {
                ScmpCmpEq => (Target::Next, f),
                _ => (Target::Next, pass),
            };
            if !args32 {
                asm.load(hi_off);
                asm.jmp(Cond::Eq, v_hi, on_eq_hi, on_ne_hi);
            }
            asm.load(lo_off);
            match c.op {
                ScmpCmpEq => asm.jmp(Cond::Eq, v_lo, Target::Next, f),
                _ => asm.jmp(Cond::Eq, v_lo, f, Target::Next),
            }
        }
        ScmpCmpMaskedEq => {
            let (m_hi, m_lo) = ((c.value >> 32) as u32, c.value as u32);
            let (d_hi, d_lo) = ((c.value_two >> 32) as u32, c.value_two as u32);
            if !args32 {
                asm.load(hi_off);
                asm.and(m_hi);
                asm.jmp(Cond::Eq, d_hi, Target::Next, f);
            }
            asm.load(lo_off);
            asm.and(m_lo);
            asm.jmp(Cond::Eq, d_lo, Target::Next, f);
        }
        ScmpCmpGt | ScmpCmpGe => {
            // hi > v_hi: pass; hi == v_hi: decide on lo; hi < v_hi: fail.
            if !args32 {
                asm.load(hi_off);
                asm.jmp(Cond::Gt, v_hi, pass, Target::Next);
                asm.jmp(Cond::Eq, v_hi, Target::Next, f);
            }
            asm.load(lo_off);
            let cond = if c.op == ScmpCmpGt {
                Cond::Gt
            } else {
                Cond::Ge
            };
            asm.jmp(cond, v_lo, Target::Next, f);
        }
        ScmpCmpLt | ScmpCmpLe => {
            // hi > v_hi: fail; hi == v_hi: decide on lo; hi < v_hi: pass.
            if !args32 {
                asm.load(hi_off);
                asm.jmp(Cond::Gt, v_hi, f, Target::Next);
                asm.jmp(Cond::Eq, v_hi, Target::Next, pass);
            }
            asm.load(lo_off);
            // LT: lo >= v fails. LE: lo > v fails.
            let cond = if c.op == ScmpCmpLt {
                Cond::Ge
            } else {
                Cond::Gt
            };
            asm.jmp(cond, v_lo, f, Target::Next);
        }
    }
    asm.bind(ok);
}
