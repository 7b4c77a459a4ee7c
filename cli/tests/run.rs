//! `dockermind pull` and `run`: output, exit codes, environment, working dir, user, --rm.

mod common;

use common::Env;

#[test]
fn run_passes_output_exit_code_env_workdir_and_user() {
    if !common::prerequisites("run_passes_output_exit_code_env_workdir_and_user") {
        return;
    }
    let env = Env::start();
    let out = env.ok(&["pull", &env.image]);
    assert!(
        out.trim_end().ends_with(&format!("{}:latest", env.image)),
        "{out}"
    );
    let img = env.image.as_str();
    assert_eq!(
        env.ok(&["run", "--rm", img, "echo", "hi there"]),
        "hi there\n"
    );
    let (out, err) = env.exits(
        7,
        &[
            "run",
            "--rm",
            img,
            "sh",
            "-c",
            "echo out; echo err >&2; exit 7",
        ],
    );
    assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
    let out = env.ok(&[
        "run",
        "--rm",
        "-e",
        "GREETING=hello world",
        img,
        "sh",
        "-c",
        "echo $GREETING",
    ]);
    assert_eq!(out, "hello world\n");
    assert_eq!(env.ok(&["run", "--rm", "-w", "/tmp", img, "pwd"]), "/tmp\n");
    let out = env.ok(&[
        "run",
        "--rm",
        "-u",
        "1234:5678",
        img,
        "sh",
        "-c",
        "echo $(id -u) $(id -g)",
    ]);
    assert_eq!(out, "1234 5678\n");
    // A command that does not exist is 127, as with docker, and --rm still removes it.
    let (_, err) = env.exits(127, &["run", "--rm", img, "/no/such/binary"]);
    assert!(err.contains("/no/such/binary"), "{err}");
    env.assert_no_containers();
}

#[test]
fn run_pulls_a_missing_image_first() {
    if !common::prerequisites("run_pulls_a_missing_image_first") {
        return;
    }
    let env = Env::start();
    let (out, err) = env.exits(0, &["run", "--rm", &env.image, "echo", "pulled"]);
    assert_eq!(out, "pulled\n", "the pull's progress must not reach stdout");
    assert!(
        err.contains(&format!(
            "Unable to find image '{}:latest' locally",
            env.image
        )),
        "{err}"
    );
    assert!(env.ok(&["images"]).contains(&env.image));
    env.assert_no_containers();
}

#[test]
fn run_without_rm_keeps_the_container_until_rm() {
    if !common::prerequisites("run_without_rm_keeps_the_container_until_rm") {
        return;
    }
    let env = Env::start();
    let img = env.pulled();
    env.exits(3, &["run", "--name", "kept", img, "sh", "-c", "exit 3"]);
    let ps = env.ok(&["ps", "-a"]);
    assert!(ps.contains("Exited (3)") && ps.contains("kept"), "{ps}");
    assert_eq!(
        env.ok(&["ps"]).lines().count(),
        1,
        "only the header: nothing runs"
    );
    assert_eq!(env.ok(&["rm", "kept"]), "kept\n");
    let (_, err) = env.exits(1, &["rm", "kept"]);
    assert!(err.contains("No such container"), "{err}");
    env.assert_no_containers();
}

#[test]
fn stdin_is_forwarded_with_i_and_a_terminal_allocated_with_t() {
    if !common::prerequisites("stdin_is_forwarded_with_i_and_a_terminal_allocated_with_t") {
        return;
    }
    let env = Env::start();
    let img = env.pulled().to_owned();
    let o = env
        .cmd(&["run", "--rm", "-i", &img, "sh", "-c", "tr a-z A-Z"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"piped in\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "PIPED IN\n");
    // With -t the process sees a terminal; its output comes back raw (CRLF from the tty).
    let out = env.ok(&[
        "run",
        "--rm",
        "-t",
        &img,
        "sh",
        "-c",
        "tty; [ -t 1 ] && echo is-a-tty",
    ]);
    assert!(out.starts_with("/dev/pts/"), "{out:?}");
    assert!(out.contains("is-a-tty\r\n"), "{out:?}");
    env.assert_no_containers();
}

#[test]
fn signals_to_the_cli_reach_the_container() {
    if !common::prerequisites("signals_to_the_cli_reach_the_container") {
        return;
    }
    let env = Env::start();
    let img = env.pulled().to_owned();
    let script = "trap 'echo got-int; exit 9' INT; echo ready; while :; do sleep 0.1; done";
    let mut child = env
        .cmd(&["run", "--rm", &img, "sh", "-c", script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "ready\n");
    // SAFETY: kill(2) on the CLI process this test spawned.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "got-int\n");
    assert_eq!(child.wait().unwrap().code(), Some(9));
    env.assert_no_containers();
}
