//! `linux.resources` → cgroup files (dm-cgroups' v1 and v2 drivers over a recording fake
//! tree): file names stay in the cgroup directory, values are well-formed and in the kernel's
//! documented ranges, conversions are monotonic, and refusals name a field that was given.

use arbitrary::Arbitrary;
use dm_cgroups::sys::CgroupFs;
use dm_cgroups::{v2, Error, V1Dir};
use oci_spec::runtime::LinuxResources;
use serde_json::{json, Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

const EDGES: &[i64] = &[
    -2,
    -1,
    0,
    1,
    2,
    9,
    10,
    100,
    101,
    999,
    1000,
    1001,
    4095,
    4096,
    10_000,
    262_144,
    262_145,
    1_000_000,
    1_000_001,
    (1 << 20) - 1,
    1 << 20,
    1 << 30,
    u32::MAX as i64,
    4 * 1024 * 1024,
    4 * 1024 * 1024 + 1,
    (1 << 43) - 1,
    1 << 43,
    (1 << 44) - 1,
    1 << 44,
    i64::MAX,
    i64::MIN,
];

/// A number near a documented boundary, or anything.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Num {
    /// `EDGES[n]`.
    Edge(u8),
    /// Anything.
    Any(i64),
}

impl Num {
    fn i(self) -> i64 {
        match self {
            Num::Edge(n) => EDGES[n as usize % EDGES.len()],
            Num::Any(v) => v,
        }
    }
}

const STRINGS: &[&str] = &[
    "",
    "0",
    "0-3",
    "0-3,5",
    "3-1",
    "0,\n1",
    " 0",
    "2MB",
    "1GB",
    "64KB",
    "2M",
    "memory.high",
    "memory.max",
    "cpu.weight",
    "io.max",
    "pids.max",
    "cgroup.procs",
    "../x",
    "a/b",
    ".x",
    "memory",
    "max",
    "1\nmax",
    "eth0",
    "eth 0",
    "a:b",
    "rwm",
    "rw",
    "x",
    "hugetlb.2MB.max",
    "mlx5_0",
    "hca_handle=1",
];

/// A string from a list of interesting ones, or anything.
#[derive(Arbitrary, Debug, Clone)]
pub enum Str {
    /// `STRINGS[n]`.
    Pick(u8),
    /// Anything.
    Any(String),
}

impl Str {
    fn s(&self) -> String {
        match self {
            Str::Pick(n) => STRINGS[*n as usize % STRINGS.len()].to_string(),
            Str::Any(s) => s.clone(),
        }
    }
}

/// `linux.resources.memory`.
#[derive(Arbitrary, Debug)]
pub struct Memory {
    limit: Option<Num>,
    reservation: Option<Num>,
    swap: Option<Num>,
    kernel_tcp: Option<Num>,
    swappiness: Option<Num>,
    disable_oom_killer: Option<bool>,
}

/// `linux.resources.cpu`.
#[derive(Arbitrary, Debug)]
pub struct Cpu {
    shares: Option<Num>,
    quota: Option<Num>,
    burst: Option<Num>,
    period: Option<Num>,
    realtime_runtime: Option<Num>,
    realtime_period: Option<Num>,
    cpus: Option<Str>,
    mems: Option<Str>,
    idle: Option<Num>,
}

/// A device-numbered entry (weight or throttle).
#[derive(Arbitrary, Debug)]
pub struct DevEntry {
    major: Num,
    minor: Num,
    a: Option<Num>,
    b: Option<Num>,
}

/// `linux.resources.blockIO`.
#[derive(Arbitrary, Debug)]
pub struct BlockIo {
    weight: Option<Num>,
    leaf_weight: Option<Num>,
    weight_device: Vec<DevEntry>,
    throttles: [Vec<DevEntry>; 4],
}

/// A `linux.resources.devices[]` rule.
#[derive(Arbitrary, Debug)]
pub struct DevRule {
    allow: bool,
    typ: Option<u8>,
    major: Option<Num>,
    minor: Option<Num>,
    access: Option<Str>,
}

