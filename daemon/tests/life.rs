//! A container's life after start, through the real docker CLI: restart policies (counts,
//! limits, user stops and their races with restarts, daemon SIGKILL and restart), stdin across
//! a daemon restart, and json-file log rotation (healthchecks are in health.rs).

mod common;

use common::{assert_clean, inspect, lines_in as runs, now, prerequisites, Dmd, TestRegistry};
use dm_integration::poll;
use std::path::PathBuf;
use std::time::Duration;

#[test]
fn restart_policies_count_limit_and_respect_user_stops() {
    if !prerequisites("restart_policies_count_limit_and_respect_user_stops") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    let image = reg.image.as_str();
    d.ok(&["pull", image]);
    let data = d.dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let bind = format!("{}:/data", data.display());

    // on-failure:2: the first run and two restarts, then it stays exited.
    let t0 = now();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "fail",
        "--restart",
        "on-failure:2",
        "-v",
        &bind,
        image,
        "sh",
        "-c",
        "echo x >> /data/fail; exit 3",
    ]);
    poll("on-failure:2 to give up", Duration::from_secs(30), || {
        (inspect(&d, "fail", "{{.State.Status}} {{.RestartCount}}") == "exited 2").then_some(())
    });
    assert_eq!(runs(&data.join("fail")), 3, "the process ran 1 + 2 times");
    assert_eq!(
        inspect(
            &d,
            "fail",
            "{{.State.ExitCode}} {{.State.Restarting}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "3 false on-failure 2"
    );
    let t1 = now();
    let actions = d.ok(&[
        "events",
        "--since",
        &t0,
        "--until",
        &t1,
        "--filter",
        "container=fail",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(
        actions.split_whitespace().collect::<Vec<_>>(),
        ["create", "start", "die", "start", "die", "start", "die"],
        "dockerd's events for policy restarts"
    );
    // on-failure does not restart a clean exit.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "clean",
        "--restart",
        "on-failure",
        "-v",
        &bind,
        image,
        "sh",
        "-c",
        "echo x >> /data/clean",
    ]);
    assert_eq!(d.ok(&["wait", "clean"]).trim(), "0");
    assert_eq!(
        inspect(&d, "clean", "{{.State.Status}} {{.RestartCount}}"),
        "exited 0"
    );

    // always: a process that exits 0 comes back (twice here; the third run stays up).
    d.ok(&[
        "run", "-d", "--name", "al", "--restart", "always", "-v", &bind, image, "sh", "-c",
        "n=$(cat /data/al 2>/dev/null | wc -l); echo run >> /data/al; [ $n -ge 2 ] && exec sleep 1000; exit 0",
    ]);
    poll("always to restart twice", Duration::from_secs(30), || {
        // The third run stays up; its line may come a moment after its start.
        (inspect(&d, "al", "{{.State.Status}} {{.RestartCount}}") == "running 2"
            && runs(&data.join("al")) == 3)
            .then_some(())
    });
    // A user's stop ends it for good: once stop returns it is exited, not restarting.
    d.ok(&["stop", "-t", "1", "al"]);
    assert_eq!(
        inspect(&d, "al", "{{.State.Status}} {{.State.Restarting}}"),
        "exited false"
    );
    // A stopped container started by a user counts its restarts afresh.
    d.ok(&["start", "al"]);
    assert_eq!(inspect(&d, "al", "{{.RestartCount}}"), "0");
    d.ok(&["kill", "al"]);
    poll("al to be killed", Duration::from_secs(10), || {
        (inspect(&d, "al", "{{.State.Status}}") == "exited").then_some(())
    });

    // Same rule for a long-running process killed by the user.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "us",
        "--restart",
        "unless-stopped",
        image,
        "sleep",
        "1000",
    ]);
    d.ok(&["kill", "us"]);
    poll("us to exit", Duration::from_secs(10), || {
        (inspect(&d, "us", "{{.State.Status}} {{.State.Restarting}}") == "exited false")
            .then_some(())
    });
    assert_eq!(inspect(&d, "us", "{{.RestartCount}}"), "0");

    // Bad policies get docker's errors; --rm does not mix with a policy.
    let err = d.fails(&["run", "--rm", "--restart", "always", image, "true"]);
    assert!(
        err.contains("Conflicting options: --restart and --rm"),
        "{err}"
    );
    let create = |body: &str| d.request("POST", "/v1.41/containers/create", body);
    let (code, body) = create(&format!(
        r#"{{"Image":"{image}","HostConfig":{{"AutoRemove":true,"RestartPolicy":{{"Name":"always"}}}}}}"#
    ));
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("can't create 'AutoRemove' container with restart policy"),
        "{body}"
    );
    let (code, body) = create(&format!(
        r#"{{"Image":"{image}","HostConfig":{{"RestartPolicy":{{"Name":"sometimes"}}}}}}"#
    ));
    assert_eq!(
        (code, body.contains("invalid restart policy 'sometimes'")),
        (400, true),
        "{body}"
    );
    let (code, body) = create(&format!(
        r#"{{"Image":"{image}","HostConfig":{{"RestartPolicy":{{"Name":"always","MaximumRetryCount":2}}}}}}"#
    ));
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("maximum retry count cannot be used"),
        "{body}"
    );

    d.ok(&["rm", "fail", "clean", "al", "us"]);
    assert_eq!(d.ok(&["ps", "-aq"]), "", "no half-created container");
    assert_clean(&mut d);
}

