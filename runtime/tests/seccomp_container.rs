//! linux.seccomp end to end through dm-runc: a busybox container under docker's default profile
//! tries what the profile forbids and fails, while the same container without the profile (the
//! control) succeeds; ordinary tools keep working. Needs root.

use std::path::Path;

use dm_testkit::{require_root, Bundle};
use serde_json::{json, Value};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/seccomp-docker-default.json"
);

/// Exit codes of the in-container script: which step went wrong.
const SCRIPT: &str = "\
    ls / >/dev/null || exit 11; \
    echo hi > /tmp/f && grep -q hi /tmp/f || exit 12; \
    [ \"$(echo sub)\" = sub ] || exit 13; \
    linux32 true || exit 14; \
    grep -q '^Seccomp:[[:space:]]*2' /proc/self/status || exit 20; \
    unshare -U true 2>/dev/null && exit 21; \
    exit 0";

fn docker_profile() -> Value {
    serde_json::from_str(&std::fs::read_to_string(FIXTURE).unwrap()).unwrap()
}

fn bundle(seccomp: Option<Value>, no_new_privs: bool) -> Bundle {
    let mut b = Bundle::new(Path::new(env!("CARGO_BIN_EXE_dm-runc")));
    b.spec["process"]["args"] = json!(["sh", "-c", SCRIPT]);
    b.spec["process"]["noNewPrivileges"] = json!(no_new_privs);
    b.spec["root"]["readonly"] = json!(false);
    match seccomp {
        Some(s) => b.spec["linux"]["seccomp"] = s,
        None => {
            b.spec["linux"].as_object_mut().unwrap().remove("seccomp");
        }
    }
    b.write();
    b
}

#[test]
fn docker_profile_blocks_a_user_namespace_and_keeps_tools_working() {
    if !require_root("seccomp container test") {
        return;
    }
    let out = bundle(Some(docker_profile()), true).run_container();
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn docker_profile_without_no_new_privs_is_installed_while_privileged() {
    if !require_root("seccomp container test") {
        return;
    }
    let mut b = bundle(Some(docker_profile()), false);
    b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.write();
    let out = b.run_container();
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn without_the_profile_the_same_container_may_make_a_user_namespace() {
    if !require_root("seccomp container test") {
        return;
    }
    // Control: only the seccomp checks (20, 21) differ.
    let out = bundle(None, true).run_container();
    assert_eq!(out.code, 20, "{out:?}");
    let b = bundle(None, true);
    let mut spec = b.spec.clone();
    spec["process"]["args"] = json!(["unshare", "-U", "true"]);
    let mut b = b;
    b.spec = spec;
    b.write();
    let out = b.run_container();
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn a_bad_profile_fails_create_naming_the_field_and_leaves_nothing() {
    if !require_root("seccomp container test") {
        return;
    }
    let mut p = docker_profile();
    p["syscalls"][2]["errnoRet"] = json!(1);
    p["syscalls"][2]["action"] = json!("SCMP_ACT_ALLOW");
    let b = bundle(Some(p), true);
    let out = b.create();
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("linux.seccomp.syscalls[2].errnoRet"),
        "{out:?}"
    );
    let left: Vec<_> = std::fs::read_dir(b.state_root())
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "state left behind: {left:?}");
}

/// A profile that makes the calls behind process.cwd fail: the runtime must be done with them
/// before the filter goes in (runtime-tools' linux_seccomp: getcwd returns an errno).
fn cwd_breaking_profile() -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getcwd", "chdir", "fchdir"], "action": "SCMP_ACT_ERRNO"}]})
}

#[test]
fn the_filter_goes_in_after_cwd_with_and_without_no_new_privs() {
    if !require_root("seccomp container test") {
        return;
    }
    let script = "cat passwd >/dev/null && echo cwd-ok; cd /tmp 2>/dev/null || echo cd-denied; \
                  grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status";
    for nnp in [false, true] {
        // The control (no filter) gives the credentials the filtered container must end with.
        let mut want = None;
        for filter in [None, Some(cwd_breaking_profile())] {
            let filtered = filter.is_some();
            let mut b = bundle(filter, nnp);
            b.spec["process"]["cwd"] = json!("/etc");
            b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
            b.spec["process"]["args"] = json!(["sh", "-c", script]);
            b.write();
            let out = b.run_container();
            assert_eq!(out.code, 0, "nnp {nnp}: {out:?}");
            let lines: Vec<&str> = out.stdout.lines().collect();
            assert_eq!(lines[0], "cwd-ok", "nnp {nnp}: {out:?}");
            assert_eq!(lines[1] == "cd-denied", filtered, "nnp {nnp}: {out:?}");
            let creds: Vec<String> = lines
                .iter()
                .filter(|l| !l.starts_with("Seccomp:") && l.contains(':'))
                .map(|l| l.to_string())
                .collect();
            match &want {
                None => want = Some(creds),
                Some(w) => assert_eq!(&creds, w, "nnp {nnp}: capabilities differ"),
            }
        }
    }
}

#[test]
fn exec_installs_the_filter_after_cwd() {
    if !require_root("seccomp container test") {
        return;
    }
    let mut b = bundle(Some(cwd_breaking_profile()), false);
    b.spec["process"]["args"] = json!(["sleep", "1000"]);
    b.write();
    let id = b.id.clone();
    assert_eq!(b.create().code, 0);
    assert_eq!(b.run(&["start", &id]).code, 0);
    let out = b.run(&[
        "exec",
        "--cwd",
        "/etc",
        "--user",
        "1000:1000",
        &id,
        "cat",
        "passwd",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("user:x:1000"), "{out:?}");
    let status = b.run(&[
        "exec",
        &id,
        "grep",
        "-E",
        "^(CapEff|Seccomp):",
        "/proc/self/status",
    ]);
    assert_eq!(status.code, 0, "{status:?}");
    assert!(status.stdout.contains("Seccomp:\t2"), "{status:?}");
}