/// The whole `linux.resources`, plus the state of the fake cgroup it is applied to.
#[derive(Arbitrary, Debug)]
pub struct Case {
    v2: bool,
    memory: Option<Memory>,
    cpu: Option<Cpu>,
    pids: Option<Num>,
    block_io: Option<BlockIo>,
    hugepages: Vec<(Str, Num)>,
    unified: Vec<(Str, Str)>,
    rdma: Vec<(Str, Option<u32>, Option<u32>)>,
    class_id: Option<u32>,
    priorities: Vec<(Str, u32)>,
    devices: Vec<DevRule>,
    /// Host files that change what is written (CFQ vs BFQ weights, swap accounting).
    has_blkio_weight: bool,
    has_io_bfq: bool,
    has_memsw: bool,
    /// Current v1 memory.limit_in_bytes and memsw (kernel keeps limit <= memsw), as when
    /// updating a running container; None: a fresh cgroup (both unlimited).
    current_memory: Option<(u32, u32)>,
    /// Make the n-th write fail.
    fail_write: Option<u8>,
    /// Two shares and two blkio weights for the monotonicity check.
    shares_pair: (u64, u64),
    weight_pair: (u16, u16),
}

fn opt(m: &mut Map<String, Value>, k: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(k.into(), v);
    }
}

fn num(n: Option<Num>) -> Option<Value> {
    n.map(|n| json!(n.i()))
}

impl Case {
    fn to_json(&self) -> Value {
        let mut r = Map::new();
        if let Some(m) = &self.memory {
            let mut o = Map::new();
            opt(&mut o, "limit", num(m.limit));
            opt(&mut o, "reservation", num(m.reservation));
            opt(&mut o, "swap", num(m.swap));
            opt(&mut o, "kernelTCP", num(m.kernel_tcp));
            opt(&mut o, "swappiness", num(m.swappiness));
            opt(
                &mut o,
                "disableOOMKiller",
                m.disable_oom_killer.map(Value::Bool),
            );
            r.insert("memory".into(), o.into());
        }
        if let Some(c) = &self.cpu {
            let mut o = Map::new();
            opt(&mut o, "shares", num(c.shares));
            opt(&mut o, "quota", num(c.quota));
            opt(&mut o, "burst", num(c.burst));
            opt(&mut o, "period", num(c.period));
            opt(&mut o, "realtimeRuntime", num(c.realtime_runtime));
            opt(&mut o, "realtimePeriod", num(c.realtime_period));
            opt(&mut o, "cpus", c.cpus.as_ref().map(|s| json!(s.s())));
            opt(&mut o, "mems", c.mems.as_ref().map(|s| json!(s.s())));
            opt(&mut o, "idle", num(c.idle));
            r.insert("cpu".into(), o.into());
        }
        if let Some(p) = self.pids {
            r.insert("pids".into(), json!({"limit": p.i()}));
        }
        if let Some(b) = &self.block_io {
            let mut o = Map::new();
            opt(&mut o, "weight", num(b.weight));
            opt(&mut o, "leafWeight", num(b.leaf_weight));
            let wd: Vec<Value> = b
                .weight_device
                .iter()
                .map(|d| {
                    let mut e = Map::new();
                    e.insert("major".into(), json!(d.major.i()));
                    e.insert("minor".into(), json!(d.minor.i()));
                    opt(&mut e, "weight", num(d.a));
                    opt(&mut e, "leafWeight", num(d.b));
                    e.into()
                })
                .collect();
            o.insert("weightDevice".into(), wd.into());
            let names = [
                "throttleReadBpsDevice",
                "throttleWriteBpsDevice",
                "throttleReadIOPSDevice",
                "throttleWriteIOPSDevice",
            ];
            for (name, list) in names.iter().zip(&b.throttles) {
                let l: Vec<Value> = list
                    .iter()
                    .map(|d| {
                        json!({"major": d.major.i(), "minor": d.minor.i(),
                        "rate": d.a.map_or(0, Num::i)})
                    })
                    .collect();
                o.insert(name.to_string(), l.into());
            }
            r.insert("blockIO".into(), o.into());
        }
        if !self.hugepages.is_empty() {
            let h: Vec<Value> = self
                .hugepages
                .iter()
                .map(|(s, l)| json!({"pageSize": s.s(), "limit": l.i()}))
                .collect();
            r.insert("hugepageLimits".into(), h.into());
        }
        if !self.unified.is_empty() {
            let u: Map<String, Value> = self
                .unified
                .iter()
                .map(|(k, v)| (k.s(), json!(v.s())))
                .collect();
            r.insert("unified".into(), u.into());
        }
        if !self.rdma.is_empty() {
            let u: Map<String, Value> = self
                .rdma
                .iter()
                .map(|(k, h, o)| (k.s(), json!({"hcaHandles": h, "hcaObjects": o})))
                .collect();
            r.insert("rdma".into(), u.into());
        }
        if self.class_id.is_some() || !self.priorities.is_empty() {
            let p: Vec<Value> = self
                .priorities
                .iter()
                .map(|(n, p)| json!({"name": n.s(), "priority": p}))
                .collect();
            r.insert(
                "network".into(),
                json!({"classID": self.class_id, "priorities": p}),
            );
        }
        if !self.devices.is_empty() {
            let d: Vec<Value> = self
                .devices
                .iter()
                .map(|d| {
                    let mut e = Map::new();
                    e.insert("allow".into(), json!(d.allow));
                    opt(
                        &mut e,
                        "type",
                        d.typ
                            .map(|t| json!(["a", "b", "c", "u", "p"][t as usize % 5])),
                    );
                    opt(&mut e, "major", num(d.major));
                    opt(&mut e, "minor", num(d.minor));
                    opt(&mut e, "access", d.access.as_ref().map(|a| json!(a.s())));
                    e.into()
                })
                .collect();
            r.insert("devices".into(), d.into());
        }
        r.into()
    }