#[test]
fn a_user_stop_racing_a_policy_restart_leaves_the_container_stopped() {
    if !prerequisites("a_user_stop_racing_a_policy_restart_leaves_the_container_stopped") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    let image = reg.image.as_str();
    d.ok(&["pull", image]);
    // Exits at once and comes back after 100, 200, 400 ms...: the container is by turns
    // running, exiting, waiting out its back-off and being restarted.
    d.ok(&[
        "create",
        "--name",
        "flap",
        "--restart",
        "always",
        image,
        "true",
    ]);
    for i in 0..10u64 {
        // A user's start resets the back-off; the stop then lands at a different point of the
        // cycle each round.
        d.ok(&["start", "flap"]);
        std::thread::sleep(Duration::from_millis(i * 41));
        d.ok(&["stop", "-t", "1", "flap"]);
        let stopped = now();
        assert_eq!(
            inspect(&d, "flap", "{{.State.Status}} {{.State.Restarting}}"),
            "exited false",
            "round {i}"
        );
        // A restart the stop failed to cancel comes within a back-off of at most 800 ms here.
        let starts = d.ok(&[
            "events",
            "--since",
            &stopped,
            "--until",
            &common::epoch_secs(Duration::from_millis(1200)),
            "--filter",
            "container=flap",
            "--filter",
            "event=start",
            "--format",
            "{{.Action}}",
        ]);
        assert_eq!(starts, "", "round {i}: restarted after the user's stop");
    }
    d.ok(&["rm", "flap"]);
    assert_clean(&mut d);
}

#[test]
fn restart_policies_apply_across_a_daemon_sigkill() {
    if !prerequisites("restart_policies_apply_across_a_daemon_sigkill") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    let image = reg.image.as_str();
    d.ok(&["pull", image]);
    for (name, policy) in [
        ("al", "always"),
        ("us", "unless-stopped"),
        ("al-stopped", "always"),
        ("us-stopped", "unless-stopped"),
        ("no", "no"),
    ] {
        d.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--restart",
            policy,
            image,
            "sleep",
            "1000",
        ]);
    }
    d.ok(&["stop", "-t", "0", "al-stopped", "us-stopped"]);
    let pid = |d: &Dmd, n: &str| inspect(d, n, "{{.State.Pid}}");
    let before: Vec<String> = ["al", "us", "no"].iter().map(|n| pid(&d, n)).collect();

    // The daemon dies, then so do the containers' processes while it is down.
    d.kill9();
    for p in &before {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p.parse().unwrap()),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    poll("the processes to die", Duration::from_secs(10), || {
        before
            .iter()
            .all(|p| {
                std::fs::read_to_string(format!("/proc/{p}/stat"))
                    .map_or(true, |s| s.contains(") Z "))
            })
            .then_some(())
    });
    d.spawn();
    let state = |n: &str| inspect(&d, n, "{{.State.Status}}");
    // always and unless-stopped come back; always even when a user had stopped it.
    assert_eq!(state("al"), "running", "{}", d.log());
    assert_eq!(state("us"), "running");
    assert_eq!(state("al-stopped"), "running");
    assert_eq!(state("us-stopped"), "exited");
    assert_eq!(state("no"), "exited");
    assert_ne!(pid(&d, "al"), before[0], "a new process");
    assert_ne!(pid(&d, "us"), before[1], "a new process");
    d.ok(&["rm", "-f", "al", "us", "al-stopped", "us-stopped", "no"]);
    assert_clean(&mut d);
}

