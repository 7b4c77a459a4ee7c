//! `--systemd-cgroup`: the container's cgroup is a transient scope systemd makes, sets and
//! stops over D-Bus. This machine runs no systemd, so a double serves the manager API on a
//! private dbus-daemon (see fake_systemd); what is checked is what a user sees: where the
//! container's processes are (/proc/<pid>/cgroup), the values in the cgroup files, the calls
//! systemd received, and that nothing is left after delete.

mod common;
mod fake_systemd;

use common::*;
use dm_cgroups::driver::systemd::dbus::{Conn, Message, Value};
use fake_systemd::{props, scope_dir, FakeSystemd};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A fake systemd and a bundle whose dm-runc talks to it; None (loud skip) without root or
/// dbus-daemon outside CI. The bundle is returned last so it drops (delete -f) first.
fn setup(test: &str) -> Option<(FakeSystemd, Bundle, String, PathBuf)> {
    if !dm_testkit::require_root(test) || !dm_testkit::require_cmd("dbus-daemon") {
        return None;
    }
    let fake = FakeSystemd::start();
    let mut b = Bundle::new(&runc());
    b.env
        .push(("DBUS_SYSTEM_BUS_ADDRESS".into(), fake.address.clone()));
    // A slice of the test's own (no dash: a dash would nest it under a shared parent slice).
    let slice = format!("{}.slice", dm_testkit::unique_id("dmt").replace('-', "x"));
    let unit = format!("dmtest-{}.scope", b.id);
    let path = format!("{slice}:dmtest:{}", b.id);
    set(&mut b, "/linux/cgroupsPath", json!(path));
    let rel = Path::new(&slice).join(&unit);
    Some((fake, b, unit, rel))
}

fn sd(b: &Bundle, args: &[&str]) -> Output {
    let mut a = vec!["--systemd-cgroup"];
    a.extend_from_slice(args);
    b.run_detached(&a)
}

/// The path of `pid`'s cgroup in hierarchy `ctrl` ("" = cgroup2), from /proc/<pid>/cgroup.
fn cgroup_of(pid: i64, ctrl: &str) -> String {
    let text = read(Path::new(&format!("/proc/{pid}/cgroup")));
    text.lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, c, p) = (f.next()?, f.next()?, f.next()?);
            let hit = if ctrl.is_empty() {
                c.is_empty()
            } else {
                c.split(',').any(|x| x == ctrl)
            };
            hit.then(|| p.to_string())
        })
        .unwrap_or_else(|| panic!("no {ctrl} line: {text}"))
}

const HIERARCHIES: [&str; 6] = ["name=systemd", "memory", "pids", "cpu", "freezer", ""];

