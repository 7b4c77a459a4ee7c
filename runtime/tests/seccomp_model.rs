//! Differential test: random profiles compiled by dm-runc's seccomp compiler, run on random
//! syscalls by a BPF interpreter, against the semantics written down independently here
//! (libseccomp/runc's as documented in the module). A sample of the programs is also loaded
//! into the kernel to check it accepts them. Deterministic: a fixed-seed PRNG.

mod seccomp_util;

use dm_runtime::seccomp::compile;
use oci_spec::runtime::LinuxSeccomp;
use seccomp_util::{in_child, insns, run_bpf, Outcome, INSTALL_FAILED};
use serde_json::{json, Value};

const X32_BIT: u32 = 0x4000_0000;
const ARCH_X86_64: u32 = 0xc000_003e;
const ARCH_I386: u32 = 0x4000_0003;
const ARCH_AARCH64: u32 = 0xc000_00b7;
const ALLOW: u32 = 0x7fff_0000;
const LOG: u32 = 0x7ffc_0000;
const ERRNO: u32 = 0x0005_0000;
const KILL_PROCESS: u32 = 0x8000_0000;

/// (name, x86_64, x32, i386) numbers from the kernel's syscall tables.
type PoolEntry = (&'static str, Option<u32>, Option<u32>, Option<u32>);
const POOL: &[PoolEntry] = &[
    ("read", Some(0), Some(0), Some(3)),
    ("write", Some(1), Some(1), Some(4)),
    ("close", Some(3), Some(3), Some(6)),
    ("ioctl", Some(16), Some(514), Some(54)),
    ("getpid", Some(39), Some(39), Some(20)),
    ("socket", Some(41), Some(41), Some(359)),
    ("clone", Some(56), Some(56), Some(120)),
    ("getppid", Some(110), Some(110), Some(64)),
    ("openat", Some(257), Some(257), Some(295)),
    ("chown32", None, None, Some(212)),
    ("no_such_syscall", None, None, None),
];
const VALUES: &[u64] = &[0, 1, 5, 0xffff_ffff, 0x1_0000_0000, 0x1_0000_0005, u64::MAX];
const OPS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, s: &'a [T]) -> &'a T {
        &s[self.below(s.len())]
    }
    fn value(&mut self) -> u64 {
        if self.below(4) == 0 {
            self.next()
        } else {
            *self.pick(VALUES)
        }
    }
}

fn random_action(r: &mut Rng, notify_ok: bool) -> Value {
    let mut choices = vec![
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_LOG",
        "SCMP_ACT_TRACE",
    ];
    if notify_ok {
        choices.push("SCMP_ACT_NOTIFY");
    }
    let a = *r.pick(&choices);
    let mut v = json!({"action": a});
    if matches!(a, "SCMP_ACT_ERRNO" | "SCMP_ACT_TRACE") && r.below(2) == 0 {
        v["errnoRet"] = json!(r.below(3) + 1);
    }
    v
}

fn random_profile(r: &mut Rng) -> Value {
    let d = random_action(r, false);
    let mut p = json!({"defaultAction": d["action"], "listenerPath": "/agent"});
    if let Some(e) = d.get("errnoRet") {
        p["defaultErrnoRet"] = e.clone();
    }
    let archs: Vec<&str> = [
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_AARCH64",
    ]
    .into_iter()
    .filter(|_| r.below(2) == 0)
    .collect();
    p["architectures"] = json!(archs);
    let rules: Vec<Value> = (0..1 + r.below(10))
        .map(|_| {
            let mut rule = random_action(r, true);
            let names: Vec<&str> = (0..1 + r.below(3)).map(|_| r.pick(POOL).0).collect();
            rule["names"] = json!(names);
            let args: Vec<Value> = (0..r.below(4))
                .map(|_| {
                    json!({"index": r.below(6), "op": r.pick(OPS), "value": r.value(),
                           "valueTwo": r.value()})
                })
                .collect();
            if !args.is_empty() {
                rule["args"] = json!(args);
            }
            rule
        })
        .collect();
    p["syscalls"] = json!(rules);
    p
}