    /// Runs every check.
    pub fn check(&self) {
        self.check_conversions();
        let json = self.to_json();
        let Ok(res) = serde_json::from_value::<LinuxResources>(json.clone()) else {
            return;
        };
        let fs = Fake::new(self);
        let r = if self.v2 {
            dm_cgroups::apply_v2_with(&fs, Path::new(V2_DIR), &res)
        } else {
            dm_cgroups::apply_v1_with(&fs, &v1_dirs(), &res)
        };
        let failed = fs.failed.take();
        let writes = fs.writes.into_inner();
        for (path, value) in &writes {
            check_write(self.v2, &res, path, value);
        }
        match r {
            Ok(()) => {
                // A refused write may only be retried (v1 cfs_period_us), never dropped.
                if let Some(f) = &failed {
                    let at = self.fail_write.map_or(0, usize::from);
                    assert!(
                        writes[at + 1..].iter().any(|(p, _)| p == f),
                        "the refused write to {f:?} went unreported"
                    );
                }
                self.check_whole(&res, &writes);
            }
            Err(e) => check_error(&json, &e, failed),
        }
    }

    fn check_conversions(&self) {
        let (a, b) = self.shares_pair;
        let (lo, hi) = (a.min(b), a.max(b));
        let (wl, wh) = (v2::shares_to_weight(lo), v2::shares_to_weight(hi));
        if lo > 0 {
            assert!(
                (1..=10_000).contains(&wl) && wl <= wh,
                "cpu.weight {lo}->{wl}, {hi}->{wh}"
            );
        }
        if (2..=262_144).contains(&lo) {
            // runc 1.1's formula, in wider arithmetic.
            let want = 1 + ((lo as u128 - 2) * 9999) / 262_142;
            assert_eq!(wl as u128, want);
        }
        assert_eq!(v2::shares_to_weight(2), 1);
        assert_eq!(v2::shares_to_weight(262_144), 10_000);
        let (a, b) = self.weight_pair;
        let (lo, hi) = (a.min(b), a.max(b));
        let (wl, wh) = (v2::blkio_to_io_weight(lo), v2::blkio_to_io_weight(hi));
        if lo > 0 {
            assert!(
                (1..=10_000).contains(&wl) && wl <= wh,
                "io.weight {lo}->{wl}, {hi}->{wh}"
            );
        }
    }