#[test]
fn scope_holds_the_container_with_its_limits_update_and_delete() {
    let Some((fake, mut b, unit, rel)) = setup("systemd_scope_lifecycle") else {
        return;
    };
    set(
        &mut b,
        "/linux/resources",
        json!({"memory": {"limit": 67108864}, "pids": {"limit": 50},
               "cpu": {"shares": 512, "quota": 20000, "period": 100000}}),
    );
    b.args(&["sleep", "1000"]);
    let bp = b.path().to_str().unwrap().to_owned();
    sd(&b, &["create", "--bundle", &bp, &b.id]).ok();
    sd(&b, &["start", &b.id]).ok();
    let pid = b.state()["pid"].as_i64().unwrap();

    // In the scope in every hierarchy: those systemd made and those dm-runc joined (freezer).
    for h in HIERARCHIES {
        let path = cgroup_of(pid, h);
        assert!(path.ends_with(&*rel.to_string_lossy()), "{h}: {path}");
    }
    let dir = |ctrl: &str| scope_dir(ctrl, &rel);
    let file = |ctrl: &str, f: &str| read(&dir(ctrl).join(f)).trim().to_string();
    assert_eq!(file("memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(file("pids", "pids.max"), "50");
    assert_eq!(file("cpu", "cpu.shares"), "512");
    assert_eq!(file("cpu", "cpu.cfs_quota_us"), "20000");

    // systemd was asked for a delegated scope holding the init, with the limits it manages.
    let starts = fake.calls_to("StartTransientUnit");
    assert_eq!(starts.len(), 1);
    assert_eq!(starts[0][0].as_str(), Some(unit.as_str()));
    let p = props(&starts[0][2]);
    assert_eq!(p["Delegate"], Value::Bool(true));
    assert_eq!(
        p["PIDs"],
        Value::Array("u".into(), vec![Value::U32(pid as u32)])
    );
    assert_eq!(p["MemoryLimit"], Value::U64(67_108_864));
    assert_eq!(p["TasksMax"], Value::U64(50));
    assert_eq!(p["CPUShares"], Value::U64(512));
    assert_eq!(p["CPUQuotaPerSecUSec"], Value::U64(200_000));

    b.run(&["update", "--memory", "128m", "--pids-limit", "60", &b.id])
        .ok();
    assert_eq!(file("memory", "memory.limit_in_bytes"), "134217728");
    assert_eq!(file("pids", "pids.max"), "60");
    let sets = fake.calls_to("SetUnitProperties");
    let last = props(&sets.last().expect("update set unit properties")[2]);
    assert_eq!(last["MemoryLimit"], Value::U64(134_217_728));
    assert_eq!(last["TasksMax"], Value::U64(60));

    let dirs: Vec<PathBuf> = HIERARCHIES.iter().map(|h| dir(h)).collect();
    let slice_dirs: Vec<PathBuf> = dirs.iter().map(|d| d.parent().unwrap().into()).collect();
    b.run(&["delete", "--force", &b.id]).ok();
    assert_eq!(fake.calls_to("StopUnit").len(), 1);
    for d in dirs.iter().chain(&slice_dirs) {
        assert!(!d.exists(), "{d:?} left behind");
    }
    assert_nothing_left(&b);
}

#[test]
fn exec_joins_the_scope() {
    let Some((_fake, mut b, _unit, rel)) = setup("systemd_exec") else {
        return;
    };
    b.args(&["sleep", "1000"]);
    let bp = b.path().to_str().unwrap().to_owned();
    sd(&b, &["create", "--bundle", &bp, &b.id]).ok();
    sd(&b, &["start", &b.id]).ok();
    let pid_file = b.path().join("exec.pid");
    let pf = pid_file.to_str().unwrap().to_owned();
    b.run_detached(&[
        "exec",
        "--detach",
        "--pid-file",
        &pf,
        &b.id,
        "sleep",
        "1000",
    ])
    .ok();
    let pid: i64 = read(&pid_file).trim().parse().unwrap();
    for h in ["name=systemd", "memory", "freezer", ""] {
        let path = cgroup_of(pid, h);
        assert!(path.ends_with(&*rel.to_string_lossy()), "{h}: {path}");
    }
    b.run(&["delete", "--force", &b.id]).ok();
}

/// A failure after the scope exists (a value the kernel refuses) stops the scope and removes
/// what dm-runc made: no cgroup, no state, no process.
#[test]
fn failed_create_stops_the_scope() {
    let Some((fake, mut b, _unit, rel)) = setup("systemd_failed_create") else {
        return;
    };
    // Valid by the spec, refused by the kernel once the cgroup exists: no such cpu.
    set(&mut b, "/linux/resources", json!({"cpu": {"cpus": "4000"}}));
    let bp = b.path().to_str().unwrap().to_owned();
    let out = sd(&b, &["create", "--bundle", &bp, &b.id]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("linux.resources.cpu.cpus"), "{out:?}");
    assert_eq!(fake.calls_to("StopUnit").len(), 1);
    for h in HIERARCHIES {
        let d = scope_dir(h, &rel);
        assert!(!d.exists(), "{d:?} left behind");
        assert!(!d.parent().unwrap().exists(), "slice of {d:?} left behind");
    }
    assert_nothing_left(&b);
}

/// systemd re-realises a scope's cgroup from its properties (daemon-reload, a sibling unit's
/// change): the container's device rules must be among them, or the reload opens every device.
#[test]
fn device_rules_survive_a_systemd_reload() {
    let Some((fake, mut b, _unit, rel)) = setup("systemd_device_reload") else {
        return;
    };
    b.args(&["sleep", "1000"]);
    let bp = b.path().to_str().unwrap().to_owned();
    sd(&b, &["create", "--bundle", &bp, &b.id]).ok();
    sd(&b, &["start", &b.id]).ok();
    let list = scope_dir("devices", &rel).join("devices.list");
    let before = read(&list);
    assert!(!before.contains("a *:* rwm"), "{before}");
    assert!(before.contains("c 1:3 rwm"), "/dev/null allowed: {before}");

    let mut conn =
        Conn::connect(&fake.address, Duration::from_secs(10)).expect("connect to the bus");
    let reload = Message::call(
        "org.freedesktop.systemd1",
        "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager",
        "Reload",
        vec![],
    );
    conn.call(reload, Duration::from_secs(10)).unwrap();
    let after = read(&list);
    assert!(
        !after.contains("a *:* rwm"),
        "the reload allowed every device: {after}"
    );
    assert_eq!(
        after.lines().collect::<std::collections::BTreeSet<_>>(),
        before.lines().collect::<std::collections::BTreeSet<_>>()
    );
    b.run(&["delete", "--force", &b.id]).ok();
}
