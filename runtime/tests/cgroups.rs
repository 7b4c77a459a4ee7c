//! Resource control seen from the cgroup files and from inside the container (v1 for real,
//! plus the cgroup2 core files of this hybrid host).

mod common;
use common::*;
use serde_json::json;
use std::path::{Path, PathBuf};

/// Host directory of `pid`'s cgroup in hierarchy `name` ("" = the cgroup2 mount).
fn cgroup_dir(pid: i64, name: &str) -> PathBuf {
    let text = read(Path::new(&format!("/proc/{pid}/cgroup")));
    for l in text.lines() {
        let mut f = l.splitn(3, ':');
        let (_, ctl, path) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        let hit = if name.is_empty() {
            ctl.is_empty()
        } else {
            ctl.split(',').any(|c| c == name)
        };
        if hit {
            let base = if name.is_empty() {
                "/sys/fs/cgroup/unified".to_owned()
            } else {
                format!("/sys/fs/cgroup/{name}")
            };
            return PathBuf::from(format!("{base}{path}"));
        }
    }
    panic!("no {name} cgroup for {pid}: {text}");
}

fn started(b: &mut Bundle, script: &str) -> i64 {
    b.args(&["sh", "-c", script]);
    b.create().ok();
    b.run(&["start", &b.id]).ok();
    b.state()["pid"].as_i64().unwrap()
}

#[test]
fn placed_in_every_hierarchy_and_removed_on_delete() {
    let Some(mut b) = bundle("cgroup_placement") else {
        return;
    };
    let pid = started(&mut b, "sleep 1000");
    let mut dirs = vec![];
    for h in ["memory", "pids", "cpu", "freezer", "devices", ""] {
        let d = cgroup_dir(pid, h);
        assert!(
            d.ends_with(&b.id),
            "{h}: {d:?} not named after the container"
        );
        let procs = read(&d.join("cgroup.procs"));
        assert!(
            procs.lines().any(|l| l == pid.to_string()),
            "{h}: {pid} not in {d:?}"
        );
        dirs.push(d);
    }
    // Relative placement nests under our own memory cgroup (the supervisor's subtree).
    let own = read(Path::new("/proc/self/cgroup"));
    let own_mem = own
        .lines()
        .find(|l| l.contains(":memory:"))
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap();
    assert!(
        dirs[0].starts_with(format!("/sys/fs/cgroup/memory{own_mem}")),
        "{:?}",
        dirs[0]
    );
    b.run(&["delete", "-f", &b.id]).ok();
    for d in dirs {
        assert!(!d.exists(), "{d:?} left behind");
    }
}

#[test]
fn memory_limit_oom_kills_and_events_report_it() {
    let Some(mut b) = bundle("memory_oom") else {
        return;
    };
    set(
        &mut b,
        "/linux/resources/memory",
        json!({"limit": 32 << 20, "swap": 32 << 20}),
    );
    b.args(&[
        "sh",
        "-c",
        "while [ ! -e /tmp/go ]; do sleep 0.02; done; exec tail /dev/zero",
    ]);
    b.create().ok();
    let mut ev = b
        .cmd(&["events", "--interval", "200ms", &b.id])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = ev.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufRead::lines(std::io::BufReader::new(out)).map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    b.run(&["start", &b.id]).ok();
    std::fs::write(b.rootfs().join("tmp/go"), "").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut saw_oom = false;
    let mut saw_stats = false;
    while std::time::Instant::now() < deadline && !saw_oom {
        if let Ok(l) = rx.recv_timeout(std::time::Duration::from_millis(500)) {
            let v: serde_json::Value = serde_json::from_str(&l).unwrap();
            assert_eq!(v["id"], b.id.as_str());
            saw_stats |= v["type"] == "stats";
            saw_oom |= v["type"] == "oom";
        }
    }
    assert!(saw_stats, "no stats events");
    assert!(saw_oom, "no oom event");
    assert!(eventually(10, || b.state()["status"] == "stopped"));
    let _ = ev.kill();
    let _ = ev.wait();
}