    /// Properties of the whole set of writes.
    fn check_whole(&self, res: &LinuxResources, writes: &[(PathBuf, String)]) {
        let unified = |f: &str| res.unified().as_ref().is_some_and(|u| u.contains_key(f));
        let last = |f: &str| {
            if unified(f) {
                return None;
            }
            writes
                .iter()
                .rev()
                .find(|(p, _)| p.file_name().and_then(|n| n.to_str()) == Some(f))
                .map(|(_, v)| v.as_str())
        };
        if let Some(m) = res.memory() {
            let (l, s) = (m.limit().unwrap_or(0), m.swap().unwrap_or(0));
            if self.v2 && l > 0 && s > 0 && !unified("memory.swap.max") {
                assert_eq!(last("memory.swap.max"), Some((s - l).to_string().as_str()));
            }
            if !self.v2 && l > 0 && !unified("memory.limit_in_bytes") {
                assert_eq!(last("memory.limit_in_bytes"), Some(l.to_string().as_str()));
            }
        }
        if let Some(s) = res
            .cpu()
            .as_ref()
            .and_then(|c| c.shares())
            .filter(|&s| s > 0)
        {
            if self.v2 {
                let w = v2::shares_to_weight(s).to_string();
                if !unified("cpu.weight") {
                    assert_eq!(last("cpu.weight"), Some(w.as_str()));
                }
            } else {
                assert_eq!(last("cpu.shares"), Some(s.to_string().as_str()));
            }
        }
        if let Some(u) = res.unified() {
            for (k, v) in u {
                assert!(
                    writes
                        .iter()
                        .any(|(p, w)| p == &Path::new(V2_DIR).join(k) && w == v),
                    "unified {k} not written as given"
                );
            }
        }
    }
}

const V2_DIR: &str = "/cg/unified/ctr";
const V1_CONTROLLERS: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "hugetlb",
    "net_cls", "net_prio", "rdma",
];

fn v1_dirs() -> Vec<V1Dir> {
    V1_CONTROLLERS
        .iter()
        .map(|c| V1Dir {
            controllers: vec![c.to_string()],
            mountpoint: PathBuf::from(format!("/cg/{c}")),
            dir: PathBuf::from(format!("/cg/{c}/ctr")),
        })
        .collect()
}

const MAX: u64 = i64::MAX as u64;
/// The kernel's max_cfs_runtime in µs (2^44 - 1): quota, and quota + burst, above it are EINVAL.
const MAX_CFS_QUOTA: i64 = (1 << 44) - 1;
/// pids.max at or above PIDS_MAX (PID_MAX_LIMIT + 1) is EINVAL.
const PID_MAX_LIMIT: i64 = 4 * 1024 * 1024;

/// A cgroup tree in memory that records writes and enforces the v1 memory rule
/// memory.limit_in_bytes <= memory.memsw.limit_in_bytes.
struct Fake {
    writes: RefCell<Vec<(PathBuf, String)>>,
    files: RefCell<HashMap<String, String>>,
    has: Vec<&'static str>,
    fail_at: Option<usize>,
    failed: RefCell<Option<PathBuf>>,
    devices: RefCell<DevCgroup>,
}

/// The v1 devices cgroup as the kernel keeps it: a default and exact-match exceptions.
#[derive(Default)]
struct DevCgroup {
    allow: bool,
    exceptions: Vec<(String, String, String, String)>,
}

impl DevCgroup {
    /// Applies one write to devices.allow (`allow`) or devices.deny, as devcgroup_update_access
    /// does; panics on a write the kernel would accept but ignore.
    fn write(&mut self, allow: bool, line: &str) {
        if line == "a" {
            self.allow = allow;
            self.exceptions.clear();
            return;
        }
        let f: Vec<&str> = line.split([' ', ':']).collect();
        let [t, ma, mi, acc] = f[..] else {
            panic!("devices line {line:?}")
        };
        let meta = (t.to_string(), ma.to_string(), mi.to_string());
        if allow != self.allow {
            self.exceptions
                .push((meta.0, meta.1, meta.2, acc.to_string()));
            return;
        }
        for (et, ema, emi, eacc) in &self.exceptions {
            let covers = et == t && (ema == "*" || ema == ma) && (emi == "*" || emi == mi);
            let same = (et, ema, emi) == (&meta.0, &meta.1, &meta.2);
            let overlap = eacc.chars().any(|c| acc.contains(c));
            assert!(
                same || !covers || !overlap,
                "the kernel ignores {line:?} ({}) inside the exception {et} {ema}:{emi} {eacc}",
                if allow { "allow" } else { "deny" }
            );
        }
        for e in &mut self.exceptions {
            if (&e.0, &e.1, &e.2) == (&meta.0, &meta.1, &meta.2) {
                e.3.retain(|c| !acc.contains(c));
            }
        }
        self.exceptions.retain(|e| !e.3.is_empty());
    }
}

