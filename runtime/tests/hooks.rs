//! Every hook kind: order, the state on stdin, args and env, failures.

mod common;
use common::*;
use serde_json::json;

/// A hook that appends "<name> <status> <pid>" and its args/env to `log`.
fn hook(log: &std::path::Path, name: &str) -> serde_json::Value {
    let script = format!(
        "read -r s; st=$(echo \"$s\" | sed 's/.*\"status\":\"\\([a-z]*\\)\".*/\\1/'); \
         id=$(echo \"$s\" | sed 's/.*\"id\":\"\\([^\"]*\\)\".*/\\1/'); \
         echo \"{name} $st $id $HOOKVAR $1\" >> {}",
        log.display()
    );
    json!({"path": "/bin/sh", "args": ["sh", "-c", script, "sh", "arg1"], "env": ["HOOKVAR=v"]})
}

#[test]
fn every_hook_runs_in_order_with_state_on_stdin() {
    let Some(mut b) = bundle("hooks_order") else {
        return;
    };
    let log = b.path().join("hooks.log");
    // Hooks that run inside the container see the bundle at the same path through a bind.
    let bp = b.path().to_owned();
    let mut mounts = b.spec["mounts"].as_array().unwrap().clone();
    mounts.push(json!({"destination": bp, "type": "bind", "source": bp, "options": ["rbind"]}));
    set(&mut b, "/mounts", json!(mounts));
    let hooks = json!({
        "prestart": [hook(&log, "prestart")],
        "createRuntime": [hook(&log, "createRuntime1"), hook(&log, "createRuntime2")],
        "createContainer": [hook(&log, "createContainer")],
        "startContainer": [hook(&log, "startContainer")],
        "poststart": [hook(&log, "poststart")],
        "poststop": [hook(&log, "poststop")]
    });
    set(&mut b, "/hooks", hooks);
    b.args(&["sh", "-c", &format!("echo process >> {}", log.display())]);
    b.create().ok();
    b.run(&["start", &b.id]).ok();
    assert!(eventually(10, || b.state()["status"] == "stopped"));
    b.run(&["delete", &b.id]).ok();
    let got: Vec<String> = read(&log).lines().map(str::to_owned).collect();
    let id = &b.id;
    let want = [
        format!("prestart created {id} v arg1"),
        format!("createRuntime1 created {id} v arg1"),
        format!("createRuntime2 created {id} v arg1"),
        format!("createContainer created {id} v arg1"),
        format!("startContainer created {id} v arg1"),
        "process".to_owned(),
        format!("poststart running {id} v arg1"),
        format!("poststop stopped {id} v arg1"),
    ];
    // `start` returns (and runs poststart) once it has released the init, as runc does, so
    // poststart runs concurrently with the startContainer hooks and the process (waiting for
    // the exec could deadlock against a seccomp agent holding that execve). In order: the four
    // create-time hooks, then startContainer before the process; poststop last.
    assert_eq!(got.len(), want.len(), "{got:?}");
    assert_eq!(&got[..4], &want[..4], "{got:?}");
    let pos = |w: &str| {
        got.iter()
            .position(|g| g == w)
            .unwrap_or_else(|| panic!("{w}: {got:?}"))
    };
    assert!(
        pos(&want[4]) < pos(&want[5]),
        "startContainer after the process: {got:?}"
    );
    pos(&want[6]);
    assert_eq!(got[7], want[7]);
}

#[test]
fn create_time_hooks_see_created() {
    // state.md: `creating` is step 2 of the lifecycle, `created` after it; prestart,
    // createRuntime and createContainer are steps 3 to 5 (runtime-tools' hooks_stdin and crun
    // agree; runc 1.1 says `creating`). The pid is the init's as the hook's namespace sees it:
    // pid 1 for createContainer, which runs in the container's pid namespace.
    let Some(mut b) = bundle("hooks_created") else {
        return;
    };
    let log = b.path().join("hooks.log");
    // Each hook appends the state it read as one line.
    let hook = || {
        let script = format!("cat >> {0}; echo >> {0}", log.display());
        json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
    };
    let hooks = json!({
        "prestart": [hook()],
        "createRuntime": [hook()],
        "createContainer": [hook()],
    });
    set(&mut b, "/hooks", hooks);
    b.args(&["sleep", "1000"]);
    assert_eq!(b.create().code, 0);
    let pid = b.state()["pid"].clone();
    let got: Vec<(serde_json::Value, serde_json::Value)> = read(&log)
        .lines()
        .map(|l| {
            let st: serde_json::Value = serde_json::from_str(l).unwrap();
            (st["status"].clone(), st["pid"].clone())
        })
        .collect();
    let created = json!("created");
    assert_eq!(
        got,
        vec![
            (created.clone(), pid.clone()),
            (created.clone(), pid),
            (created, json!(1))
        ]
    );
}

#[test]
fn failing_create_runtime_hook_fails_create_and_leaves_nothing() {
    let Some(mut b) = bundle("hook_fails") else {
        return;
    };
    set(
        &mut b,
        "/hooks",
        json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 3"]}]}),
    );
    let out = b.create();
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("createRuntime hook #0") && out.stderr.contains("nope"),
        "{out:?}"
    );
    assert_nothing_left(&b);
}

#[test]
fn hook_timeout_is_enforced() {
    let Some(mut b) = bundle("hook_timeout") else {
        return;
    };
    set(
        &mut b,
        "/hooks",
        json!({"prestart": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]}),
    );
    let out = b.create();
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("timed out"), "{out:?}");
    assert_nothing_left(&b);
}

#[test]
fn failing_poststop_hook_only_warns() {
    let Some(mut b) = bundle("poststop_warns") else {
        return;
    };
    set(
        &mut b,
        "/hooks",
        json!({"poststop": [{"path": "/bin/false"}]}),
    );
    let out = b.run_container();
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("poststop hook #0"), "{out:?}");
    assert_nothing_left(&b);
}
