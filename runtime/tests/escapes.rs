//! Known runtime escapes, each tried from inside a container and observed to fail, next to a
//! control that shows the probe itself works.

mod common;
mod exe_race;
mod seccomp_util;
use common::*;
use exe_race::{Attacker, RuntimeCopy};
use seccomp_util::agent;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn runtime_binary_unreachable_through_proc_exe_while_created() {
    // CVE-2019-5736 class: while the init (still dm-runc's code) waits for start, a process
    // exec'd into the container tries to open /proc/1/exe; it must not get the host binary.
    let Some(mut b) = bundle("cve_2019_5736") else {
        return;
    };
    b.args(&["sleep", "1000"]);
    b.create().ok();
    let before = std::fs::read(runc()).unwrap();
    let out = b.run(&[
        "exec",
        &b.id,
        "sh",
        "-c",
        "cat /proc/1/exe > /dev/null 2>&1 && echo read-ok || echo read-denied; \
         (echo x >> /proc/1/exe) 2>/dev/null && echo write-ok || echo write-denied; \
         cat /proc/self/exe > /dev/null && echo control-ok",
    ]);
    assert_eq!(
        out.stdout, "read-denied\nwrite-denied\ncontrol-ok\n",
        "{out:?}"
    );
    assert_eq!(
        std::fs::read(runc()).unwrap(),
        before,
        "host dm-runc changed"
    );
}

#[test]
fn process_cwd_through_proc_self_fd_fails_cleanly() {
    // CVE-2024-21626 class: no host fd is left for a cwd like /proc/self/fd/N to reach.
    let Some(mut b) = bundle("cve_2024_21626") else {
        return;
    };
    for fd in 3..8 {
        set(
            &mut b,
            "/process/cwd",
            serde_json::json!(format!("/proc/self/fd/{fd}")),
        );
        let out = b.run_container();
        assert_ne!(out.code, 0, "cwd /proc/self/fd/{fd} accepted: {out:?}");
        assert!(out.stderr.contains("process.cwd"), "{out:?}");
        assert_nothing_left(&b);
    }
}

#[test]
fn exec_cwd_through_proc_self_fd_fails_cleanly() {
    let Some(mut b) = bundle("cve_2024_21626_exec") else {
        return;
    };
    start_sleeping(&mut b);
    for fd in 3..10 {
        let cwd = format!("/proc/self/fd/{fd}");
        let out = b.run(&["exec", "--cwd", &cwd, &b.id, "pwd"]);
        assert_ne!(out.code, 0, "exec cwd {cwd} accepted: {out:?}");
    }
    assert_eq!(
        b.run(&["exec", "--cwd", "/tmp", &b.id, "pwd"]).ok().stdout,
        "/tmp\n"
    );
}