impl Fake {
    fn new(c: &Case) -> Fake {
        let mut files = HashMap::new();
        let (l, s) = match c.current_memory {
            Some((a, b)) => (u64::from(a.min(b)), u64::from(a.max(b))),
            None => (MAX, MAX),
        };
        files.insert("memory.limit_in_bytes".to_string(), l.to_string());
        if c.has_memsw {
            files.insert("memory.memsw.limit_in_bytes".to_string(), s.to_string());
        }
        let mut has = Vec::new();
        if c.has_blkio_weight {
            has.push("blkio.weight");
        }
        if c.has_io_bfq {
            has.push("io.bfq.weight");
        }
        if c.has_memsw {
            has.push("memory.memsw.limit_in_bytes");
        }
        Fake {
            writes: RefCell::new(Vec::new()),
            files: RefCell::new(files),
            has,
            fail_at: c.fail_write.map(usize::from),
            failed: RefCell::new(None),
            devices: RefCell::new(DevCgroup::default()),
        }
    }
}

fn name(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

fn v1_value(v: &str) -> u64 {
    match v.parse::<i64>() {
        Ok(-1) => MAX,
        Ok(n) => n as u64,
        Err(_) => MAX,
    }
}

impl CgroupFs for Fake {
    fn write(&self, path: &Path, value: &str) -> io::Result<()> {
        let n = self.writes.borrow().len();
        self.writes
            .borrow_mut()
            .push((path.to_path_buf(), value.to_string()));
        if self.fail_at == Some(n) {
            *self.failed.borrow_mut() = Some(path.to_path_buf());
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let file = name(path);
        let mut files = self.files.borrow_mut();
        let cur = |f: &str| files.get(f).map_or(MAX, |v| v1_value(v));
        if let ("devices.allow" | "devices.deny", true) = (file, device_line(value)) {
            self.devices
                .borrow_mut()
                .write(file == "devices.allow", value);
        }
        let memsw = self.has.contains(&"memory.memsw.limit_in_bytes");
        let refused = match file {
            "memory.limit_in_bytes" if memsw => {
                v1_value(value) > cur("memory.memsw.limit_in_bytes")
            }
            "memory.memsw.limit_in_bytes" if memsw => {
                v1_value(value) < cur("memory.limit_in_bytes")
            }
            _ => false,
        };
        if refused {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        files.insert(file.to_string(), value.to_string());
        Ok(())
    }

    fn read(&self, path: &Path) -> io::Result<String> {
        self.files
            .borrow()
            .get(name(path))
            .cloned()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))
    }

    fn exists(&self, path: &Path) -> bool {
        self.has.contains(&name(path))
    }
}

fn uint(v: &str) -> Option<u64> {
    (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .then(|| v.parse().ok())
        .flatten()
}

fn int(v: &str) -> Option<i64> {
    match v.strip_prefix('-') {
        Some(rest) => uint(rest).and_then(|n| i64::try_from(n).ok()).map(|n| -n),
        None => uint(v).and_then(|n| i64::try_from(n).ok()),
    }
}

fn max_or_uint(v: &str) -> bool {
    v == "max" || uint(v).is_some()
}

fn in_range(v: &str, lo: i64, hi: i64) -> bool {
    int(v).is_some_and(|n| (lo..=hi).contains(&n))
}

/// `MAJ:MIN` within the kernel's dev_t (12-bit major, 20-bit minor).
fn dev(v: &str) -> bool {
    let Some((ma, mi)) = v.split_once(':') else {
        return false;
    };
    in_range(ma, 0, 4095) && in_range(mi, 0, (1 << 20) - 1)
}

/// `MAJ:MIN N` with N in lo..=hi (or 0 when `zero` removes the device's weight).
fn dev_weight(v: &str, lo: i64, hi: i64, zero: bool) -> bool {
    v.split_once(' ')
        .is_some_and(|(d, n)| dev(d) && (in_range(n, lo, hi) || (zero && n == "0")))
}

/// A v2 weight line: `default N`, `MAJ:MIN N` or `MAJ:MIN default` (which removes the
/// device's weight; both io.weight and io.bfq.weight refuse a numeric 0).
fn v2_weight(v: &str, lo: i64, hi: i64) -> bool {
    match v.split_once(' ') {
        Some(("default", n)) => in_range(n, lo, hi),
        Some((d, "default")) => dev(d),
        _ => dev_weight(v, lo, hi, false),
    }
}

fn cpu_list(v: &str) -> bool {
    v.split(',').all(|p| {
        let mut it = p.splitn(2, '-');
        let a = it.next().and_then(uint);
        match (a, it.next().map(uint)) {
            (Some(_), None) => true,
            (Some(a), Some(Some(b))) => a <= b,
            _ => false,
        }
    })
}

fn page_size(s: &str) -> bool {
    let d = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    !d.is_empty() && uint(d).is_some() && ["B", "KB", "MB", "GB", "TB"].contains(&&s[d.len()..])
}

fn device_line(v: &str) -> bool {
    if v == "a" {
        return true;
    }
    let f: Vec<&str> = v.split(' ').collect();
    let num = |x: &str| x == "*" || uint(x).is_some_and(|n| n <= u32::MAX as u64);
    f.len() == 3
        && (f[0] == "b" || f[0] == "c")
        && f[1].split_once(':').is_some_and(|(a, b)| num(a) && num(b))
        && !f[2].is_empty()
        && f[2].len() <= 3
        && f[2].chars().all(|c| "rwm".contains(c))
}

/// One write: the file is a plain name in the right directory, the value has the format and
/// range the kernel documents for that file.
fn check_write(is_v2: bool, res: &LinuxResources, path: &Path, v: &str) {
    let file = name(path);
    assert!(
        !file.is_empty() && file != "." && file != ".." && !file.contains('\0'),
        "bad cgroup file name {path:?}"
    );
    if is_v2 {
        assert_eq!(
            path.parent(),
            Some(Path::new(V2_DIR)),
            "{path:?} outside the cgroup"
        );
        let unified = res.unified().as_ref().and_then(|u| u.get(file));
        if let Some(given) = unified {
            // Unified values are the user's, but one line and NUL-free.
            let body = given.strip_suffix('\n').unwrap_or(given);
            assert!(!body.contains(['\n', '\r', '\0']), "{file}: {v:?}");
            if v == given {
                return;
            }
        }
    } else {
        let ctrl = file.split('.').next().unwrap_or("");
        let want = format!("/cg/{ctrl}/ctr");
        assert_eq!(
            path.parent(),
            Some(Path::new(&want)),
            "{path:?} not in its controller"
        );
    }
    assert!(
        !v.contains(['\n', '\r', '\0']),
        "line break or NUL in {file}: {v:?}"
    );
    let ok = match file {
        // v2
        "cpu.weight" => in_range(v, 1, 10_000),
        "cpu.max" => {
            let mut f = v.split(' ');
            let q = f.next().unwrap_or("");
            let p = f.next();
            (q == "max" || in_range(q, 1000, MAX_CFS_QUOTA))
                && p.is_none_or(|p| in_range(p, 1000, 1_000_000))
                && f.next().is_none()
        }
        "cpu.max.burst" | "cpu.cfs_burst_us" => uint(v).is_some(),
        "cpu.idle" => v == "0" || v == "1",
        "memory.max" | "memory.low" | "memory.swap.max" => max_or_uint(v),
        "pids.max" => v == "max" || in_range(v, 1, PID_MAX_LIMIT),
        "io.weight" => v2_weight(v, 1, 10_000),
        "io.bfq.weight" => v2_weight(v, 10, 1000),
        "io.max" => v.split_once(' ').is_some_and(|(d, rest)| {
            dev(d)
                && rest.split(' ').all(|kv| {
                    kv.split_once('=').is_some_and(|(k, n)| {
                        ["rbps", "wbps", "riops", "wiops"].contains(&k) && max_or_uint(n)
                    })
                })
        }),
        "cpuset.cpus" | "cpuset.mems" => cpu_list(v),
        // v1
        "memory.limit_in_bytes" | "memory.memsw.limit_in_bytes" => {
            v == "-1" || in_range(v, 1, i64::MAX)
        }
        "memory.soft_limit_in_bytes" | "memory.kmem.tcp.limit_in_bytes" => {
            v == "-1" || in_range(v, 1, i64::MAX)
        }
        "memory.swappiness" => in_range(v, 0, 100),
        "memory.oom_control" => v == "0" || v == "1",
        "cpu.shares" => in_range(v, 2, 262_144),
        "cpu.cfs_period_us" => in_range(v, 1000, 1_000_000),
        "cpu.cfs_quota_us" => v == "-1" || in_range(v, 1000, MAX_CFS_QUOTA),
        "cpu.rt_period_us" => uint(v).is_some_and(|n| n > 0),
        "cpu.rt_runtime_us" => v == "-1" || in_range(v, 1, i64::MAX),
        "blkio.weight" | "blkio.bfq.weight" | "blkio.leaf_weight" => in_range(v, 10, 1000),
        // CFQ's files take 0 as "remove the device's weight"; BFQ's wants `default`.
        "blkio.weight_device" | "blkio.leaf_weight_device" => dev_weight(v, 10, 1000, true),
        "blkio.bfq.weight_device" => {
            dev_weight(v, 10, 1000, false)
                || v.split_once(' ')
                    .is_some_and(|(d, n)| dev(d) && n == "default")
        }
        "blkio.throttle.read_bps_device"
        | "blkio.throttle.write_bps_device"
        | "blkio.throttle.read_iops_device"
        | "blkio.throttle.write_iops_device" => v
            .split_once(' ')
            .is_some_and(|(d, n)| dev(d) && uint(n).is_some()),
        "net_cls.classid" => uint(v).is_some_and(|n| n <= u32::MAX as u64),
        "net_prio.ifpriomap" => v.split_once(' ').is_some_and(|(n, p)| {
            !n.is_empty() && n.len() < 16 && !n.contains(['/', ':', ' ']) && uint(p).is_some()
        }),
        "devices.allow" | "devices.deny" => device_line(v),
        f if f.starts_with("hugetlb.") => {
            let (size, rest) = f["hugetlb.".len()..].split_once('.').unwrap_or(("", ""));
            page_size(size)
                && match rest {
                    "max" => max_or_uint(v),
                    "limit_in_bytes" => v == "-1" || uint(v).is_some(),
                    _ => false,
                }
        }
        _ => panic!("write to an unexpected file {path:?} = {v:?}"),
    };
    assert!(ok, "{file} = {v:?} is not what the kernel documents");
}

/// A refusal names a field of `linux.resources` that the input has.
fn check_error(json: &Value, e: &Error, failed: Option<PathBuf>) {
    let field = match e {
        Error::Invalid { field, .. } => field,
        Error::Write { field, path, .. } => {
            // Only a write the fake refused: the injected one or the v1 memory rule.
            let f = name(path);
            let memory_rule = matches!(f, "memory.limit_in_bytes" | "memory.memsw.limit_in_bytes");
            assert!(
                failed.as_deref() == Some(path.as_path()) || memory_rule,
                "write error for {path:?}"
            );
            if memory_rule && failed.is_none() {
                check_memory_order(json, field);
            }
            field
        }
        other => panic!("unexpected error kind: {other}"),
    };
    let rest = field
        .strip_prefix("linux.resources")
        .unwrap_or_else(|| panic!("error names no resources field: {e}"));
    if rest.is_empty() {
        return; // a missing hierarchy
    }
    let top = rest
        .strip_prefix('.')
        .unwrap_or_else(|| panic!("bad field {field}"))
        .split(['.', '['])
        .next()
        .unwrap_or("");
    assert!(
        json.get(top).is_some(),
        "error names {top}, which the input lacks: {e}"
    );
    assert!(e.to_string().starts_with(field.as_str()), "{e}");
}

/// The v1 driver orders the limit and memsw writes so that the kernel's limit <= memsw holds
/// after each one: that can only fail when one of the two is missing (then it depends on the
/// running cgroup), never when both are given.
fn check_memory_order(json: &Value, field: &str) {
    let m = &json["memory"];
    let (l, s) = (
        m["limit"].as_i64().unwrap_or(0),
        m["swap"].as_i64().unwrap_or(0),
    );
    assert!(
        l == 0 || s == 0,
        "limit {l} and swap {s} both given, yet {field} broke limit <= memsw"
    );
}