#[test]
fn oom_killed_run_exits_137() {
    let Some(mut b) = bundle("memory_oom_run") else {
        return;
    };
    set(
        &mut b,
        "/linux/resources/memory",
        json!({"limit": 32 << 20, "swap": 32 << 20}),
    );
    let out = sh(&mut b, "exec tail /dev/zero");
    assert_eq!(out.code, 137, "{out:?}");
}

#[test]
fn pids_limit_makes_fork_fail() {
    let Some(mut b) = bundle("pids_limit") else {
        return;
    };
    set(&mut b, "/linux/resources/pids", json!({"limit": 3}));
    let out = sh(
        &mut b,
        "for i in 1 2 3 4 5; do sleep 5 & done 2>&1; echo done",
    );
    assert!(
        out.stdout.contains("can't fork") || out.stderr.contains("can't fork"),
        "{out:?}"
    );
}

#[test]
fn cpu_quota_and_cpuset_written() {
    let Some(mut b) = bundle("cpu_quota") else {
        return;
    };
    set(
        &mut b,
        "/linux/resources/cpu",
        json!({"quota": 20000, "period": 100000, "shares": 512, "cpus": "0"}),
    );
    let pid = started(&mut b, "sleep 1000");
    let cpu = cgroup_dir(pid, "cpu");
    assert_eq!(read(&cpu.join("cpu.cfs_quota_us")).trim(), "20000");
    assert_eq!(read(&cpu.join("cpu.cfs_period_us")).trim(), "100000");
    assert_eq!(read(&cpu.join("cpu.shares")).trim(), "512");
    assert_eq!(
        read(&cgroup_dir(pid, "cpuset").join("cpuset.cpus")).trim(),
        "0"
    );
    let status = read(Path::new(&format!("/proc/{pid}/status")));
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Cpus_allowed_list:") && l.ends_with("\t0")),
        "{status}"
    );
}

#[test]
fn denied_device_gives_eperm() {
    let Some(mut b) = bundle("device_denied") else {
        return;
    };
    // A host node bind-mounted in (1:11, kmsg) is not in the allow list: writes get EPERM,
    // while the default devices stay usable.
    set(
        &mut b,
        "/linux/resources/devices",
        json!([{"allow": false, "access": "rwm"}]),
    );
    set(&mut b, "/linux/devices", json!([]));
    let mut mounts = b.spec["mounts"].as_array().unwrap().clone();
    let host_dev = b.path().join("loop-node");
    nix::sys::stat::mknod(
        &host_dev,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 11),
    )
    .unwrap();
    mounts.push(
        json!({"destination": "/kmsg", "type": "bind", "source": host_dev, "options": ["bind"]}),
    );
    set(&mut b, "/mounts", json!(mounts));
    let out = sh(
        &mut b,
        "echo x > /kmsg; echo rc=$?; echo y > /dev/null && echo null-ok",
    );
    assert!(
        out.stderr.contains("Operation not permitted") && out.stdout.contains("rc=1"),
        "{out:?}"
    );
    assert!(out.stdout.contains("null-ok"), "{out:?}");
}

#[test]
fn pause_freezes_and_resume_thaws() {
    let Some(mut b) = bundle("pause_resume") else {
        return;
    };
    set(&mut b, "/root/readonly", json!(false));
    let pid = started(
        &mut b,
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; done",
    );
    let counter = b.rootfs().join("tmp/count");
    assert!(eventually(10, || !read(&counter).is_empty()));
    b.run(&["pause", &b.id]).ok();
    assert_eq!(b.state()["status"], "paused");
    assert_eq!(
        read(&cgroup_dir(pid, "freezer").join("freezer.state")).trim(),
        "FROZEN"
    );
    let before = read(&counter);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(read(&counter), before, "counter moved while paused");
    assert_ne!(
        b.run(&["pause", &b.id]).code,
        0,
        "pausing a paused container must fail"
    );
    b.run(&["resume", &b.id]).ok();
    assert_eq!(b.state()["status"], "running");
    assert!(
        eventually(10, || read(&counter) != before),
        "counter did not move after resume"
    );
    assert_ne!(b.run(&["resume", &b.id]).code, 0);
}

