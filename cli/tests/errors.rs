//! Bad flags and values name what is wrong and exit 125 as docker does; a missing daemon is
//! named; nothing is left behind.

mod common;

use common::{cli, Env};

fn exits(host: &str, args: &[&str]) -> (Option<i32>, String) {
    let o = cli(host, args).output().expect("run dockermind");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn bad_flags_and_values_are_named_and_exit_125() {
    let h = "unix:///nonexistent/dockermind.sock";
    for (args, names) in [
        (&["run", "--bogus", "busybox"][..], "--bogus"),
        (&["ps", "--nope"][..], "--nope"),
        (&["run", "--memory", "lots", "busybox"][..], "--memory"),
        (&["run", "--cpus", "two", "busybox"][..], "--cpus"),
        (&["run", "--pids-limit", "x", "busybox"][..], "--pids-limit"),
        (&["run", "-p", "80:http", "busybox"][..], "--publish"),
        (&["run", "-w", "relative", "busybox"][..], "--workdir"),
        (&["logs"][..], "<CONTAINER>"),
    ] {
        let (code, err) = exits(h, args);
        assert_eq!(code, Some(125), "{args:?}: {err}");
        assert!(err.contains(names), "{args:?} should name {names}: {err}");
    }
    let (code, _) = exits(h, &["--help"]);
    assert_eq!(code, Some(0));
}

#[test]
fn a_missing_daemon_is_named() {
    let (code, err) = exits("unix:///nonexistent/dm.sock", &["ps"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("unix:///nonexistent/dm.sock"), "{err}");
    let (code, err) = exits("tcp://127.0.0.1:1", &["ps"]);
    assert_eq!(code, Some(125));
    assert!(err.contains("--host"), "{err}");
}

#[test]
fn refused_runs_leave_nothing_behind() {
    if !common::prerequisites("refused_runs_leave_nothing_behind") {
        return;
    }
    let env = Env::start();
    let img = env.pulled().to_owned();
    let (_, err) = env.exits(125, &["run", "--memory", "lots", &img, "true"]);
    assert!(err.contains("--memory"), "{err}");
    let (_, err) = env.exits(125, &["run", "--rm", "127.0.0.1:1/nothing/here", "true"]);
    assert!(err.contains("127.0.0.1:1/nothing/here"), "{err}");
    // The refused runs made no volume either.
    let (out, _) = env.exits(0, &["volume", "ls", "-q"]);
    assert_eq!(out, "", "volumes left: {out}");
    env.assert_no_containers();
}

#[test]
fn completion_scripts_are_generated() {
    let o = cli("unix:///x", &["completion", "bash"]).output().unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("dockermind"));
}
