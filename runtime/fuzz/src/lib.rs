//! Shared pieces of dm-runc's fuzz targets: what a compiled seccomp program must satisfy, and
//! a structured `linux.seccomp` generator for libFuzzer's bytes.

use arbitrary::Arbitrary;
use dm_runtime::seccomp::{compile, Filter};
use libc::sock_filter;
use oci_spec::runtime::LinuxSeccomp;
use serde_json::{json, Value};

pub mod devices;
pub mod model;
pub mod mounts;
pub mod resources;

/// `sizeof(struct seccomp_data)`: loads must stay inside it.
const SECCOMP_DATA_LEN: u32 = 64;
/// Largest errno the kernel passes through in SECCOMP_RET_ERRNO data.
const MAX_ERRNO: u32 = 4095;

/// Compiles `s`; an error must render, a program must pass [`check_program`].
pub fn compile_and_check(s: &LinuxSeccomp) {
    match compile(s) {
        Ok(f) => check_filter(&f),
        // Rendering the error is part of the contract: it names the field for the user.
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

fn check_filter(f: &Filter) {
    if let Err(e) = check_program(f.program()) {
        panic!("compiled seccomp program is malformed: {e}");
    }
}

/// The checks the kernel's classic-BPF and seccomp verifiers make on a filter (bpf_check_classic
/// and seccomp_check_filter), restricted to the instructions our compiler may emit.
pub fn check_program(prog: &[sock_filter]) -> Result<(), String> {
    let n = prog.len();
    if n == 0 || n > libc::BPF_MAXINSNS as usize {
        return Err(format!("{n} instructions (1..={})", libc::BPF_MAXINSNS));
    }
    let target = |pc: usize, off: u32| -> Result<(), String> {
        match (pc + 1).checked_add(off as usize) {
            Some(t) if t < n => Ok(()),
            _ => Err(format!(
                "jump at {pc} by {off} leaves the {n}-instruction program"
            )),
        }
    };
    for (pc, i) in prog.iter().enumerate() {
        let code = i.code as u32;
        match code {
            c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                if i.k % 4 != 0 || i.k >= SECCOMP_DATA_LEN {
                    return Err(format!(
                        "load at {pc} of offset {} outside seccomp_data",
                        i.k
                    ));
                }
            }
            c if c == libc::BPF_ALU | libc::BPF_AND | libc::BPF_K => {}
            c if c == libc::BPF_JMP | libc::BPF_JA => target(pc, i.k)?,
            c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K
                || c == libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K
                || c == libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K =>
            {
                target(pc, i.jt as u32)?;
                target(pc, i.jf as u32)?;
            }
            c if c == libc::BPF_RET | libc::BPF_K => check_return(pc, i.k)?,
            _ => return Err(format!("unexpected opcode {code:#x} at {pc}")),
        }
        if code & 0x07 != libc::BPF_JMP && code & 0x07 != libc::BPF_RET && (i.jt | i.jf) != 0 {
            return Err(format!("non-jump at {pc} has jump offsets"));
        }
    }
    let last = prog[n - 1].code as u32;
    if last != libc::BPF_RET | libc::BPF_K {
        return Err(format!("ends in opcode {last:#x}, not a return"));
    }
    Ok(())
}

fn check_return(pc: usize, k: u32) -> Result<(), String> {
    let action = k & libc::SECCOMP_RET_ACTION_FULL;
    let data = k & libc::SECCOMP_RET_DATA;
    let ok = match action {
        libc::SECCOMP_RET_ERRNO | libc::SECCOMP_RET_TRACE => data <= MAX_ERRNO,
        libc::SECCOMP_RET_KILL_PROCESS
        | libc::SECCOMP_RET_KILL_THREAD
        | libc::SECCOMP_RET_TRAP
        | libc::SECCOMP_RET_USER_NOTIF
        | libc::SECCOMP_RET_LOG
        | libc::SECCOMP_RET_ALLOW => data == 0,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "return at {pc} of unknown or malformed action {k:#x}"
        ))
    }
}

