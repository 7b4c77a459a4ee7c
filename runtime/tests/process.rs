//! The process: env, cwd, user, groups, umask, caps, rlimits, oom_score_adj.

mod common;
use common::*;
use serde_json::json;

#[test]
fn env_cwd_and_home() {
    let Some(mut b) = bundle("env_cwd") else {
        return;
    };
    set(&mut b, "/process/env", json!(["PATH=/bin", "FOO=bar baz"]));
    set(&mut b, "/process/cwd", json!("/tmp"));
    let out = sh(&mut b, "echo \"$FOO\"; pwd; echo $HOME");
    assert_eq!(out.stdout, "bar baz\n/tmp\n/root\n", "{out:?}");
}

#[test]
fn user_groups_and_umask() {
    let Some(mut b) = bundle("user_groups_umask") else {
        return;
    };
    set(
        &mut b,
        "/process/user",
        json!({"uid": 1000, "gid": 1000, "additionalGids": [2000, 3000], "umask": 0o027}),
    );
    let out = sh(
        &mut b,
        "id -u; id -g; grep Groups /proc/self/status; umask; echo $HOME",
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "1000", "{out:?}");
    assert_eq!(lines[1], "1000");
    assert_eq!(
        lines[2].split_whitespace().skip(1).collect::<Vec<_>>(),
        ["2000", "3000"]
    );
    assert_eq!(lines[3], "0027");
    assert_eq!(lines[4], "/home/user");
}

fn cap_mask(status: &str, field: &str) -> u64 {
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

#[test]
fn capabilities_are_exactly_the_configured_sets() {
    let Some(mut b) = bundle("caps") else { return };
    // CAP_CHOWN=0, CAP_KILL=5, CAP_NET_BIND_SERVICE=10, CAP_SYS_ADMIN=21
    set(
        &mut b,
        "/process/capabilities",
        json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "permitted": ["CAP_CHOWN", "CAP_KILL"],
            "inheritable": ["CAP_KILL"],
            "ambient": ["CAP_KILL"]
        }),
    );
    let out = sh(&mut b, "cat /proc/self/status");
    let s = &out.stdout;
    assert_eq!(cap_mask(s, "CapBnd:"), 1 | 1 << 5 | 1 << 10, "{s}");
    assert_eq!(cap_mask(s, "CapEff:"), 1 | 1 << 5);
    assert_eq!(cap_mask(s, "CapPrm:"), 1 | 1 << 5);
    assert_eq!(cap_mask(s, "CapInh:"), 1 << 5);
    assert_eq!(cap_mask(s, "CapAmb:"), 1 << 5);
}

#[test]
fn ambient_caps_reach_a_non_root_user() {
    let Some(mut b) = bundle("ambient_non_root") else {
        return;
    };
    set(&mut b, "/process/user", json!({"uid": 1000, "gid": 1000}));
    let all = json!(["CAP_NET_BIND_SERVICE"]);
    set(
        &mut b,
        "/process/capabilities",
        json!({"bounding": all, "effective": all, "permitted": all, "inheritable": all, "ambient": all}),
    );
    let out = sh(&mut b, "grep CapEff /proc/self/status");
    assert!(out.stdout.trim().ends_with("0000000000000400"), "{out:?}");
}

#[test]
fn no_new_privileges_flag() {
    let Some(mut b) = bundle("nnp") else { return };
    set(&mut b, "/process/noNewPrivileges", json!(true));
    assert_eq!(
        sh(&mut b, "grep NoNewPrivs /proc/self/status")
            .stdout
            .split_whitespace()
            .nth(1),
        Some("1")
    );
    set(&mut b, "/process/noNewPrivileges", json!(false));
    assert_eq!(
        sh(&mut b, "grep NoNewPrivs /proc/self/status")
            .stdout
            .split_whitespace()
            .nth(1),
        Some("0")
    );
}

#[test]
fn rlimits_applied_and_eperm_reported() {
    let Some(mut b) = bundle("rlimits") else {
        return;
    };
    set(
        &mut b,
        "/process/rlimits",
        json!([{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}, {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]),
    );
    let out = sh(&mut b, "ulimit -n; ulimit -Hn; ulimit -c");
    assert_eq!(out.stdout, "100\n200\n0\n", "{out:?}");
    // Raising a hard limit needs CAP_SYS_RESOURCE, which root lacks here.
    let (_, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let can_raise = caps::has_cap(
        None,
        caps::CapSet::Effective,
        caps::Capability::CAP_SYS_RESOURCE,
    )
    .unwrap_or(false);
    if hard < u64::MAX / 2 && !can_raise {
        set(
            &mut b,
            "/process/rlimits",
            json!([{"type": "RLIMIT_NOFILE", "soft": hard + 1, "hard": hard * 4 + 8}]),
        );
        let out = b.run_container();
        assert_ne!(out.code, 0);
        assert!(out.stderr.contains("process.rlimits[0]"), "{out:?}");
        assert_nothing_left(&b);
    }
}

#[test]
fn oom_score_adj_applied() {
    let Some(mut b) = bundle("oom_score_adj") else {
        return;
    };
    set(&mut b, "/process/oomScoreAdj", json!(500));
    assert_eq!(sh(&mut b, "cat /proc/self/oom_score_adj").stdout, "500\n");
}

#[test]
fn preserve_fds_passes_extra_fds() {
    let Some(mut b) = bundle("preserve_fds") else {
        return;
    };
    let f = b.path().join("passed");
    std::fs::write(&f, "through fd 3").unwrap();
    b.args(&["sh", "-c", "cat <&3"]);
    let file = std::fs::File::open(&f).unwrap();
    let bp = b.path().to_str().unwrap().to_owned();
    let mut cmd = b.cmd(&["run", "--preserve-fds", "1", "--bundle", &bp, &b.id]);
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let raw = file.as_raw_fd();
    // SAFETY: dup2/fcntl in the pre-exec child touch fd 3 only.
    unsafe {
        cmd.pre_exec(move || {
            // dup2(3, 3) keeps FD_CLOEXEC, so clear it explicitly.
            if libc::dup2(raw, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = dm_testkit::output(cmd);
    assert_eq!(out.stdout, "through fd 3", "{out:?}");
}

#[test]
fn no_host_fds_leak_into_the_container() {
    let Some(mut b) = bundle("no_fd_leak") else {
        return;
    };
    let out = sh(&mut b, "ls /proc/self/fd | sort -n | tr '\\n' ' '");
    // 0,1,2 and the fd ls itself opens for the directory.
    assert_eq!(out.stdout.trim(), "0 1 2 3", "{out:?}");
}
