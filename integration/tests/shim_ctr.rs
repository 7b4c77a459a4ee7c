//! containerd-shim-dockermind-v2 under a real containerd 1.6, driven by ctr. Every scenario runs
//! twice: with dm-runc (the default) and with runc via BinaryName (proves the shim itself).

mod common;

use common::{cgroup_file, topics_of, under_pty, Backend, Env, STATE_WAIT};
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
    detached_exec,
    detached_exec_with_terminal,
    ps_lists_init_and_exec,
    pause_and_resume_freeze_the_cgroup,
    metrics_come_from_the_cgroup,
    kill_stops_and_delete_removes,
    kill_all_reaches_every_process,
    twenty_containers_at_once,
    pod_containers_share_one_shim,
    file_log_uri,
    binary_log_uri,
    oom_kill_is_reported,
    execs_die_with_their_init,
    events_arrive_in_lifecycle_order,
    checkpoint_is_refused_clearly,
    null_io_task_runs,
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

fn null_io_task_runs(b: Backend) {
    let Some(env) = Env::new("null_io_task_runs", b) else {
        return;
    };
    // No stdio at all (CRI's pod sandboxes, `ctr run --null-io`): the runtime's own stdout and
    // stderr must not reach the container, or a shim reading them to EOF waits for its exit.
    let id = unique_id("c");
    let mut run = env.run_cmd(&["--null-io", "-d"], &id, &["sleep", "1000"]);
    run.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut run = run.spawn().unwrap();
    env.ctr.wait_status(&id, "RUNNING", STATE_WAIT);
    assert!(run.wait().unwrap().success());
    let pid = env.task_pid(&id);
    for fd in 0..3 {
        let target = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
        assert_eq!(target, std::path::Path::new("/dev/null"), "fd {fd}");
    }
    env.remove(&id);
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
    use std::io::{BufRead, Read, Write};
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"one\ntwo\nrest of it\n").unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert_eq!(first, "got one two\n");
    // The shim holds stdin open as containerd's runc shim does: the process sees EOF once ctr
    // closes its end and sends CloseIO, which ctr does only for an EOF after its task exists.
    drop(stdin);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    assert_eq!(rest, "rest of it\n", "stderr: {err}");
    assert!(status.success());
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

fn detached_exec(b: Backend) {
    let Some(env) = Env::new("detached_exec", b) else {
        return;
    };
    let id = unique_id("c");
    env.run_detached(&id);
    let out = env.ctr.run(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        &id,
        "sh",
        "-c",
        "echo pid1 is $(cat /proc/1/comm); echo oops >&2; exit 3",
    ]);
    assert_eq!(out.stdout, "pid1 is sleep\n", "{out:?}");
    assert!(out.stderr.contains("oops"), "{out:?}");
    assert_eq!(out.code, 3, "{out:?}");
    // The exec id is free again once its process was deleted.
    let out = env
        .ctr
        .run(&["task", "exec", "--exec-id", "e1", &id, "true"]);
    assert_eq!(out.code, 0, "{out:?}");
    env.remove(&id);
}