/// Syscall names that stress the compiler: ones every ABI has, x32's own numbers, i386-only
/// names, the multiplexers, the calls NOTIFY may not cover, unknown and empty names.
const NAMES: &[&str] = &[
    "read",
    "write",
    "close",
    "ioctl",
    "getpid",
    "getppid",
    "socket",
    "clone",
    "clone3",
    "openat",
    "execve",
    "sendmsg",
    "chown32",
    "socketcall",
    "ipc",
    "rt_sigaction",
    "pwritev2",
    "mount",
    "unshare",
    "keyctl",
    "fchmodat2",
    "no_such_syscall",
    "",
];
const ACTIONS: &[&str] = &[
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_LOG",
    "SCMP_ACT_ALLOW",
];
const OPS: &[&str] = &[
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];
const ARCHES: &[&str] = &[
    "SCMP_ARCH_NATIVE",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_S390X",
];
const FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
];

/// A `linux.seccomp` object drawn field by field, so every input reaches the compiler.
#[derive(Arbitrary, Debug)]
pub struct Profile {
    default_action: u8,
    default_errno: Option<u16>,
    arches: Vec<u8>,
    flags: Vec<u8>,
    listener: bool,
    rules: Vec<Rule>,
    /// Rules naming a run of consecutive syscall numbers: big syscall trees cost few bytes.
    runs: Vec<Run>,
    probes: Vec<Probe>,
}

#[derive(Arbitrary, Debug)]
struct Run {
    first: u16,
    len: u16,
    action: u8,
}

/// A syscall to run the compiled program on.
#[derive(Arbitrary, Debug)]
struct Probe {
    arch: u8,
    /// Index into the profile's names (resolved on the probe's ABI), else a raw number.
    named: Option<u8>,
    raw: u16,
    args: [Value64; 6],
}

#[derive(Arbitrary, Debug)]
struct Rule {
    names: Vec<Name>,
    action: u8,
    errno: Option<u16>,
    args: Vec<Arg>,
}

#[derive(Arbitrary, Debug)]
enum Name {
    Known(u8),
    /// Real syscall numbers are dense: cover the whole table, not just [`NAMES`].
    Number(u16),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
struct Arg {
    index: u8,
    op: u8,
    value: Value64,
    value_two: Option<Value64>,
}

/// Comparison values: mostly the edges of the two 32-bit halves, sometimes anything.
#[derive(Arbitrary, Debug)]
enum Value64 {
    Edge(u8),
    Any(u64),
}

fn pick<'a>(list: &[&'a str], i: u8) -> &'a str {
    list[i as usize % list.len()]
}

impl Value64 {
    fn get(&self) -> u64 {
        const EDGES: &[u64] = &[0, 1, 0xffff_ffff, 0x1_0000_0000, 0x1_0000_0001, u64::MAX];
        match *self {
            Value64::Edge(i) => EDGES[i as usize % EDGES.len()],
            Value64::Any(v) => v,
        }
    }
}

impl Name {
    fn get(&self) -> String {
        match self {
            Name::Known(i) => pick(NAMES, *i).to_string(),
            // Names of x86_64's table in number order; unknown numbers become unknown names.
            Name::Number(n) => syscall_name(*n),
            Name::Raw(s) => s.clone(),
        }
    }
}

fn syscall_name(n: u16) -> String {
    if let Some(s) = syscalls::x86_64::Sysno::new(n as usize) {
        s.name().to_string()
    } else if let Some(s) = syscalls::x86::Sysno::new(n as usize) {
        s.name().to_string()
    } else {
        format!("sys_{n}")
    }
}

