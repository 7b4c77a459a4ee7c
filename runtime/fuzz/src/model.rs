//! The verdict a profile gives a syscall, computed straight from the profile's JSON as the
//! seccomp module documents it (runc 1.1 + libseccomp semantics), plus a classic-BPF
//! interpreter, so the fuzzer can compare the compiled program with the documented meaning.

use serde_json::Value;

pub const ARCH_X86_64: u32 = 0xc000_003e;
pub const ARCH_I386: u32 = 0x4000_0003;
pub const X32_BIT: u32 = 0x4000_0000;
const ALLOW: u32 = 0x7fff_0000;
const LOG: u32 = 0x7ffc_0000;
const ERRNO: u32 = 0x0005_0000;
const KILL_PROCESS: u32 = 0x8000_0000;
const ENOSYS: u32 = 38;

/// One ABI of an x86_64 kernel.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Abi {
    X86_64,
    X32,
    I386,
}

/// x32's own entries (arch/x86/entry/syscalls/syscall_64.tbl, 512..=547); every other x32
/// syscall is the x86_64 number with the x32 bit.
const X32_OWN: &[&str] = &[
    "rt_sigaction",
    "rt_sigreturn",
    "ioctl",
    "readv",
    "writev",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "execve",
    "ptrace",
    "rt_sigpending",
    "rt_sigtimedwait",
    "rt_sigqueueinfo",
    "sigaltstack",
    "timer_create",
    "mq_notify",
    "kexec_load",
    "waitid",
    "set_robust_list",
    "get_robust_list",
    "vmsplice",
    "move_pages",
    "preadv",
    "pwritev",
    "rt_tgsigqueueinfo",
    "recvmmsg",
    "sendmmsg",
    "process_vm_readv",
    "process_vm_writev",
    "setsockopt",
    "getsockopt",
    "io_setup",
    "io_submit",
    "execveat",
    "preadv2",
    "pwritev2",
];

/// `seccomp_data.nr` for `name` on `abi`, if the ABI has it.
pub fn nr_of(name: &str, abi: Abi) -> Option<u32> {
    let x64 = || {
        name.parse::<syscalls::x86_64::Sysno>()
            .ok()
            .map(|s| s.id() as u32)
    };
    match abi {
        Abi::X86_64 => x64(),
        Abi::I386 => name
            .parse::<syscalls::x86::Sysno>()
            .ok()
            .map(|s| s.id() as u32),
        Abi::X32 => match X32_OWN.iter().position(|n| *n == name) {
            Some(i) => Some((512 + i as u32) | X32_BIT),
            None => x64().map(|n| n | X32_BIT),
        },
    }
}

/// Whether the kernel has no syscall at `nr` on `abi` although the other half of the shared
/// x86_64/x32 tree does: the compiler may answer such numbers as the other ABI would (they fail
/// with ENOSYS in the kernel whatever the filter says), so they are not compared.
pub fn shared_tree_gap(abi: Abi, nr: u32) -> bool {
    match abi {
        Abi::X86_64 => (512..=547).contains(&nr),
        Abi::X32 => X32_OWN
            .iter()
            .any(|n| nr_of(n, Abi::X86_64) == Some(nr & !X32_BIT)),
        Abi::I386 => false,
    }
}

fn action_value(action: &str, errno: Option<u64>) -> u32 {
    let data = errno.unwrap_or(1) as u32;
    match action {
        "SCMP_ACT_ALLOW" => ALLOW,
        "SCMP_ACT_ERRNO" => ERRNO | data,
        "SCMP_ACT_KILL_PROCESS" => KILL_PROCESS,
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => 0,
        "SCMP_ACT_TRAP" => 0x0003_0000,
        "SCMP_ACT_LOG" => LOG,
        "SCMP_ACT_TRACE" => 0x7ff0_0000 | data,
        "SCMP_ACT_NOTIFY" => 0x7fc0_0000,
        a => panic!("model: unknown action {a}"),
    }
}

fn rule_action(r: &Value) -> u32 {
    action_value(r["action"].as_str().unwrap(), r["errnoRet"].as_u64())
}

fn cond_holds(c: &Value, args: &[u64; 6], abi: Abi) -> bool {
    let i = c["index"].as_u64().unwrap() as usize;
    let (mut x, mut v, mut v2) = (
        args[i],
        c["value"].as_u64().unwrap(),
        c["valueTwo"].as_u64().unwrap_or(0),
    );
    if abi == Abi::I386 {
        (x, v, v2) = (x as u32 as u64, v as u32 as u64, v2 as u32 as u64);
    }
    match c["op"].as_str().unwrap() {
        "SCMP_CMP_EQ" => x == v,
        "SCMP_CMP_NE" => x != v,
        "SCMP_CMP_LT" => x < v,
        "SCMP_CMP_LE" => x <= v,
        "SCMP_CMP_GE" => x >= v,
        "SCMP_CMP_GT" => x > v,
        "SCMP_CMP_MASKED_EQ" => x & v == v2,
        o => panic!("model: unknown op {o}"),
    }
}

