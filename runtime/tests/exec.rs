//! exec into a running container: namespaces, cgroup, user, env, cwd, tty, detach, pid file.

mod common;
use common::*;
use std::path::Path;

fn running(test: &str) -> Option<Bundle> {
    let mut b = bundle(test)?;
    set(&mut b, "/hostname", serde_json::json!("exec-host"));
    start_sleeping(&mut b);
    Some(b)
}

#[test]
fn exec_joins_namespaces_and_cgroup() {
    let Some(b) = running("exec_joins") else {
        return;
    };
    let init = b.state()["pid"].as_i64().unwrap();
    let out = b.run(&["exec", &b.id, "sh", "-c", "hostname; for n in pid net mnt uts ipc; do readlink /proc/self/ns/$n; done; cat /proc/self/cgroup"]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "exec-host");
    for (i, n) in ["pid", "net", "mnt", "uts", "ipc"].iter().enumerate() {
        let want = std::fs::read_link(format!("/proc/{init}/ns/{n}")).unwrap();
        assert_eq!(lines[1 + i], want.to_str().unwrap(), "{n}");
    }
    // Inside its cgroup namespace the container's cgroup is the root.
    assert!(lines[6..].iter().any(|l| l.ends_with(":pids:/")), "{out:?}");
}

#[test]
fn exec_exit_code_user_env_cwd() {
    let Some(b) = running("exec_user_env") else {
        return;
    };
    let out = b.run(&[
        "exec",
        "--user",
        "1000:2000",
        "--env",
        "FOO=bar",
        "--cwd",
        "/tmp",
        &b.id,
        "sh",
        "-c",
        "id -u; id -g; echo $FOO; pwd; exit 5",
    ]);
    assert_eq!(out.code, 5);
    assert_eq!(out.stdout, "1000\n2000\nbar\n/tmp\n", "{out:?}");
}

#[test]
fn exec_with_process_json_and_missing_binary() {
    let Some(b) = running("exec_process_json") else {
        return;
    };
    let p = b.path().join("process.json");
    std::fs::write(&p, serde_json::to_vec(&serde_json::json!({
        "args": ["sh", "-c", "echo $X; grep CapEff /proc/self/status"], "env": ["X=from-json", "PATH=/bin"], "cwd": "/",
        "user": {"uid": 0, "gid": 0}, "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}
    })).unwrap()).unwrap();
    let out = b
        .run(&["exec", "--process", p.to_str().unwrap(), &b.id])
        .ok();
    assert!(out.stdout.starts_with("from-json\n"), "{out:?}");
    assert!(out.stdout.trim().ends_with("0000000000000020"), "{out:?}");
    let out = b.run(&["exec", &b.id, "no-such-binary"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("executable file not found"), "{out:?}");
}

#[test]
fn exec_detach_writes_pid_file() {
    let Some(b) = running("exec_detach") else {
        return;
    };
    let pidfile = b.path().join("exec.pid");
    b.run_detached(&[
        "exec",
        "-d",
        "--pid-file",
        pidfile.to_str().unwrap(),
        &b.id,
        "sleep",
        "77",
    ])
    .ok();
    let pid: i32 = read(&pidfile).trim().parse().unwrap();
    let cmd = read(Path::new(&format!("/proc/{pid}/cmdline")));
    assert_eq!(cmd, "sleep\x0077\x00");
    let ps: Vec<i64> =
        serde_json::from_str(&b.run(&["ps", "--format", "json", &b.id]).ok().stdout).unwrap();
    assert!(ps.contains(&(pid as i64)), "{ps:?}");
}

#[test]
fn exec_in_stopped_container_fails() {
    let Some(b) = running("exec_stopped") else {
        return;
    };
    b.run(&["kill", &b.id, "KILL"]).ok();
    assert!(eventually(5, || b.state()["status"] == "stopped"));
    let out = b.run(&["exec", &b.id, "true"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("stopped"), "{out:?}");
}