impl Profile {
    /// The profile as config.json would carry it.
    pub fn to_json(&self) -> Value {
        // ERRNO/TRACE take an errno; others reject one, so only attach it where it would fit
        // most of the time, letting a few mismatches through for the error paths.
        let errno = |action: &str, e: Option<u16>| match (action, e) {
            ("SCMP_ACT_ERRNO" | "SCMP_ACT_TRACE", Some(e)) => Some(e as u32 % 5000),
            (_, Some(e)) if e % 16 == 0 => Some(e as u32),
            _ => None,
        };
        let default = pick(ACTIONS, self.default_action);
        let mut v = json!({ "defaultAction": default });
        if let Some(e) = errno(default, self.default_errno) {
            v["defaultErrnoRet"] = json!(e);
        }
        v["architectures"] = self.arches.iter().map(|&a| pick(ARCHES, a)).collect();
        if !self.flags.is_empty() {
            v["flags"] = self.flags.iter().map(|&f| pick(FLAGS, f)).collect();
        }
        if self.listener {
            v["listenerPath"] = json!("/run/agent.sock");
        }
        // A few runs at most: name resolution is slow under coverage instrumentation, and
        // four runs of up to 300 already make trees far deeper than a conditional jump reaches.
        let runs = self.runs.iter().take(4).map(|r| {
            let first = r.first % 600;
            let names: Vec<String> = (first..first + r.len % 300).map(syscall_name).collect();
            json!({"names": names, "action": pick(ACTIONS, r.action)})
        });
        let rules: Vec<Value> = self
            .rules
            .iter()
            .map(|r| {
                let action = pick(ACTIONS, r.action);
                let mut rule = json!({
                    "names": r.names.iter().map(Name::get).collect::<Vec<_>>(),
                    "action": action,
                });
                if let Some(e) = errno(action, r.errno) {
                    rule["errnoRet"] = json!(e);
                }
                if !r.args.is_empty() {
                    rule["args"] = r
                        .args
                        .iter()
                        .map(|a| {
                            let mut arg = json!({
                                "index": a.index % 8,
                                "op": pick(OPS, a.op),
                                "value": a.value.get(),
                            });
                            if let Some(v2) = &a.value_two {
                                arg["valueTwo"] = json!(v2.get());
                            }
                            arg
                        })
                        .collect();
                }
                rule
            })
            .chain(runs)
            .collect();
        v["syscalls"] = json!(rules);
        v
    }
}

impl Profile {
    /// Compiles the profile; when it compiles, checks the program's structure and that it gives
    /// every probe the verdict [`model::Model`] derives from the profile.
    pub fn check(&self) {
        let p = self.to_json();
        // Everything the generator makes parses (indexes above 5 and odd errnos included).
        let s: LinuxSeccomp = serde_json::from_value(p.clone()).expect("generated profile parses");
        let f = match compile(&s) {
            Ok(f) => f,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                return;
            }
        };
        check_filter(&f);
        let names: Vec<String> = p["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["names"].as_array().unwrap())
            .map(|n| n.as_str().unwrap().to_string())
            .collect();
        let model = model::Model::new(&p);
        for probe in &self.probes {
            use model::Abi;
            let (arch, abi) = match probe.arch % 4 {
                0 => (model::ARCH_X86_64, Abi::X86_64),
                1 => (model::ARCH_X86_64, Abi::X32),
                2 => (model::ARCH_I386, Abi::I386),
                _ => (0xc000_00b7, Abi::X86_64), // aarch64: never ours
            };
            let named = probe
                .named
                .filter(|_| !names.is_empty())
                .and_then(|i| model::nr_of(&names[i as usize % names.len()], abi));
            let nr = named.unwrap_or_else(|| {
                probe.raw as u32 | if abi == Abi::X32 { model::X32_BIT } else { 0 }
            });
            if model::abi_of(&p, arch, nr) == Some(abi) && model::shared_tree_gap(abi, nr) {
                continue;
            }
            let args = probe.args.each_ref().map(Value64::get);
            let want = model.verdict(arch, nr, &args);
            let got = model::run(f.program(), &model::seccomp_data(arch, nr, &args));
            assert_eq!(
                got, want,
                "arch {arch:#x} nr {nr:#x} args {args:x?}: program returns {got:#x}, profile says {want:#x}\nprofile {p}"
            );
        }
    }
}
