//! Containers through the real docker CLI: run (attached, --rm, exit codes, stdout/stderr),
//! detached containers with ps, logs, stop, rm; bad input; a daemon SIGKILLed and restarted
//! while a container runs; nothing left behind.

mod common;

use common::{assert_clean, prerequisites, Dmd, TestRegistry};
use dm_integration::poll;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

#[test]
fn docker_run_logs_stop_rm_workflow() {
    if !prerequisites("docker_run_logs_stop_rm_workflow") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    let image = reg.image.as_str();
    d.ok(&["pull", image]);

    assert_eq!(d.ok(&["run", "--rm", image, "echo", "hi"]), "hi\n");
    let o = d.docker(&["run", "--rm", image, "sh", "-c", "exit 3"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = d.docker(&["run", "--rm", image, "sh", "-c", "echo out; echo err >&2"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "err\n");
    // The container's view: its own hostname, a network namespace with loopback only, limits.
    let o = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-m",
        "64m",
        "--pids-limit",
        "50",
        "-w",
        "/tmp",
        "-e",
        "A=b",
        image,
        "sh",
        "-c",
        "pwd; echo $A; cat /sys/fs/cgroup/pids/pids.max; ls /sys/class/net",
    ]);
    assert_eq!(o, "/tmp\nb\n50\nlo\n");
    assert_eq!(d.ok(&["ps", "-aq"]), "", "--rm containers are gone");

    // -i: the CLI's stdin reaches the process, and its end closes the process's stdin.
    let mut child = d
        .cmd(&["run", "-i", "--rm", image, "sh", "-c", "cat; echo done"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello\ndone\n");
    // -t: a terminal, raw output (the pty turns \n into \r\n).
    assert_eq!(
        d.ok(&[
            "run",
            "-t",
            "--rm",
            image,
            "sh",
            "-c",
            "test -t 1 && echo tty"
        ]),
        "tty\r\n"
    );

    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "x1",
        image,
        "sh",
        "-c",
        "echo started; exec sleep 1000",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    let ps = d.ok(&["ps", "--format", "{{.Names}} {{.Status}} {{.Command}}"]);
    assert!(ps.starts_with("x1 Up"), "{ps}");
    let logs = poll("the log line", Duration::from_secs(10), || {
        let l = d.ok(&["logs", "x1"]);
        l.contains("started").then_some(l)
    });
    assert_eq!(logs, "started\n");
    let pid = d.ok(&["inspect", "--format", "{{.State.Pid}}", "x1"]);
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", pid.trim())).unwrap();
    assert_eq!(comm.trim(), "sleep");
    assert_eq!(d.ok(&["exec", "x1", "echo", "in"]), "in\n");
    let o = d.docker(&["exec", "x1", "sh", "-c", "echo e >&2; exit 5"]);
    assert_eq!(
        (o.status.code(), String::from_utf8_lossy(&o.stderr).as_ref()),
        (Some(5), "e\n")
    );
    // As with dockerd: exit 126, the runtime's error on the stream.
    let o = d.docker(&["exec", "x1", "/no/such"]);
    assert_eq!(o.status.code(), Some(126));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("/no/such"),
        "{o:?}"
    );
    let err = d.fails(&["rm", "x1"]);
    assert!(err.contains("cannot remove a running container"), "{err}");
    assert_eq!(d.ok(&["stop", "-t", "1", "x1"]).trim(), "x1");
    let st = d.ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}}",
        "x1",
    ]);
    assert_eq!(
        st.trim(),
        "exited 137",
        "pid 1 ignores SIGTERM: SIGKILL after -t 1"
    );
    assert!(d
        .ok(&["ps", "-a", "--format", "{{.Status}}"])
        .starts_with("Exited (137)"));
    assert_eq!(d.ok(&["rm", "x1"]).trim(), "x1");
    assert_eq!(d.ok(&["ps", "-aq"]), "");

    // Bad input: docker's error messages and nothing left behind.
    assert!(d
        .fails(&["rm", "nosuch"])
        .contains("No such container: nosuch"));
    assert!(d.fails(&["logs", "nosuch"]).contains("No such container"));
    let err = d.fails(&["run", "--rm", "-v", "/tmp:relative", image, "true"]);
    assert!(err.contains("mount path must be absolute"), "{err}");
    // docker's name pattern needs two characters at least.
    let err = d.fails(&["create", "--name", "x", image]);
    assert!(err.contains("Invalid container name"), "{err}");
    let err = d.fails(&["run", "--rm", image, "/no/such/binary"]);
    assert!(err.contains("/no/such/binary"), "{err}");
    d.ok(&["create", "--name", "dup", image, "true"]);
    let err = d.fails(&["create", "--name", "dup", image, "true"]);
    assert!(err.contains("is already in use"), "{err}");
    d.ok(&["rm", "dup"]);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    // Only the image's one layer is left in the snapshotter: no container snapshot survived.
    let snaps = std::fs::read_dir(d.root().join("snapshots/snapshots"))
        .unwrap()
        .count();
    assert_eq!(snaps, 1, "snapshots left");
    assert_clean(&mut d);
}

#[test]
fn containers_survive_a_daemon_sigkill() {
    if !prerequisites("containers_survive_a_daemon_sigkill") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    let image = reg.image.as_str();
    d.ok(&["pull", image]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "keep",
        image,
        "sh",
        "-c",
        "echo one; exec sleep 1000",
    ]);
    let pid = d.ok(&["inspect", "--format", "{{.State.Pid}}", "keep"]);
    poll("the first log line", Duration::from_secs(10), || {
        d.ok(&["logs", "keep"]).contains("one").then_some(())
    });

    d.kill9();
    assert!(
        std::path::Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "the container outlives the daemon"
    );
    d.spawn();
    let ps = d.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("keep Up"), "{ps}\n{}", d.log());
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.State.Pid}}", "keep"]),
        pid
    );
    assert_eq!(d.ok(&["stop", "-t", "1", "keep"]).trim(), "keep");
    let st = d.ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}}",
        "keep",
    ]);
    assert_eq!(st.trim(), "exited 137");
    assert_eq!(d.ok(&["logs", "keep"]), "one\n");
    d.ok(&["rm", "keep"]);
    assert_clean(&mut d);
}

/// A test that ends with containers still running (live restore keeps their shims) must not
/// leave the shims' sockets in /run/containerd/s when the harness kills them.
#[test]
fn a_harness_dropped_with_running_containers_leaves_no_shim_socket() {
    if !prerequisites("a_harness_dropped_with_running_containers_leaves_no_shim_socket") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let d = Dmd::start();
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        &reg.image,
        "sleep",
        "1000",
    ]);
    let shims = d.shims();
    assert_eq!(shims.len(), 1, "one shim serves the running container");
    let sockets = dm_integration::cleanup::bound_sockets(shims[0]);
    assert!(
        sockets.iter().any(|s| s.starts_with("/run/containerd/s")),
        "the shim serves a socket in /run/containerd/s: {sockets:?}"
    );
    drop(d);
    let left: Vec<_> = sockets.iter().filter(|s| s.exists()).collect();
    assert!(left.is_empty(), "shim sockets left behind: {left:?}");
    // Killed shims are reparented, so init reaps them in its own time.
    poll("the killed shim reaped", Duration::from_secs(10), || {
        (!std::path::Path::new(&format!("/proc/{}", shims[0])).exists()).then_some(())
    });
}