#[test]
fn pid_file_symlinks_are_replaced_not_followed() {
    let Some(b) = bundle("pidfile_symlink") else {
        return;
    };
    let victim = b.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let pidfile = b.path().join("init.pid");
    std::os::unix::fs::symlink(&victim, &pidfile).unwrap();
    std::os::unix::fs::symlink(&victim, b.path().join(".init.pid.tmp")).unwrap();
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
    assert_eq!(read(&victim), "precious");
    assert!(!std::fs::symlink_metadata(&pidfile)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(read(&pidfile), b.state()["pid"].to_string());
}

#[test]
fn runtime_binary_unreachable_through_proc_exe_during_exec() {
    // CVE-2019-5736 during exec: the exec'd process runs dm-runc's code until its execve. A
    // seccomp agent holds that execve (SCMP_ACT_NOTIFY through listenerPath), so the window
    // stays open while another process in the container goes for /proc/<pid>/exe.
    let Some(mut b) = bundle("cve_2019_5736_exec") else {
        return;
    };
    let dir = dm_testkit::TempDir::new("cve-agent");
    let sock = dir.path().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    set(
        &mut b,
        "/linux/seccomp",
        serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock,
            "syscalls": [{"names": ["execve"], "action": "SCMP_ACT_NOTIFY"}]}),
    );
    b.args(&["sleep", "1000"]);
    b.create().ok();
    let (st, init_fd) = agent::accept(&listener);
    assert_eq!(
        (st["state"]["id"].as_str(), st["state"]["status"].as_str()),
        (Some(b.id.as_str()), Some("creating")),
        "{st}"
    );
    b.run(&["start", &b.id]).ok();
    let n = agent::recv(&init_fd);
    agent::respond(&init_fd, n, 0, true);

    let before = std::fs::read(runc()).unwrap();
    let held = b
        .cmd(&["exec", &b.id, "true"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (st, held_fd) = agent::accept(&listener);
    assert_eq!(st["state"]["status"], "running", "{st}");
    let h = agent::recv(&held_fd);
    // The window is open: the held process still runs dm-runc's binary (the same inode, seen
    // through a read-only mount).
    let exe = std::fs::metadata(format!("/proc/{}/exe", h.pid)).unwrap();
    let host = std::fs::metadata(runc()).unwrap();
    assert_eq!((exe.dev(), exe.ino()), (host.dev(), host.ino()));
    let status = read(std::path::Path::new(&format!("/proc/{}/status", h.pid)));
    let inner = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .to_owned();

    let script = format!(
        "read -r x < /proc/{inner}/exe && echo read-ok || echo read-denied; \
         (echo x >> /proc/{inner}/exe) 2>/dev/null && echo write-ok || echo write-denied; \
         read -r x < /proc/1/exe && echo control-ok"
    );
    let attacker = b
        .cmd(&["exec", &b.id, "sh", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (_, attacker_fd) = agent::accept(&listener);
    let n = agent::recv(&attacker_fd);
    agent::respond(&attacker_fd, n, 0, true);
    let out = attacker.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        "read-denied\nwrite-denied\ncontrol-ok\n",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    agent::respond(&held_fd, h, 0, true);
    let mut held = held;
    assert!(held.wait().unwrap().success(), "held exec failed");
    assert_eq!(
        std::fs::read(runc()).unwrap(),
        before,
        "host dm-runc changed"
    );
    b.run(&["delete", "--force", &b.id]).ok();
}

/// A busybox bundle driven by `runtime`, or None (loud skip) when not root outside CI.
fn bundle_with(test: &str, runtime: &Path) -> Option<Bundle> {
    dm_testkit::require_root(test).then(|| Bundle::new(runtime))
}

/// A running `sleep` container with the exe-race attacker in it.
fn attacked(test: &str, runtime: &Path) -> Option<(Bundle, Attacker)> {
    let mut a = bundle_with(test, runtime)?;
    start_sleeping(&mut a);
    let attacker = Attacker::start(&a);
    Some((a, attacker))
}

/// The exec path of the exploit against a copy of the runtime; `victim` adjusts the
/// `dm-runc exec` that runs the script. Returns the attacker's `held` line and its result.
fn exploit_exec(test: &str, victim: impl FnOnce(&mut Command)) -> Option<(String, String)> {
    let copy = RuntimeCopy::of(&runc());
    let before = copy.bytes();
    let (a, mut attacker) = attacked(test, &copy.path)?;
    let fifo = exe_race::plant(&a.rootfs());
    let mut args = vec!["exec", a.id.as_str()];
    args.extend(exe_race::ARGS);
    let mut cmd = a.cmd(&args);
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    victim(&mut cmd);
    let victim = cmd.spawn().unwrap();
    let held = attacker.line();
    let log = exe_race::release(&fifo);
    let out = victim.wait_with_output().unwrap();
    let exited = attacker.line();
    let result = attacker.strike();
    exe_race::force_delete(&runc(), &a);
    let race = Race {
        held,
        log: format!("{log:?} {out:?}"),
        exited,
        result,
    };
    race.assert_resisted(&copy, &before);
    Some((race.held, race.result))
}

/// One run of the exploit, as the attacker and the planted script saw it.
struct Race {
    held: String,
    log: String,
    exited: String,
    result: String,
}

impl Race {
    /// The race was set up and ran (the script ran the runtime, the attacker held its binary
    /// and saw it exit), and the binary survived it unchanged.
    fn assert_resisted(&self, copy: &RuntimeCopy, before: &[u8]) {
        let Race {
            held,
            log,
            exited,
            result,
        } = self;
        assert!(held.starts_with("held "), "{held}");
        assert!(
            log.contains("none"),
            "the script did not run the runtime: {log}"
        );
        assert!(exited.starts_with("exited "), "{exited}");
        assert_ne!(
            result, "write-ok",
            "{held}: the container overwrote the runtime binary"
        );
        assert!(
            copy.bytes() == before,
            "runtime binary changed ({held}, {result})"
        );
    }
}

#[test]
fn interpreter_line_cannot_overwrite_runtime_through_exec() {
    // CVE-2019-5736 as published: `exec` runs a script starting `#!/proc/self/exe`, so the
    // kernel runs the runtime's binary as a dumpable container process.
    if let Some((held, result)) = exploit_exec("cve_2019_5736_interp_exec", |_| {}) {
        assert_eq!(result, "open-denied EROFS", "{held}");
    }
}

#[test]
fn interpreter_line_cannot_overwrite_runtime_where_it_may_not_mount() {
    // Where the runtime may not make a read-only mount of its binary (open_tree refused here
    // by a seccomp filter, as for a rootless caller), the sealed copy protects it.
    let deny_open_tree = |cmd: &mut Command| {
        let filter: seccompiler::BpfProgram = seccompiler::SeccompFilter::new(
            [(libc::SYS_open_tree, vec![])].into_iter().collect(),
            seccompiler::SeccompAction::Allow,
            seccompiler::SeccompAction::Errno(libc::EPERM as u32),
            seccompiler::TargetArch::x86_64,
        )
        .unwrap()
        .try_into()
        .unwrap();
        // SAFETY: the closure only makes two system calls (no allocation, no locks) between
        // fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                seccompiler::apply_filter(&filter).map_err(|_| std::io::Error::last_os_error())
            })
        };
    };
    if let Some((held, result)) = exploit_exec("cve_2019_5736_interp_memfd", deny_open_tree) {
        assert!(held.contains("memfd:"), "{held}");
        assert_eq!(result, "write-denied EPERM", "{held}");
    }
}