/// `docker attach NAME`, sends `line`, and waits for the container's echo of it in its logs.
fn attach_and_send(d: &Dmd, name: &str, line: &str) {
    use std::io::Write;
    let mut child = d
        .cmd(&["attach", name])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
    let want = format!("got {line}\n");
    poll("the echo in docker logs", Duration::from_secs(20), || {
        d.ok(&["logs", name]).contains(&want).then_some(())
    });
    // The attach never ends by itself (stdin is not StdinOnce): detach by ending the client.
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn stdin_reaches_a_running_container_after_a_daemon_sigkill() {
    if !prerequisites("stdin_reaches_a_running_container_after_a_daemon_sigkill") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    let image = reg.image.as_str();
    d.ok(&["pull", image]);
    d.ok(&[
        "run",
        "-di",
        "--name",
        "echo",
        image,
        "sh",
        "-c",
        "while read l; do echo \"got $l\"; done; echo eof",
    ]);
    attach_and_send(&d, "echo", "one");
    let pid = inspect(&d, "echo", "{{.State.Pid}}");
    // The daemon's end of the stdin fifo goes with it: not an EOF for the process.
    d.kill9();
    d.spawn();
    assert_eq!(
        inspect(&d, "echo", "{{.State.Status}} {{.State.Pid}}"),
        format!("running {pid}")
    );
    attach_and_send(&d, "echo", "two");
    assert_eq!(d.ok(&["logs", "echo"]), "got one\ngot two\n", "no EOF seen");
    // An exec's stdin still ends with the client's (the daemon closes it in the shim).
    let mut child = d
        .cmd(&["exec", "-i", "echo", "cat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"three\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        (out.status.success(), &out.stdout[..]),
        (true, &b"three\n"[..])
    );
    d.ok(&["rm", "-f", "echo"]);
    assert_clean(&mut d);
}

#[test]
fn json_file_logs_rotate_and_read_back_across_files() {
    if !prerequisites("json_file_logs_rotate_and_read_back_across_files") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    let image = reg.image.as_str();
    d.ok(&["pull", image]);
    d.ok(&[
        "run", "-d", "--name", "chatty", "--log-opt", "max-size=2k", "--log-opt", "max-file=3",
        image, "sh", "-c",
        "i=0; while [ $i -lt 300 ]; do echo \"line $i .............................\"; i=$((i+1)); done",
    ]);
    assert_eq!(d.ok(&["wait", "chatty"]).trim(), "0");
    // The daemon's copier may still drain the fifo after the exit.
    let out = poll(
        "the last line in docker logs",
        Duration::from_secs(10),
        || {
            let o = d.ok(&["logs", "chatty"]);
            o.ends_with("line 299 .............................\n")
                .then_some(o)
        },
    );
    let nums: Vec<usize> = out
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
        .collect();
    let first = nums[0];
    assert!(first > 0, "older lines were rotated away");
    assert_eq!(
        nums,
        (first..300).collect::<Vec<_>>(),
        "the retained tail, in order"
    );
    let log = PathBuf::from(inspect(&d, "chatty", "{{.LogPath}}"));
    let file = |n: &str| PathBuf::from(format!("{}{n}", log.display()));
    for f in [file(""), file(".1"), file(".2")] {
        let size = std::fs::metadata(&f).unwrap().len();
        // Rotation happens before the write that finds the file full: one entry over at most.
        assert!(
            size > 0 && size < 2048 + 200,
            "{} is {size} bytes",
            f.display()
        );
    }
    assert!(!file(".3").exists(), "max-file=3 keeps three files");
    assert_eq!(
        inspect(
            &d,
            "chatty",
            "{{index .HostConfig.LogConfig.Config \"max-file\"}}"
        ),
        "3"
    );
    let tail = d.ok(&["logs", "--tail", "2", "chatty"]);
    assert_eq!(
        tail,
        "line 298 .............................\nline 299 .............................\n"
    );

    // compress=true: rotated files are gzipped as dockerd names them, and still read back.
    d.ok(&[
        "run", "-d", "--name", "zipped", "--log-opt", "max-size=2k", "--log-opt", "max-file=3",
        "--log-opt", "compress=true", image, "sh", "-c",
        "i=0; while [ $i -lt 300 ]; do echo \"line $i .............................\"; i=$((i+1)); done",
    ]);
    assert_eq!(d.ok(&["wait", "zipped"]).trim(), "0");
    let out = poll(
        "the last line in docker logs",
        Duration::from_secs(10),
        || {
            let o = d.ok(&["logs", "zipped"]);
            o.ends_with("line 299 .............................\n")
                .then_some(o)
        },
    );
    let nums: Vec<usize> = out
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(nums[0] > 0, "older lines were rotated away");
    assert_eq!(nums, (nums[0]..300).collect::<Vec<_>>(), "in order");
    let zlog = PathBuf::from(inspect(&d, "zipped", "{{.LogPath}}"));
    let zfile = |n: &str| PathBuf::from(format!("{}{n}", zlog.display()));
    // The last rotation's compression runs beside the writer: wait for it to land.
    poll(
        "the rotated files to be gzipped",
        Duration::from_secs(10),
        || (!zfile(".1").exists() && !zfile(".2").exists()).then_some(()),
    );
    let mut unzipped = String::new();
    for n in [".2.gz", ".1.gz"] {
        let o = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(zfile(n))
            .output()
            .unwrap();
        assert!(o.status.success(), "{n} is gzip: {o:?}");
        unzipped.push_str(&String::from_utf8(o.stdout).unwrap());
    }
    assert!(!zfile(".3.gz").exists(), "max-file=3 keeps three files");
    unzipped.push_str(&std::fs::read_to_string(zfile("")).unwrap());
    assert_eq!(
        unzipped.lines().count(),
        nums.len(),
        "the gzipped files and the live one hold what docker logs shows"
    );
    assert!(unzipped.starts_with(&format!("{{\"log\":\"line {} ", nums[0])));
    let err = d.fails(&["create", "--log-opt", "compress=true", image, "true"]);
    assert!(
        err.contains("compress cannot be true when max-file is less than 2 or max-size is not set"),
        "{err}"
    );
    d.ok(&["rm", "zipped"]);
    assert!(!zfile(".1.gz").exists(), "rm takes the gzipped logs too");

    // Unknown drivers and options: docker's messages, no container left.
    let err = d.fails(&["run", "--log-driver", "syslog", image, "true"]);
    assert!(
        err.contains("no log driver named 'syslog' is registered"),
        "{err}"
    );
    let err = d.fails(&["run", "--log-opt", "bogus=1", image, "true"]);
    assert!(
        err.contains("unknown log opt 'bogus' for json-file log driver"),
        "{err}"
    );
    let err = d.fails(&["create", "--log-opt", "max-file=2", image, "true"]);
    assert!(err.contains("max-file cannot be greater than 1"), "{err}");
    d.ok(&["rm", "chatty"]);
    assert!(
        !log.exists() && !file(".1").exists(),
        "rm takes the rotated logs too"
    );
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert_clean(&mut d);
}
