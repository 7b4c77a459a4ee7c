//! Driver writes against a fake cgroup tree in a temp dir: exact file names and values.
//! No root needed.

use dm_cgroups::sys::FakeFs;
use dm_cgroups::{apply_v1_with, apply_v2_with, Cgroup, Host, Mode, V1Dir};
use dm_testkit::TempDir;
use oci_spec::runtime::LinuxResources;
use std::path::Path;

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

fn file(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name)).ok()
}

/// Names of the files the driver wrote (the fake tree starts empty unless a test seeds it).
fn written(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

const FULL: &str = r#"{
  "memory": {"limit": 104857600, "reservation": 52428800, "swap": 209715200,
             "swappiness": 10, "disableOOMKiller": true},
  "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 10000,
          "cpus": "0-1", "mems": "0", "idle": 1},
  "pids": {"limit": 42},
  "blockIO": {"weight": 500,
              "weightDevice": [{"major": 8, "minor": 0, "weight": 300}],
              "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
              "throttleWriteBpsDevice": [{"major": 8, "minor": 16, "rate": 2097152}],
              "throttleReadIOPSDevice": [{"major": 8, "minor": 16, "rate": 300}],
              "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}]},
  "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}, {"pageSize": "1GB", "limit": -1}],
  "unified": {"memory.high": "90000000", "pids.max": "50"}
}"#;

#[test]
fn v2_writes_every_resource_to_its_file() {
    let t = TempDir::new("cg-fake-v2");
    let d = t.path();
    apply_v2_with(&FakeFs, d, &res(FULL)).unwrap();
    let expect = [
        ("memory.swap.max", "104857600\n"),
        ("memory.max", "104857600\n"),
        ("memory.low", "52428800\n"),
        ("cpu.weight", "39\n"),
        ("cpu.max", "50000 100000\n"),
        ("cpu.max.burst", "10000\n"),
        ("cpu.idle", "1\n"),
        ("cpuset.cpus", "0-1\n"),
        ("cpuset.mems", "0\n"),
        // pids.max from linux.resources.pids, then the raw `unified` value written last.
        ("pids.max", "42\n50\n"),
        ("io.weight", "default 4950\n8:0 2930\n"),
        (
            "io.max",
            "8:0 rbps=1048576 wiops=100\n8:16 wbps=2097152 riops=300\n",
        ),
        ("hugetlb.2MB.max", "4194304\n"),
        ("hugetlb.1GB.max", "max\n"),
        ("memory.high", "90000000\n"),
    ];
    for (name, want) in expect {
        assert_eq!(file(d, name).as_deref(), Some(want), "{name}");
    }
    let mut names: Vec<String> = expect.iter().map(|(n, _)| n.to_string()).collect();
    names.sort();
    assert_eq!(
        written(d),
        names,
        "no other file is written (swappiness, oom_control have no v2 file)"
    );
}