#[test]
fn interpreter_line_cannot_overwrite_runtime_through_init() {
    // The same through a container's entrypoint: the init execs the script. The attacker sits
    // in another container whose pid namespace this one joins (as pods share one), so the init
    // exiting does not take the attacker with it.
    let copy = RuntimeCopy::of(&runc());
    let before = copy.bytes();
    let Some((a, mut attacker)) = attacked("cve_2019_5736_interp_init", &copy.path) else {
        return;
    };
    let mut b = Bundle::new(&copy.path);
    let pidns = format!("/proc/{}/ns/pid", a.state()["pid"]);
    for ns in b.spec["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "pid" {
            ns["path"] = serde_json::json!(pidns);
        }
    }
    b.args(&exe_race::ARGS);
    let fifo = exe_race::plant(&b.rootfs());
    b.create().ok();
    b.run(&["start", &b.id]).ok();
    let held = attacker.line();
    let log = exe_race::release(&fifo);
    let exited = attacker.line();
    let result = attacker.strike();
    exe_race::force_delete(&runc(), &b);
    exe_race::force_delete(&runc(), &a);
    Race {
        held,
        log: format!("{log:?}"),
        exited,
        result,
    }
    .assert_resisted(&copy, &before);
}

#[test]
fn init_runs_from_a_read_only_binary_with_the_callers_argv_env_and_cwd() {
    // The runtime re-executes itself from a read-only view of its binary before it makes the
    // init: what it was given must come through unchanged.
    let Some(mut b) = bundle("reexec_keeps") else {
        return;
    };
    b.args(&["sleep", "1000"]);
    let args = ["create", "--bundle", ".", "--pid-file", "init.pid", &b.id];
    let out = b
        .cmd(&args)
        .current_dir(b.path())
        .env("DM_REEXEC_MARK", "kept")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(out.success());
    let pid = read(&b.path().join("init.pid"));
    assert_eq!(
        pid,
        b.state()["pid"].to_string(),
        "pid file relative to cwd"
    );
    let proc = |f: &str| std::fs::read(format!("/proc/{pid}/{f}")).unwrap();
    let mut want = vec![runc().into_os_string().into_encoded_bytes()];
    want.extend(
        [
            "--root".as_bytes(),
            b.state_root().as_os_str().as_encoded_bytes(),
        ]
        .map(Vec::from),
    );
    want.extend(args.iter().map(|a| a.as_bytes().to_vec()));
    let cmdline: Vec<Vec<u8>> = proc("cmdline")
        .split(|c| *c == 0)
        .filter(|a| !a.is_empty())
        .map(Vec::from)
        .collect();
    assert_eq!(cmdline, want);
    assert!(proc("environ")
        .split(|c| *c == 0)
        .any(|e| e == b"DM_REEXEC_MARK=kept"));
    assert_eq!(proc("comm"), b"dm-runc\n");
    let exe = nix::sys::statvfs::statvfs(format!("/proc/{pid}/exe").as_str()).unwrap();
    assert!(
        exe.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
        "the init runs from a writable mount"
    );
}