fn action_value(v: &Value, errno_key: &str) -> u32 {
    let data = v.get(errno_key).and_then(Value::as_u64).unwrap_or(1) as u32;
    match v["action"]
        .as_str()
        .or(v["defaultAction"].as_str())
        .unwrap()
    {
        "SCMP_ACT_ALLOW" => ALLOW,
        "SCMP_ACT_ERRNO" => ERRNO | data,
        "SCMP_ACT_KILL_PROCESS" => KILL_PROCESS,
        "SCMP_ACT_KILL" => 0,
        "SCMP_ACT_TRAP" => 0x0003_0000,
        "SCMP_ACT_LOG" => LOG,
        "SCMP_ACT_TRACE" => 0x7ff0_0000 | data,
        "SCMP_ACT_NOTIFY" => 0x7fc0_0000,
        a => panic!("{a}"),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Abi {
    X86_64,
    X32,
    I386,
}

fn nr_of(name: &str, abi: Abi) -> Option<u32> {
    let (_, a, b, c) = POOL.iter().find(|p| p.0 == name).unwrap();
    match abi {
        Abi::X86_64 => *a,
        Abi::X32 => b.map(|n| n | X32_BIT),
        Abi::I386 => *c,
    }
}

fn cond_holds(c: &Value, args: &[u64; 6], abi: Abi) -> bool {
    let i = c["index"].as_u64().unwrap() as usize;
    let (mut x, mut v, mut v2) = (
        args[i],
        c["value"].as_u64().unwrap(),
        c["valueTwo"].as_u64().unwrap(),
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
        o => panic!("{o}"),
    }
}

/// The documented semantics, straight from the profile.
fn model(p: &Value, arch: u32, nr: u32, args: &[u64; 6]) -> u32 {
    let listed = |a: &str| {
        p["architectures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == a)
    };
    let abi = match arch {
        ARCH_X86_64 if nr & X32_BIT == 0 => Abi::X86_64,
        ARCH_X86_64 if listed("SCMP_ARCH_X32") => Abi::X32,
        ARCH_I386 if listed("SCMP_ARCH_X86") => Abi::I386,
        _ => return KILL_PROCESS,
    };
    let default = action_value(p, "defaultErrnoRet");
    let rules = p["syscalls"].as_array().unwrap();
    let names_of = |r: &Value| -> Vec<u32> {
        r["names"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| nr_of(n.as_str().unwrap(), abi))
            .collect()
    };
    let last = rules.iter().flat_map(names_of).max();
    if default != ALLOW && default != LOG && last.is_some_and(|l| nr > l) {
        return ERRNO | 38;
    }
    let mine: Vec<&Value> = rules
        .iter()
        .filter(|r| names_of(r).contains(&nr) && action_value(r, "errnoRet") != default)
        .collect();
    if let Some(r) = mine.iter().find(|r| r.get("args").is_none()) {
        return action_value(r, "errnoRet");
    }
    for r in mine {
        let conds = r["args"].as_array().unwrap();
        if conds.iter().all(|c| cond_holds(c, args, abi)) {
            return action_value(r, "errnoRet");
        }
    }
    default
}

#[test]
fn compiled_programs_agree_with_the_documented_semantics() {
    let mut r = Rng(0x5eed_cafe_f00d_1234);
    let mut checked = 0;
    for case in 0..400 {
        let p = random_profile(&mut r);
        let spec: LinuxSeccomp = serde_json::from_value(p.clone()).unwrap();
        let f = match compile(&spec) {
            Ok(f) => f,
            // NOTIFY on write is refused by design; nothing else may fail.
            Err(e) => {
                assert!(
                    e.to_string()
                        .contains("SCMP_ACT_NOTIFY cannot be used for write"),
                    "case {case}: {e}"
                );
                continue;
            }
        };
        let prog = insns(&f);
        for _ in 0..300 {
            let arch = *r.pick(&[ARCH_X86_64, ARCH_X86_64, ARCH_I386, ARCH_AARCH64]);
            let abi = if arch == ARCH_I386 {
                Abi::I386
            } else if r.below(4) == 0 {
                Abi::X32
            } else {
                Abi::X86_64
            };
            let nr = match r.below(5) {
                0 => {
                    // Not numbers without a syscall on the ABI (x86_64 in 512..=547, x32 with
                    // an x86_64-only number): for those the filter may answer as the other
                    // ABI would, documented in compile.rs; the kernel runs nothing either way.
                    let mut n = r.below(600) as u32;
                    let x64_only = |n| POOL.iter().any(|p| p.1 == Some(n) && p.2 != Some(n));
                    if (abi == Abi::X86_64 && (512..=547).contains(&n))
                        || (abi == Abi::X32 && x64_only(n))
                    {
                        n = 600;
                    }
                    n | if abi == Abi::X32 { X32_BIT } else { 0 }
                }
                _ => {
                    let name = r.pick(&POOL[..POOL.len() - 1]).0;
                    nr_of(name, abi).unwrap_or(7)
                }
            };
            let args: [u64; 6] = std::array::from_fn(|_| r.value());
            let mut data = [0u32; 16];
            data[0] = nr;
            data[1] = arch;
            for (i, a) in args.iter().enumerate() {
                data[4 + 2 * i] = *a as u32;
                data[5 + 2 * i] = (*a >> 32) as u32;
            }
            let want = model(&p, arch, nr, &args);
            let (got, _) = run_bpf(&prog, &data);
            assert_eq!(
                got, want,
                "case {case}: arch {arch:#x} nr {nr:#x} args {args:x?}\nprofile {p:#}"
            );
            checked += 1;
        }
        // The kernel accepts what we emit (checked on a sample to keep the test fast). The
        // child's exit itself may be filtered, so any end but INSTALL_FAILED is fine.
        if case % 8 == 0 {
            let end = in_child(&f, || 0);
            assert_ne!(
                end,
                Outcome::Exited(INSTALL_FAILED),
                "case {case}: kernel refused\n{p:#}"
            );
        }
    }
    assert!(checked > 50_000);
}

/// The longest rule allowed (32 conditions, each the longest comparison) still compiles to
/// jumps BPF can encode, and evaluates as the model says; one more condition is refused.
#[test]
fn longest_rules_compile_and_one_more_condition_is_refused() {
    let conds = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| {
                json!({"index": i % 6, "op": "SCMP_CMP_MASKED_EQ",
                       "value": 0xff00_0000_00ffu64, "valueTwo": 0})
            })
            .collect()
    };
    let p = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["getpid", "read"], "action": "SCMP_ACT_ERRNO", "args": conds(32)},
            {"names": ["getpid", "read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2,
             "args": conds(32)}
        ]
    });
    let f = compile(&serde_json::from_value(p.clone()).unwrap()).expect("32 conditions compile");
    let prog = insns(&f);
    let mut data = [0u32; 16];
    data[1] = ARCH_X86_64;
    data[0] = 39;
    assert_eq!(run_bpf(&prog, &data).0, model(&p, ARCH_X86_64, 39, &[0; 6]));
    data[4] = 0xff;
    assert_eq!(run_bpf(&prog, &data).0, ALLOW);
    assert_ne!(in_child(&f, || 0), Outcome::Exited(INSTALL_FAILED));

    let mut p = p;
    p["syscalls"][1]["args"] = json!(conds(33));
    let e = compile(&serde_json::from_value(p).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("linux.seccomp.syscalls[1].args: "), "{e}");
}

/// A profile too big for the kernel is refused at compile time, naming linux.seccomp.
#[test]
fn a_program_over_the_kernel_limit_is_refused() {
    let names: Vec<&str> = POOL.iter().map(|p| p.0).collect();
    let rules: Vec<Value> = (0..120)
        .map(|i| {
            json!({"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": 1 + i % 50,
                   "args": [{"index": 0, "op": "SCMP_CMP_GT", "value": i as u64 * 7 + 1}]})
        })
        .collect();
    let p = json!({"defaultAction": "SCMP_ACT_ALLOW",
                   "architectures": ["SCMP_ARCH_X86"], "syscalls": rules});
    let e = compile(&serde_json::from_value(p).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("linux.seccomp: compiles to "), "{e}");
}
