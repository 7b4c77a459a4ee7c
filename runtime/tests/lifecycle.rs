//! Lifecycle, state transitions, exit codes and signals, as runc users see them.

mod common;
use common::*;

#[test]
fn run_prints_output_and_exit_code() {
    let Some(mut b) = bundle("run_prints_output_and_exit_code") else {
        return;
    };
    let out = sh(&mut b, "echo hello; echo err >&2; exit 3");
    assert_eq!(out.stdout, "hello\n");
    assert_eq!(out.stderr, "err\n");
    assert_eq!(out.code, 3);
    assert_nothing_left(&b);
}

#[test]
fn run_reports_death_by_signal_as_128_plus_signal() {
    let Some(mut b) = bundle("run_signal_exit") else {
        return;
    };
    // pid 1 ignores signals it has no handler for, except from outside its namespace.
    b.args(&["sh", "-c", "echo ready; exec sleep 1000"]);
    let (mut child, _out) = spawn_run_ready(&b);
    b.run(&["kill", &b.id, "KILL"]).ok();
    assert_eq!(child.wait().unwrap().code(), Some(137));
    assert_nothing_left(&b);
}

#[test]
fn create_start_state_kill_delete() {
    let Some(mut b) = bundle("create_start_state_kill_delete") else {
        return;
    };
    b.args(&["sleep", "1000"]);
    let pidfile = b.path().join("init.pid");
    let bp = b.path().to_str().unwrap().to_owned();
    b.run_detached(&[
        "create",
        "--bundle",
        &bp,
        "--pid-file",
        pidfile.to_str().unwrap(),
        &b.id,
    ])
    .ok();
    let st = b.state();
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], b.id.as_str());
    assert_eq!(st["bundle"], bp.as_str());
    let pid = st["pid"].as_i64().unwrap();
    assert_eq!(read(&pidfile).trim(), pid.to_string());
    // The init is blocked before exec: it is still dm-runc, not sleep.
    assert!(!read(std::path::Path::new(&format!("/proc/{pid}/cmdline"))).starts_with("sleep"));
    let listed = b.run(&["list", "--format", "json"]).ok();
    assert!(listed.stdout.contains(&b.id));
    b.run(&["start", &b.id]).ok();
    assert_eq!(b.state()["status"], "running");
    assert!(eventually(5, || read(std::path::Path::new(&format!(
        "/proc/{pid}/cmdline"
    )))
    .starts_with("sleep")));
    // Deleting a running container without --force fails and keeps it.
    let out = b.run(&["delete", &b.id]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("not stopped"), "{out:?}");
    b.run(&["kill", &b.id, "KILL"]).ok();
    assert!(eventually(5, || b.state()["status"] == "stopped"));
    assert_eq!(b.state()["pid"], 0);
    // Starting a stopped container is refused.
    assert_ne!(b.run(&["start", &b.id]).code, 0);
    b.run(&["delete", &b.id]).ok();
    assert_eq!(b.run(&["state", &b.id]).code, 1);
    assert_nothing_left(&b);
}

#[test]
fn delete_force_kills_a_running_container() {
    let Some(mut b) = bundle("delete_force") else {
        return;
    };
    start_sleeping(&mut b);
    b.run(&["delete", "--force", &b.id]).ok();
    assert_nothing_left(&b);
    // A second forced delete of a missing container succeeds (containerd does this).
    b.run(&["delete", "--force", &b.id]).ok();
    assert_ne!(b.run(&["delete", &b.id]).code, 0);
}

#[test]
fn delete_of_created_container_kills_its_init() {
    let Some(b) = bundle("delete_created") else {
        return;
    };
    b.create().ok();
    let pid = b.state()["pid"].as_i64().unwrap();
    b.run(&["delete", &b.id]).ok();
    assert!(eventually(5, || !std::path::Path::new(&format!(
        "/proc/{pid}/cmdline"
    ))
    .exists()
        || read(std::path::Path::new(&format!("/proc/{pid}/stat")))
            .contains(") Z")));
    assert_nothing_left(&b);
}

#[test]
fn kill_by_name_and_number_and_stopped_container() {
    let Some(mut b) = bundle("kill_names") else {
        return;
    };
    b.args(&[
        "sh",
        "-c",
        "trap 'exit 42' USR1; while true; do sleep 0.05; done",
    ]);
    b.create().ok();
    b.run(&["start", &b.id]).ok();
    assert_ne!(b.run(&["kill", &b.id, "NOSUCHSIG"]).code, 0);
    // Wait for the trap to be installed before signalling.
    let pid = b.state()["pid"].as_i64().unwrap();
    assert!(eventually(5, || read(std::path::Path::new(&format!(
        "/proc/{pid}/status"
    )))
    .lines()
    .any(
        |l| l.starts_with("SigCgt:") && !l.ends_with("0000000000000000")
    )));
    b.run(&["kill", &b.id, "10"]).ok();
    assert!(eventually(5, || b.state()["status"] == "stopped"));
    let out = b.run(&["kill", &b.id, "SIGKILL"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("not running"), "{out:?}");
}

#[test]
fn run_forwards_signals_to_the_container() {
    let Some(mut b) = bundle("run_forwards_signals") else {
        return;
    };
    b.args(&[
        "sh",
        "-c",
        "trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.05; done",
    ]);
    let (mut child, mut out) = spawn_run_ready(&b);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let st = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(rest, "got-term\n");
    assert_eq!(st.code(), Some(7));
    assert_nothing_left(&b);
}

#[test]
fn run_detach_leaves_it_running() {
    let Some(mut b) = bundle("run_detach") else {
        return;
    };
    b.args(&["sleep", "1000"]);
    let bp = b.path().to_str().unwrap().to_owned();
    b.run_detached(&["run", "-d", "--bundle", &bp, &b.id]).ok();
    assert_eq!(b.state()["status"], "running");
    b.run(&["delete", "-f", &b.id]).ok();
}

#[test]
fn every_1x_oci_version_runs() {
    let Some(mut b) = bundle("oci_versions") else {
        return;
    };
    for v in ["1.0.0", "1.1.0", "1.3.0"] {
        set(&mut b, "/ociVersion", serde_json::json!(v));
        assert_eq!(b.run_container().code, 0, "ociVersion {v}");
    }
}

#[test]
fn json_log_lines_on_failure() {
    let Some(b) = bundle("json_log") else { return };
    let log = b.path().join("log.json");
    let out = b.run(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        "no-such-ctr",
    ]);
    assert_eq!(out.code, 1);
    let last = read(&log).lines().last().unwrap().to_owned();
    let v: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(v["level"], "error");
    assert_eq!(v["msg"], "container does not exist");
    assert!(v["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(out.stderr.trim(), "container does not exist");
}