#[test]
fn v2_shares_conversion_and_unlimited_values() {
    for (shares, weight) in [(2u64, "1"), (1024, "39"), (262144, "10000"), (512, "20")] {
        let t = TempDir::new("cg-fake-w");
        let r = res(&format!(r#"{{"cpu":{{"shares":{shares}}}}}"#));
        apply_v2_with(&FakeFs, t.path(), &r).unwrap();
        assert_eq!(
            file(t.path(), "cpu.weight").unwrap(),
            format!("{weight}\n"),
            "shares {shares}"
        );
    }
    let t = TempDir::new("cg-fake-max");
    let r =
        res(r#"{"memory":{"limit":-1},"cpu":{"quota":-1,"period":250000},"pids":{"limit":-1}}"#);
    apply_v2_with(&FakeFs, t.path(), &r).unwrap();
    assert_eq!(file(t.path(), "memory.max").unwrap(), "max\n");
    assert_eq!(
        file(t.path(), "memory.swap.max").unwrap(),
        "max\n",
        "unlimited memory frees swap too"
    );
    assert_eq!(file(t.path(), "cpu.max").unwrap(), "max 250000\n");
    assert_eq!(file(t.path(), "pids.max").unwrap(), "max\n");
}

#[test]
fn v2_period_alone_keeps_the_existing_quota() {
    let t = TempDir::new("cg-fake-period");
    std::fs::write(t.path().join("cpu.max"), "20000 100000\n").unwrap();
    apply_v2_with(&FakeFs, t.path(), &res(r#"{"cpu":{"period":50000}}"#)).unwrap();
    assert_eq!(
        file(t.path(), "cpu.max").unwrap(),
        "20000 100000\n20000 50000\n"
    );
}

#[test]
fn v2_bfq_weights_are_written_unconverted() {
    let t = TempDir::new("cg-fake-bfq");
    std::fs::write(t.path().join("io.bfq.weight"), "").unwrap();
    let r =
        res(r#"{"blockIO":{"weight":500,"weightDevice":[{"major":8,"minor":0,"weight":300}]}}"#);
    apply_v2_with(&FakeFs, t.path(), &r).unwrap();
    assert_eq!(
        file(t.path(), "io.bfq.weight").unwrap(),
        "default 500\n8:0 300\n"
    );
    assert!(file(t.path(), "io.weight").is_none());
}

#[test]
fn invalid_resources_write_nothing() {
    let t = TempDir::new("cg-fake-bad");
    let r = res(r#"{"pids":{"limit":5},"cpu":{"shares":1}}"#);
    let e = apply_v2_with(&FakeFs, t.path(), &r).unwrap_err();
    assert!(
        e.to_string().starts_with("linux.resources.cpu.shares: "),
        "{e}"
    );
    assert!(
        written(t.path()).is_empty(),
        "validation happens before any write"
    );
}

fn v1_dirs(root: &Path) -> Vec<V1Dir> {
    [
        "memory", "cpu", "cpuset", "pids", "blkio", "devices", "hugetlb", "net_cls", "net_prio",
    ]
    .iter()
    .map(|c| V1Dir {
        controllers: vec![c.to_string()],
        mountpoint: root.join(c),
        dir: root.join(c).join("ctr"),
    })
    .collect()
}

#[test]
fn v1_writes_every_resource_to_its_file() {
    let t = TempDir::new("cg-fake-v1");
    let root = t.path();
    let full = res(r#"{
      "memory": {"limit": 104857600, "reservation": 52428800, "swap": 209715200,
                 "swappiness": 10, "disableOOMKiller": true},
      "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 10000,
              "realtimePeriod": 1000000, "realtimeRuntime": 5000, "cpus": "0", "mems": "0", "idle": 0},
      "pids": {"limit": 42},
      "blockIO": {"weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 300}],
                  "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                  "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}]},
      "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
      "devices": [{"allow": false, "access": "rwm"},
                  {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                  {"allow": true, "type": "a", "major": 136, "access": "rw"}],
      "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]}
    }"#);
    // A BFQ host: its weight file exists before anything is written.
    std::fs::create_dir_all(root.join("blkio/ctr")).unwrap();
    std::fs::write(root.join("blkio/ctr/blkio.bfq.weight"), "").unwrap();
    apply_v1_with(&FakeFs, &v1_dirs(root), &full).unwrap();
    let c = |ctrl: &str, f: &str| file(&root.join(ctrl).join("ctr"), f);
    // memory+swap goes up first so memory.limit never exceeds it.
    assert_eq!(
        c("memory", "memory.memsw.limit_in_bytes").unwrap(),
        "209715200\n"
    );
    assert_eq!(c("memory", "memory.limit_in_bytes").unwrap(), "104857600\n");
    assert_eq!(
        c("memory", "memory.soft_limit_in_bytes").unwrap(),
        "52428800\n"
    );
    assert_eq!(c("memory", "memory.swappiness").unwrap(), "10\n");
    assert_eq!(c("memory", "memory.oom_control").unwrap(), "1\n");
    assert_eq!(c("cpu", "cpu.shares").unwrap(), "1024\n");
    assert_eq!(c("cpu", "cpu.cfs_period_us").unwrap(), "100000\n");
    assert_eq!(c("cpu", "cpu.cfs_quota_us").unwrap(), "50000\n");
    assert_eq!(c("cpu", "cpu.cfs_burst_us").unwrap(), "10000\n");
    assert_eq!(c("cpu", "cpu.rt_period_us").unwrap(), "1000000\n");
    assert_eq!(c("cpu", "cpu.rt_runtime_us").unwrap(), "5000\n");
    assert_eq!(c("cpu", "cpu.idle").unwrap(), "0\n");
    assert_eq!(c("cpuset", "cpuset.cpus").unwrap(), "0\n");
    assert_eq!(c("cpuset", "cpuset.mems").unwrap(), "0\n");
    assert_eq!(c("pids", "pids.max").unwrap(), "42\n");
    // No blkio.weight in the tree (no CFQ), but BFQ's: its files take the weights.
    assert_eq!(c("blkio", "blkio.bfq.weight").unwrap(), "500\n");
    assert_eq!(c("blkio", "blkio.bfq.weight_device").unwrap(), "8:0 300\n");
    assert_eq!(
        c("blkio", "blkio.throttle.read_bps_device").unwrap(),
        "8:0 1048576\n"
    );
    assert_eq!(
        c("blkio", "blkio.throttle.write_iops_device").unwrap(),
        "8:0 100\n"
    );
    assert_eq!(
        c("hugetlb", "hugetlb.2MB.limit_in_bytes").unwrap(),
        "4194304\n"
    );
    assert_eq!(c("devices", "devices.deny").unwrap(), "a\n");
    assert_eq!(
        c("devices", "devices.allow").unwrap(),
        "c 1:3 rwm\nb 136:* rw\nc 136:* rw\n"
    );
    assert_eq!(c("net_cls", "net_cls.classid").unwrap(), "1048577\n");
    assert_eq!(c("net_prio", "net_prio.ifpriomap").unwrap(), "eth0 5\n");
}

#[test]
fn v1_unlimited_memory_also_unlimits_memsw() {
    let t = TempDir::new("cg-fake-v1-low");
    let dirs = v1_dirs(t.path());
    let mem = &dirs[0].dir;
    std::fs::create_dir_all(mem).unwrap();
    std::fs::write(mem.join("memory.limit_in_bytes"), "").unwrap();
    std::fs::write(mem.join("memory.memsw.limit_in_bytes"), "").unwrap();
    // The fake tree's current limit reads as unset (0), so raising writes memsw first; an
    // unlimited memory limit turns swap unlimited too when the kernel has memsw.
    apply_v1_with(&FakeFs, &dirs, &res(r#"{"memory":{"limit":-1}}"#)).unwrap();
    assert_eq!(
        std::fs::read_to_string(mem.join("memory.memsw.limit_in_bytes")).unwrap(),
        "-1\n"
    );
    assert_eq!(
        std::fs::read_to_string(mem.join("memory.limit_in_bytes")).unwrap(),
        "-1\n"
    );
}

#[test]
fn v1_missing_controller_is_a_clear_error_before_writes() {
    let t = TempDir::new("cg-fake-v1-missing");
    let dirs: Vec<V1Dir> = v1_dirs(t.path())
        .into_iter()
        .filter(|d| d.controllers[0] != "net_cls")
        .collect();
    let r = res(r#"{"pids":{"limit":3},"network":{"classID":1}}"#);
    let e = apply_v1_with(&FakeFs, &dirs, &r).unwrap_err();
    assert_eq!(
        e.to_string(),
        "linux.resources.network.classID: the net_cls cgroup controller is not mounted on this host"
    );
    assert!(!t.path().join("pids/ctr/pids.max").exists());
}

const HYBRID_MI: &str = "\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

#[test]
fn hybrid_placement_hierarchies_and_state_roundtrip() {
    let host = Host::parse(
        HYBRID_MI,
        "9:name=systemd:/\n4:memory:/sup/x\n1:cpu:/\n0::/\n",
    )
    .unwrap();
    let cg = Cgroup::with_host(&host, None, "c1").unwrap();
    assert_eq!(cg.mode, Mode::Hybrid);
    let h = cg.hierarchies();
    let names: Vec<(&str, &str)> = h
        .iter()
        .map(|(n, d)| (n.as_str(), d.to_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("systemd", "/sys/fs/cgroup/systemd/c1"),
            ("memory", "/sys/fs/cgroup/memory/sup/x/c1"),
            ("cpu", "/sys/fs/cgroup/cpu/c1"),
            (dm_cgroups::V2_MARKER, "/sys/fs/cgroup/unified/c1"),
        ]
    );
    assert_eq!(
        cg.clone_into_dir(),
        None,
        "CLONE_INTO_CGROUP only on unified hosts"
    );
    let json = serde_json::to_string(&cg).unwrap();
    assert_eq!(serde_json::from_str::<Cgroup>(&json).unwrap(), cg);

    let uni = Host::parse(
        "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
        "0::/user/s\n",
    )
    .unwrap();
    let cg = Cgroup::with_host(&uni, Some(Path::new("/pods/p/c2")), "c2").unwrap();
    assert_eq!(
        cg.clone_into_dir().unwrap(),
        Path::new("/sys/fs/cgroup/pods/p/c2")
    );
    assert_eq!(
        cg.hierarchies(),
        [(String::new(), "/sys/fs/cgroup/pods/p/c2".into())],
        "a unified host has one hierarchy, the cgroup2 marker"
    );
    let e = Cgroup::validate(&res(r#"{"unified":{"a/b":"1"}}"#)).unwrap_err();
    assert!(
        e.to_string().starts_with("linux.resources.unified: "),
        "{e}"
    );
    // Host-independent validation accepts what only a v2 host refuses; check() does not.
    let realtime = res(r#"{"cpu":{"realtimeRuntime":1000}}"#);
    Cgroup::validate(&realtime).unwrap();
    let e = cg.check(&realtime).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("linux.resources.cpu.realtimeRuntime: "),
        "{e}"
    );
}

#[test]
fn v2_oom_watcher_counts_new_oom_kills_and_polls_readable() {
    use std::os::fd::AsRawFd;
    let t = TempDir::new("cg-fake-oom");
    let events = t.path().join("memory.events");
    std::fs::write(&events, "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n").unwrap();
    let mut w = dm_cgroups::OomWatcher::v2(t.path()).unwrap();
    assert_eq!(
        w.check().unwrap(),
        0,
        "kills before the watcher started are not new"
    );
    std::fs::write(&events, "low 0\nhigh 0\nmax 9\noom 3\noom_kill 3\n").unwrap();
    let mut pfd = libc::pollfd {
        fd: w.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: pfd is a valid pollfd for the duration of the call.
    assert_eq!(
        unsafe { libc::poll(&mut pfd, 1, 5000) },
        1,
        "fd not readable after a change"
    );
    assert_eq!(w.check().unwrap(), 2);
    assert_eq!(w.check().unwrap(), 0);
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::poll(&mut pfd, 1, 0) },
        0,
        "check() drained the fd"
    );
}

#[test]
fn v2_stats_are_read_into_runc_shape() {
    let t = TempDir::new("cg-fake-stats");
    let d = t.path().join("ctr");
    std::fs::create_dir(&d).unwrap();
    for (name, text) in [
        ("cpu.stat", "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 10\nnr_throttled 2\nthrottled_usec 300\n"),
        ("cpuset.cpus.effective", "0-1\n"),
        ("memory.current", "1048576\n"),
        ("memory.max", "max\n"),
        ("memory.peak", "2097152\n"),
        ("memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n"),
        ("memory.stat", "anon 100\nfile 200\n"),
        ("memory.swap.current", "4096\n"),
        ("memory.swap.max", "max\n"),
        ("pids.current", "3\n"),
        ("pids.max", "10\n"),
        ("io.stat", "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n"),
        ("hugetlb.2MB.current", "0\n"),
        ("hugetlb.2MB.max", "4194304\n"),
        ("hugetlb.2MB.events", "max 1\n"),
    ] {
        std::fs::write(d.join(name), text).unwrap();
    }
    let cg = Cgroup {
        mode: Mode::Unified,
        v1: vec![],
        v2: Some(d.clone()),
        v2_mountpoint: Some(t.path().to_path_buf()),
        created: vec![],
        driver: Default::default(),
    };
    let v = serde_json::to_value(cg.stats().unwrap()).unwrap();
    let max = u64::MAX;
    assert_eq!(
        v["cpu"],
        serde_json::json!({"usage": {"total": 2_000_000, "kernel": 500_000, "user": 1_500_000},
                           "throttling": {"periods": 10, "throttledPeriods": 2, "throttledTime": 300_000}})
    );
    assert_eq!(v["cpuset"]["cpus"], serde_json::json!([0, 1]));
    assert_eq!(
        v["memory"]["usage"],
        serde_json::json!({"limit": max, "usage": 1048576, "max": 2097152, "failcnt": 4})
    );
    assert_eq!(
        v["memory"]["swap"]["usage"],
        1048576 + 4096,
        "v1-style memory+swap"
    );
    assert_eq!(v["memory"]["swap"]["limit"], max);
    assert_eq!(v["memory"]["cache"], 200);
    assert_eq!(
        v["memory"]["raw"],
        serde_json::json!({"anon": 100, "file": 200})
    );
    assert_eq!(v["pids"], serde_json::json!({"current": 3, "limit": 10}));
    assert_eq!(
        v["blkio"],
        serde_json::json!({
            "ioServiceBytesRecursive": [{"major": 8, "op": "Read", "value": 100},
                                        {"major": 8, "op": "Write", "value": 200}],
            "ioServicedRecursive": [{"major": 8, "op": "Read", "value": 1},
                                    {"major": 8, "op": "Write", "value": 2}]})
    );
    assert_eq!(
        v["hugetlb"],
        serde_json::json!({"2MB": {"max": 4194304, "failcnt": 1}})
    );
}