#[test]
fn update_changes_live_limits() {
    let Some(mut b) = bundle("update") else {
        return;
    };
    set(
        &mut b,
        "/linux/resources/memory",
        json!({"limit": 64 << 20}),
    );
    let pid = started(&mut b, "sleep 1000");
    let mem = cgroup_dir(pid, "memory");
    assert_eq!(
        read(&mem.join("memory.limit_in_bytes")).trim(),
        (64u64 << 20).to_string()
    );
    b.run(&[
        "update",
        "--memory",
        "100m",
        "--pids-limit",
        "20",
        "--cpu-quota",
        "30000",
        &b.id,
    ])
    .ok();
    assert_eq!(
        read(&mem.join("memory.limit_in_bytes")).trim(),
        (100u64 << 20).to_string()
    );
    assert_eq!(read(&cgroup_dir(pid, "pids").join("pids.max")).trim(), "20");
    assert_eq!(
        read(&cgroup_dir(pid, "cpu").join("cpu.cfs_quota_us")).trim(),
        "30000"
    );
    let res = b.path().join("res.json");
    std::fs::write(&res, r#"{"pids": {"limit": 33}}"#).unwrap();
    b.run(&["update", "--resources", res.to_str().unwrap(), &b.id])
        .ok();
    assert_eq!(read(&cgroup_dir(pid, "pids").join("pids.max")).trim(), "33");
    let out = b.run(&["update", "--memory", "lots", &b.id]);
    assert!(out.code != 0 && out.stderr.contains("--memory"), "{out:?}");
}

#[test]
fn kill_all_ps_and_stats() {
    let Some(mut b) = bundle("kill_all_ps") else {
        return;
    };
    let pid = started(
        &mut b,
        "sleep 1000 & sleep 1000 & head -c 20000000 /dev/zero | tail -c 1 >/dev/null; wait",
    );
    let pids_of = |b: &Bundle| -> Vec<i64> {
        serde_json::from_str(&b.run(&["ps", "--format", "json", &b.id]).ok().stdout).unwrap()
    };
    assert!(
        eventually(10, || pids_of(&b).len() >= 3),
        "{:?}",
        pids_of(&b)
    );
    assert!(pids_of(&b).contains(&pid));
    let table = b.run(&["ps", &b.id]).ok().stdout;
    assert!(
        table.lines().next().unwrap().contains("PID") && table.contains("sleep 1000"),
        "{table}"
    );
    let ev = b.run(&["events", "--stats", &b.id]).ok().stdout;
    let v: serde_json::Value = serde_json::from_str(ev.trim()).unwrap();
    assert_eq!(v["type"], "stats");
    assert!(
        v["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0,
        "{v}"
    );
    assert!(v["data"]["pids"]["current"].as_u64().unwrap() >= 3, "{v}");
    let children = pids_of(&b);
    b.run(&["kill", "--all", &b.id, "KILL"]).ok();
    assert!(eventually(10, || children.iter().all(|p| !Path::new(
        &format!("/proc/{p}/cmdline")
    )
    .exists()
        || read(Path::new(&format!("/proc/{p}/stat"))).contains(") Z"))));
}

#[test]
fn absolute_cgroups_path_is_honoured() {
    let Some(mut b) = bundle("absolute_cgroups_path") else {
        return;
    };
    let own = read(Path::new("/proc/self/cgroup"));
    let own_mem = own
        .lines()
        .find(|l| l.contains(":memory:"))
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let path = format!("{}/abs-{}", own_mem.trim_end_matches('/'), b.id);
    set(&mut b, "/linux/cgroupsPath", json!(path));
    let pid = started(&mut b, "sleep 1000");
    assert_eq!(
        cgroup_dir(pid, "memory"),
        PathBuf::from(format!("/sys/fs/cgroup/memory{path}"))
    );
    b.run(&["delete", "-f", &b.id]).ok();
    assert!(!Path::new(&format!("/sys/fs/cgroup/memory{path}")).exists());
}

#[test]
fn siblings_under_a_parent_created_by_the_first_delete_independently() {
    // containerd gives "/<namespace>/<id>": the first container creates the parent, and must
    // be deletable while a sibling still lives in it (pods, several ctr containers).
    let Some(mut a) = bundle("cgroup_sibling_a") else {
        return;
    };
    let Some(mut b) = bundle("cgroup_sibling_b") else {
        return;
    };
    let parent = dm_testkit::unique_id("pod");
    let (pa_path, pb_path) = (format!("{parent}/{}", a.id), format!("{parent}/{}", b.id));
    set(&mut a, "/linux/cgroupsPath", json!(pa_path));
    set(&mut b, "/linux/cgroupsPath", json!(pb_path));
    let pa = started(&mut a, "sleep 1000");
    let pb = started(&mut b, "sleep 1000");
    // The parent exists in every hierarchy; the test made it, so the test removes it, also
    // after a failed assertion (deepest first: the containers' own dirs go with delete).
    let _parents = RemoveOnDrop(
        all_cgroup_dirs(pa)
            .iter()
            .filter_map(|d| d.parent().map(Path::to_owned))
            .collect(),
    );
    let parent_dir = cgroup_dir(pa, "pids").parent().unwrap().to_owned();
    assert_eq!(cgroup_dir(pb, "pids").parent().unwrap(), parent_dir);
    a.run(&["delete", "-f", &a.id]).ok();
    assert!(parent_dir.exists());
    assert_eq!(b.state()["status"], "running");
    b.run(&["delete", "-f", &b.id]).ok();
    assert!(!parent_dir.join(&b.id).exists());
}

/// Cgroup directories a test made, removed when it ends however it ends.
struct RemoveOnDrop(Vec<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Block I/O weights exist only under a weighted scheduler (CFQ, BFQ), which machines of this
/// kind may lack: with one, the weight reaches the container's blkio cgroup; without, create
/// fails naming the field and the missing files, and leaves no state dir, cgroup or process.
#[test]
fn blkio_weight_applied_or_refused_by_name() {
    let Some(mut b) = bundle("blkio_weight") else {
        return;
    };
    set(&mut b, "/linux/resources/blockIO", json!({"weight": 300}));
    let own = cgroup_dir(std::process::id() as i64, "blkio");
    let file = ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| own.join(f).exists());
    let Some(file) = file else {
        eprintln!(
            "SKIP applying a blkio weight: {own:?} has no blkio.weight or blkio.bfq.weight \
             (no CFQ/BFQ scheduler here); checking the refusal instead"
        );
        let out = b.create();
        assert_eq!(out.code, 1, "{out:?}");
        assert!(
            out.stderr.contains("linux.resources.blockIO.weight")
                && out.stderr.contains("blkio.bfq.weight"),
            "{out:?}"
        );
        assert_nothing_left(&b);
        assert!(!own.join(&b.id).exists(), "blkio cgroup left behind");
        assert!(
            !cgroup_dir(std::process::id() as i64, "memory")
                .join(&b.id)
                .exists(),
            "memory cgroup left behind"
        );
        return;
    };
    let pid = started(&mut b, "sleep 1000");
    let weight = read(&cgroup_dir(pid, "blkio").join(file));
    assert!(weight.contains("300"), "{file}: {weight}");
    b.run(&["delete", "-f", &b.id]).ok();
}
