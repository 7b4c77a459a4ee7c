//! Detached containers: logs (-f, --tail, -t), exec, stop, start, kill, ps, rm, inspect.

mod common;

use common::Env;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

#[test]
fn detached_container_logs_exec_stop_start_rm() {
    if !common::prerequisites("detached_container_logs_exec_stop_start_rm") {
        return;
    }
    let env = Env::start();
    let img = env.pulled().to_owned();
    let id = env.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        &img,
        "sh",
        "-c",
        "echo one; echo two; echo three; exec sleep 1000",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    // Follow until the third line arrives, then stop the container: the stream must end.
    let mut f = env
        .cmd(&["logs", "-f", "web"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(f.stdout.take().unwrap()).lines();
    for want in ["one", "two", "three"] {
        assert_eq!(lines.next().unwrap().unwrap(), want);
    }
    assert_eq!(env.ok(&["logs", "--tail", "1", "web"]), "three\n");
    let stamped = env.ok(&["logs", "-t", "--tail", "1", "web"]);
    assert!(
        stamped.starts_with("20") && stamped.contains("T") && stamped.ends_with(" three\n"),
        "{stamped}"
    );
    // exec: output, exit code, stdin, env and workdir.
    let (out, _) = env.exits(
        5,
        &["exec", "web", "sh", "-c", "echo in $(hostname); exit 5"],
    );
    assert_eq!(out, format!("in {}\n", &id[..12]));
    let o = env
        .cmd(&[
            "exec",
            "-i",
            "-e",
            "X=1",
            "-w",
            "/tmp",
            "web",
            "sh",
            "-c",
            "echo $X $(pwd) $(cat)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"from-stdin")?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "1 /tmp from-stdin\n");
    let ps = env.ok(&["ps"]);
    assert!(ps.contains(&id[..12]) && ps.contains("Up "), "{ps}");
    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "web"])).unwrap();
    assert_eq!(inspect[0]["Id"], id);
    assert_eq!(inspect[0]["State"]["Running"], true);
    assert_eq!(env.ok(&["stop", "-t", "1", "web"]), "web\n");
    assert!(
        f.wait().unwrap().success(),
        "logs -f ends with the container"
    );
    assert!(lines.next().is_none());
    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "web"])).unwrap();
    assert_eq!(inspect[0]["State"]["Running"], false);
    assert_eq!(env.ok(&["start", "web"]), "web\n");
    assert!(env.ok(&["ps", "-q"]).contains(&id[..12]));
    assert_eq!(env.ok(&["kill", "web"]), "web\n");
    let (_, err) = env.exits(1, &["rm", "nosuch", "web"]);
    assert!(err.contains("No such container: nosuch"), "{err}");
    let (_, err) = env.exits(1, &["inspect", "web"]);
    assert!(err.contains("No such object: web"), "{err}");
    env.assert_no_containers();
}

#[test]
fn rm_force_removes_a_running_container() {
    if !common::prerequisites("rm_force_removes_a_running_container") {
        return;
    }
    let env = Env::start();
    let img = env.pulled().to_owned();
    env.ok(&["run", "-d", "--name", "busy", &img, "sleep", "1000"]);
    let (_, err) = env.exits(1, &["rm", "busy"]);
    assert!(err.contains("Error response from daemon"), "{err}");
    assert_eq!(env.ok(&["rm", "-f", "busy"]), "busy\n");
    env.assert_no_containers();
}
