//! containerd-shim-dockermind-v2 under a real containerd 1.6, driven by ctr. Every scenario runs
//! twice: with dm-runc (the default) and with runc via BinaryName (proves the shim itself).

mod common;

use common::{cgroup_file, under_pty, Backend, Env, STATE_WAIT};
use dm_testkit::unique_id;

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[test]
            fn dm_runc() {
                super::$name(Backend::DmRunc)
            }
            #[test]
            fn runc() {
                super::$name(Backend::Runc)
            }
        }
    )*};
}

both_backends!(
    run_rm_prints_and_returns_exit_code,
    container_that_exits_immediately,
    stdin_is_piped_through,
    run_with_terminal,
    detached_exec_ps_pause_metrics_kill_delete,
    twenty_containers_at_once,
);

fn run_rm_prints_and_returns_exit_code(b: Backend) {
    let Some(env) = Env::new("run_rm_prints_and_returns_exit_code", b) else {
        return;
    };
    let id = unique_id("c");
    let out = env.run(
        &["--rm"],
        &id,
        &["sh", "-c", "echo out; echo err >&2; exit 7"],
    );
    assert_eq!(out.stdout, "out\n", "{out:?}\n{}", env.ctd.log());
    assert!(out.stderr.contains("err"), "{out:?}");
    assert_eq!(out.code, 7, "{out:?}");
    assert!(
        env.ctr.container_ids().is_empty(),
        "--rm left the container"
    );
}

fn container_that_exits_immediately(b: Backend) {
    let Some(env) = Env::new("container_that_exits_immediately", b) else {
        return;
    };
    let out = env.run(&["--rm"], &unique_id("c"), &["true"]);
    assert_eq!(out.code, 0, "{out:?}\n{}", env.ctd.log());
    let out = env.run(&["--rm"], &unique_id("c"), &["false"]);
    assert_eq!(out.code, 1, "{out:?}");
    let out = env.run(&["--rm"], &unique_id("c"), &["/no/such/binary"]);
    assert_ne!(out.code, 0, "a missing binary must fail: {out:?}");
    assert!(env.ctr.container_ids().is_empty() || out.code != 0);
}

fn stdin_is_piped_through(b: Backend) {
    let Some(env) = Env::new("stdin_is_piped_through", b) else {
        return;
    };
    let id = unique_id("c");
    let mut cmd = env.run_cmd(
        &["--rm"],
        &id,
        &["sh", "-c", "read a; read b; echo got $a $b; cat"],
    );
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"one\ntwo\nrest of it\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        "got one two\nrest of it\n",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
}

fn run_with_terminal(b: Backend) {
    let Some(env) = Env::new("run_with_terminal", b) else {
        return;
    };
    if !dm_testkit::require_cmd("script") {
        return;
    }
    let id = unique_id("c");
    let cmd = env.run_cmd(&["--rm", "-t"], &id, &["sh", "-c", "tty; exit 5"]);
    let out = under_pty(&cmd);
    assert!(
        out.stdout.contains("/dev/pts/"),
        "{out:?}\n{}",
        env.ctd.log()
    );
    assert_eq!(out.code, 5, "{out:?}");
}

fn detached_exec_ps_pause_metrics_kill_delete(b: Backend) {
    let Some(env) = Env::new("detached_exec_ps_pause_metrics_kill_delete", b) else {
        return;
    };
    let id = unique_id("c");
    env.run_detached(&id);
    let pid = env.task_pid(&id);
    let ctr = &env.ctr;

    let out = ctr.run(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        &id,
        "sh",
        "-c",
        "echo pid1 is $(cat /proc/1/comm); exit 3",
    ]);
    assert_eq!(out.stdout, "pid1 is sleep\n", "{out:?}");
    assert_eq!(out.code, 3, "{out:?}");

    if dm_testkit::require_cmd("script") {
        let cmd = ctr.cmd(&[
            "task",
            "exec",
            "-t",
            "--exec-id",
            "e2",
            &id,
            "sh",
            "-c",
            "tty; exit 4",
        ]);
        let out = under_pty(&cmd);
        assert!(out.stdout.contains("/dev/pts/"), "{out:?}");
        assert_eq!(out.code, 4, "{out:?}");
    }

    let out = ctr.ok(&["task", "ps", &id]);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.split_whitespace().next() == Some(&pid.to_string())),
        "init pid {pid} not in task ps: {out:?}"
    );

    ctr.ok(&["task", "pause", &id]);
    ctr.wait_status(&id, "PAUSED", STATE_WAIT);
    let frozen = std::fs::read_to_string(cgroup_file(
        "freezer",
        ctr.namespace(),
        &id,
        "freezer.state",
    ))
    .unwrap();
    assert_eq!(frozen.trim(), "FROZEN");
    ctr.ok(&["task", "resume", &id]);
    ctr.wait_status(&id, "RUNNING", STATE_WAIT);
    let thawed = std::fs::read_to_string(cgroup_file(
        "freezer",
        ctr.namespace(),
        &id,
        "freezer.state",
    ))
    .unwrap();
    assert_eq!(thawed.trim(), "THAWED");

    let out = ctr.ok(&["task", "metrics", &id]);
    assert!(out.stdout.contains("memory.usage_in_bytes"), "{out:?}");
    assert!(out.stdout.contains("pids.current"), "{out:?}");

    ctr.ok(&["task", "kill", "-s", "SIGKILL", &id]);
    ctr.wait_status(&id, "STOPPED", STATE_WAIT);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists() || {
            let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            !s.contains("sleep")
        }
    );
    ctr.ok(&["task", "delete", &id]);
    assert!(ctr.task_ids().is_empty());
    ctr.ok(&["container", "delete", &id]);
}

fn twenty_containers_at_once(b: Backend) {
    let Some(env) = Env::new("twenty_containers_at_once", b) else {
        return;
    };
    let children: Vec<_> = (0..20)
        .map(|i| {
            let mut c = env.run_cmd(
                &["--rm"],
                &format!("many-{i}"),
                &["sh", "-c", &format!("echo n{i}; exit {i}")],
            );
            c.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("n{i}\n"),
            "stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(i as i32));
    }
    assert!(env.ctr.container_ids().is_empty());
}