/// The ABI a call with this arch and number belongs to, `None` if the profile does not cover it.
pub fn abi_of(p: &Value, arch: u32, nr: u32) -> Option<Abi> {
    let listed = |a: &str| {
        p["architectures"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x == a))
    };
    match arch {
        ARCH_X86_64 if nr & X32_BIT == 0 => Some(Abi::X86_64),
        ARCH_X86_64 if listed("SCMP_ARCH_X32") => Some(Abi::X32),
        ARCH_I386 if listed("SCMP_ARCH_X86") => Some(Abi::I386),
        _ => None,
    }
}

/// A profile with its names resolved once per ABI (resolving per probe made the fuzzer crawl).
pub struct Model<'a> {
    p: &'a Value,
    /// Per ABI (x86_64, x32, i386): each rule's syscall numbers, and the newest one named.
    resolved: [(Vec<Vec<u32>>, Option<u32>); 3],
}

fn slot(abi: Abi) -> usize {
    match abi {
        Abi::X86_64 => 0,
        Abi::X32 => 1,
        Abi::I386 => 2,
    }
}

impl<'a> Model<'a> {
    /// Resolves `p` (a profile the compiler accepted).
    pub fn new(p: &'a Value) -> Self {
        let empty = Vec::new();
        let rules = p["syscalls"].as_array().unwrap_or(&empty);
        let per = |abi: Abi| {
            let nrs: Vec<Vec<u32>> = rules
                .iter()
                .map(|r| {
                    r["names"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|n| nr_of(n.as_str().unwrap(), abi))
                        .collect()
                })
                .collect();
            let newest = nrs.iter().flatten().copied().max();
            (nrs, newest)
        };
        Model {
            p,
            resolved: [per(Abi::X86_64), per(Abi::X32), per(Abi::I386)],
        }
    }

    /// The documented verdict for one syscall.
    pub fn verdict(&self, arch: u32, nr: u32, args: &[u64; 6]) -> u32 {
        let p = self.p;
        let Some(abi) = abi_of(p, arch, nr) else {
            return KILL_PROCESS;
        };
        let default = action_value(
            p["defaultAction"].as_str().unwrap(),
            p["defaultErrnoRet"].as_u64(),
        );
        let (nrs, newest) = &self.resolved[slot(abi)];
        if default != ALLOW && default != LOG && newest.is_some_and(|l| nr > l) {
            return ERRNO | ENOSYS;
        }
        let empty = Vec::new();
        let rules = p["syscalls"].as_array().unwrap_or(&empty);
        let mine: Vec<&Value> = rules
            .iter()
            .zip(nrs)
            .filter(|(r, n)| n.contains(&nr) && rule_action(r) != default)
            .map(|(r, _)| r)
            .collect();
        let unconditional = |r: &&&Value| r["args"].as_array().is_none_or(|a| a.is_empty());
        if let Some(r) = mine.iter().find(unconditional) {
            return rule_action(r);
        }
        for r in mine {
            if r["args"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| cond_holds(c, args, abi))
            {
                return rule_action(r);
            }
        }
        default
    }
}

/// `struct seccomp_data` as 16 words (nr, arch, ip, six args low word first).
pub fn seccomp_data(arch: u32, nr: u32, args: &[u64; 6]) -> [u32; 16] {
    let mut d = [0u32; 16];
    d[0] = nr;
    d[1] = arch;
    for (i, a) in args.iter().enumerate() {
        d[4 + 2 * i] = *a as u32;
        d[5 + 2 * i] = (*a >> 32) as u32;
    }
    d
}

/// Runs a program that passed `check_program` on `data`; returns what it returns.
pub fn run(prog: &[libc::sock_filter], data: &[u32; 16]) -> u32 {
    let (mut pc, mut a) = (0usize, 0u32);
    loop {
        let i = prog[pc];
        pc += 1;
        let k = i.k;
        let cond = |c: bool| if c { i.jt as usize } else { i.jf as usize };
        match i.code as u32 {
            0x20 => a = data[k as usize / 4],
            0x54 => a &= k,
            0x05 => pc += k as usize,
            0x15 => pc += cond(a == k),
            0x25 => pc += cond(a > k),
            0x35 => pc += cond(a >= k),
            0x06 => return k,
            c => panic!("opcode {c:#x} passed the checks but is not modelled"),
        }
    }
}