fn detached_exec_with_terminal(b: Backend) {
    let Some(env) = Env::new("detached_exec_with_terminal", b) else {
        return;
    };
    if !dm_testkit::require_cmd("script") {
        return;
    }
    let id = unique_id("c");
    env.run_detached(&id);
    let cmd = env.ctr.cmd(&[
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
    env.remove(&id);
}

fn ps_lists_init_and_exec(b: Backend) {
    let Some(env) = Env::new("ps_lists_init_and_exec", b) else {
        return;
    };
    let id = unique_id("c");
    env.run_detached(&id);
    let pid = env.task_pid(&id);
    let out = env
        .ctr
        .run(&["task", "exec", "-d", "--exec-id", "bg", &id, "sleep", "999"]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = env.ctr.ok(&["task", "ps", &id]);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.split_whitespace().next() == Some(&pid.to_string())),
        "init pid {pid} not in task ps: {out:?}"
    );
    assert!(out.stdout.contains("bg"), "exec id not in task ps: {out:?}");
    env.remove(&id);
}

fn pause_and_resume_freeze_the_cgroup(b: Backend) {
    let Some(env) = Env::new("pause_and_resume_freeze_the_cgroup", b) else {
        return;
    };
    let id = unique_id("c");
    env.run_detached(&id);
    let ctr = &env.ctr;
    let state = cgroup_file("freezer", ctr.namespace(), &id, "freezer.state");
    ctr.ok(&["task", "pause", &id]);
    ctr.wait_status(&id, "PAUSED", STATE_WAIT);
    assert_eq!(std::fs::read_to_string(&state).unwrap().trim(), "FROZEN");
    ctr.ok(&["task", "resume", &id]);
    ctr.wait_status(&id, "RUNNING", STATE_WAIT);
    assert_eq!(std::fs::read_to_string(&state).unwrap().trim(), "THAWED");
    env.remove(&id);
}

fn metrics_come_from_the_cgroup(b: Backend) {
    let Some(env) = Env::new("metrics_come_from_the_cgroup", b) else {
        return;
    };
    let id = unique_id("c");
    env.run_detached(&id);
    let out = env.ctr.ok(&["task", "metrics", &id]);
    let pids = std::fs::read_to_string(cgroup_file(
        "pids",
        env.ctr.namespace(),
        &id,
        "pids.current",
    ))
    .unwrap();
    let value = |key: &str| -> String {
        let line = out
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no {key}: {out:?}"));
        line.split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(value("pids.current"), pids.trim(), "{out:?}");
    let limit = std::fs::read_to_string(cgroup_file(
        "memory",
        env.ctr.namespace(),
        &id,
        "memory.limit_in_bytes",
    ))
    .unwrap();
    assert_eq!(value("memory.limit_in_bytes"), limit.trim(), "{out:?}");
    assert!(
        value("memory.usage_in_bytes").parse::<u64>().unwrap() > 0,
        "{out:?}"
    );
    // Starting busybox took CPU time, and cpuacct counted it.
    assert!(
        value("cpuacct.usage").parse::<u64>().unwrap() > 0,
        "{out:?}"
    );
    env.remove(&id);
}

fn kill_stops_and_delete_removes(b: Backend) {
    let Some(env) = Env::new("kill_stops_and_delete_removes", b) else {
        return;
    };
    let id = unique_id("c");
    env.run_detached(&id);
    let pid = env.task_pid(&id);
    let ctr = &env.ctr;
    ctr.ok(&["task", "kill", "-s", "SIGKILL", &id]);
    ctr.wait_status(&id, "STOPPED", STATE_WAIT);
    assert!(!alive(pid), "init {pid} still runs after kill");
    let out = ctr.run(&["task", "kill", "-s", "SIGKILL", &id]);
    assert_ne!(out.code, 0, "killing a stopped task must fail: {out:?}");
    ctr.ok(&["task", "delete", &id]);
    assert!(ctr.task_ids().is_empty());
    assert!(!env.ctd.bundle_dir(ctr.namespace(), &id).exists());
    ctr.ok(&["container", "delete", &id]);
}

fn kill_all_reaches_every_process(b: Backend) {
    let Some(env) = Env::new("kill_all_reaches_every_process", b) else {
        return;
    };
    let id = unique_id("c");
    env.run_detached(&id);
    let out = env
        .ctr
        .run(&["task", "exec", "-d", "--exec-id", "bg", &id, "sleep", "999"]);
    assert_eq!(out.code, 0, "{out:?}");
    env.ctr.ok(&["task", "kill", "--all", "-s", "SIGKILL", &id]);
    env.ctr.wait_status(&id, "STOPPED", STATE_WAIT);
    env.ctr.ok(&["task", "delete", &id]);
    env.ctr.ok(&["container", "delete", &id]);
}

/// Whether `pid` exists and is not a zombie.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
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

fn pod_containers_share_one_shim(b: Backend) {
    let Some(env) = Env::new("pod_containers_share_one_shim", b) else {
        return;
    };
    let group = format!("io.kubernetes.cri.sandbox-id={}", unique_id("pod"));
    let (a, c) = (unique_id("a"), unique_id("b"));
    for id in [&a, &c] {
        let out = env.run(&["-d", "--annotation", &group], id, &["sleep", "1000"]);
        assert_eq!(out.code, 0, "{out:?}\n{}", env.ctd.log());
        env.ctr.wait_status(id, "RUNNING", STATE_WAIT);
    }
    assert_eq!(env.ctd.shim_pids().len(), 1, "a pod must cost one shim");
    let out = env
        .ctr
        .run(&["task", "exec", "--exec-id", "x", &c, "sh", "-c", "exit 9"]);
    assert_eq!(out.code, 9, "{out:?}");
    env.remove(&a);
    assert_eq!(env.ctr.task_status(&c).as_deref(), Some("RUNNING"));
    assert_eq!(
        env.ctd.shim_pids().len(),
        1,
        "the shim must outlive one of its containers"
    );
    env.remove(&c);
    let deadline = std::time::Instant::now() + STATE_WAIT;
    while !env.ctd.shim_pids().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "shim did not exit after its pod"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn file_log_uri(b: Backend) {
    let Some(env) = Env::new("file_log_uri", b) else {
        return;
    };
    let dir = dm_testkit::TempDir::new("dm-log");
    let log = dir.path().join("sub/c.log");
    let uri = format!("file://{}", log.display());
    let out = env.run(
        &["--rm", "--log-uri", &uri],
        &unique_id("c"),
        &["sh", "-c", "echo to-file; echo err-too >&2; exit 2"],
    );
    assert_eq!(out.code, 2, "{out:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("to-file\n") && text.contains("err-too\n"),
        "{text:?}"
    );
}

fn binary_log_uri(b: Backend) {
    let Some(env) = Env::new("binary_log_uri", b) else {
        return;
    };
    let dir = dm_testkit::TempDir::new("dm-log");
    let logger = dir.path().join("logger.sh");
    let sink = dir.path().join("sink");
    // containerd's binary logging protocol: stdout on fd 3, stderr on fd 4, close fd 5 when
    // ready; query parameters become arguments; the container's id is in the environment.
    std::fs::write(
        &logger,
        "#!/bin/sh\nexec 5>&-\necho \"id=$CONTAINER_ID ns=$CONTAINER_NAMESPACE\" > \"$2\"\n\
         cat <&3 >> \"$2\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&logger, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let uri = format!("binary://{}?sink={}", logger.display(), sink.display());
    let id = unique_id("c");
    let out = env.run(
        &["--rm", "--log-uri", &uri],
        &id,
        &["sh", "-c", "echo via-logger"],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let want = format!("id={id} ns={}\nvia-logger\n", env.ctr.namespace());
    let deadline = std::time::Instant::now() + STATE_WAIT;
    loop {
        let got = std::fs::read_to_string(&sink).unwrap_or_default();
        if got == want {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "logger wrote {got:?}, want {want:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn oom_kill_is_reported(b: Backend) {
    let Some(env) = Env::new("oom_kill_is_reported", b) else {
        return;
    };
    let mut events = env.ctr.cmd(&["events"]);
    events
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut events = events.spawn().unwrap();
    let id = unique_id("c");
    let out = env.run(
        &["--rm", "--memory-limit", "16777216"],
        &id,
        // Bounded (about 64 MiB) so a runtime that ignores the limit cannot eat the host.
        &[
            "sh",
            "-c",
            "x=aaaaaaaa; i=0; while [ $i -lt 23 ]; do x=$x$x; i=$((i+1)); done",
        ],
    );
    assert_eq!(
        out.code, 137,
        "the shell must be OOM-killed at 16 MiB: {out:?}"
    );
    // ctr events prints each event as one line; TaskOOM precedes the exit it caused.
    let _ = events.kill();
    let seen = events.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&seen.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains("/tasks/oom") && l.contains(&id)),
        "no /tasks/oom for {id} in:\n{text}"
    );
}

fn execs_die_with_their_init(b: Backend) {
    let Some(env) = Env::new("execs_die_with_their_init", b) else {
        return;
    };
    let id = unique_id("c");
    env.run_detached(&id);
    let init = env.task_pid(&id);
    let out = env
        .ctr
        .run(&["task", "exec", "-d", "--exec-id", "bg", &id, "sleep", "777"]);
    assert_eq!(out.code, 0, "{out:?}");
    let ps = env.ctr.ok(&["task", "ps", &id]);
    let exec_pid: i32 = ps
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .find(|p| *p != init)
        .unwrap_or_else(|| panic!("no exec pid in {ps:?}"));
    env.ctr.ok(&["task", "kill", "-s", "SIGKILL", &id]);
    env.ctr.wait_status(&id, "STOPPED", STATE_WAIT);
    assert!(!alive(exec_pid), "exec {exec_pid} outlived its init");
    env.ctr.ok(&["task", "delete", &id]);
    env.ctr.ok(&["container", "delete", &id]);
}

/// The race `events_arrive_in_lifecycle_order` can only catch under load, forced: every
/// process exits and is reaped while the call starting it is still running.
#[test]
fn exit_reaped_during_start_is_published_after_the_start_event() {
    let Some(env) = Env::new(
        "exit_reaped_during_start_is_published_after_the_start_event",
        Backend::ReapedBeforeStart,
    ) else {
        return;
    };
    let events = env.listen_events();
    let held = unique_id("held");
    let out = env.run(&["--rm"], &held, &["true"]);
    assert_eq!(out.code, 0, "{out:?}\n{}", env.ctd.log());
    let id = container_with_a_quick_exec(&env);
    let text = events.until(&id, "/tasks/delete");
    assert_eq!(
        topics_of(&text, &held),
        INIT_ONLY,
        "events of {held}:\n{text}"
    );
    assert_eq!(topics_of(&text, &id), WITH_EXEC, "events of {id}:\n{text}");
}

/// Runs a container, an exec of `true` in it, and removes it; its id.
fn container_with_a_quick_exec(env: &Env) -> String {
    let id = unique_id("c");
    env.run_detached(&id);
    let out = env
        .ctr
        .run(&["task", "exec", "--exec-id", "quick", &id, "true"]);
    assert_eq!(out.code, 0, "{out:?}");
    env.remove(&id);
    id
}

/// The task events of a container whose init runs and exits.
const INIT_ONLY: [&str; 4] = [
    "/tasks/create",
    "/tasks/start",
    "/tasks/exit",
    "/tasks/delete",
];
/// The task events of a container with one exec that exits before its init.
const WITH_EXEC: [&str; 7] = [
    "/tasks/create",
    "/tasks/start",
    "/tasks/exec-added",
    "/tasks/exec-started",
    "/tasks/exit",
    "/tasks/exit",
    "/tasks/delete",
];

fn events_arrive_in_lifecycle_order(b: Backend) {
    let Some(env) = Env::new("events_arrive_in_lifecycle_order", b) else {
        return;
    };
    let events = env.listen_events();
    // Processes that exit at once race the shim's own bookkeeping; none of their exits may be
    // lost or reported before their start.
    let ids: Vec<String> = (0..5).map(|_| unique_id("fast")).collect();
    for id in &ids {
        let out = env.run(&["--rm"], id, &["true"]);
        assert_eq!(out.code, 0, "{out:?}");
    }
    let id = container_with_a_quick_exec(&env);
    let text = events.until(&id, "/tasks/delete");
    for id in &ids {
        assert_eq!(topics_of(&text, id), INIT_ONLY, "events of {id}:\n{text}");
    }
    assert_eq!(topics_of(&text, &id), WITH_EXEC, "events of {id}:\n{text}");
}

fn checkpoint_is_refused_clearly(b: Backend) {
    let Some(env) = Env::new("checkpoint_is_refused_clearly", b) else {
        return;
    };
    let id = unique_id("c");
    env.run_detached(&id);
    let out = env.ctr.run(&["task", "checkpoint", &id]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("not supported"), "{out:?}");
    env.ctr.wait_status(&id, "RUNNING", STATE_WAIT);
    env.remove(&id);
}
