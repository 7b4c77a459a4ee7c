//! Hooks: that each kind runs, in order, in the right namespace, with the state on stdin, and
//! what a failing hook does to the lifecycle.

use super::{errored, shell_spec, succeeded, write, Rec};
use crate::case::{Level::*, Outcome};
use crate::context::CHECKER_IN_CONTAINER;
use crate::error::Result;
use crate::runtime::{Runtime, Sandbox};
use serde_json::{json, Value};
use std::time::Duration;

const HOOKS: &str = "config.md#posix-platform-hooks";
const LIFECYCLE: &str = "runtime.md#lifecycle";
const WAIT: Duration = Duration::from_secs(10);

fn hook(sb: &Sandbox, label: &str) -> Value {
    let checker = sb.host_checker.to_string_lossy().into_owned();
    let log = sb
        .bundle()
        .join("shared/hooks.log")
        .to_string_lossy()
        .into_owned();
    json!({"path": checker, "args": [checker, "hook", log, label], "env": [format!("DMC_HOOK_ENV={label}")]})
}

fn log(sb: &Sandbox) -> Vec<Value> {
    std::fs::read_to_string(sb.bundle().join("shared/hooks.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn position(log: &[Value], label: &str) -> Option<usize> {
    log.iter().position(|e| e["label"] == label)
}

fn ns_of(pid: i64, ns: &str) -> Option<u64> {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .ok()
        .and_then(|t| crate::probe::inode_of_link(&t.to_string_lossy()))
}

/// One container with every hook kind, driven through create/start/kill/delete.
pub fn hooks(rt: &Runtime, r: &mut Rec) -> Result<()> {
    let sb = Sandbox::new(rt)?;
    let mut spec = shell_spec(&sb, "touch /dm-shared/started; exec sleep 1000");
    let inside = json!({"path": CHECKER_IN_CONTAINER, "args": [CHECKER_IN_CONTAINER, "hook", "/dm-shared/hooks.log", "startContainer"]});
    spec["hooks"] = json!({
        "prestart": [hook(&sb, "prestart")],
        "createRuntime": [hook(&sb, "createRuntime"), hook(&sb, "createRuntime-2")],
        "createContainer": [hook(&sb, "createContainer")],
        "startContainer": [inside],
        "poststart": [hook(&sb, "poststart")],
        "poststop": [hook(&sb, "poststop")]
    });
    write(&sb, &spec)?;
    let c = sb.create(&[]);
    r.add(
        "create",
        "runtime.md#create",
        Must,
        "create with hooks succeeds",
        succeeded(&c),
    );
    let st = sb.state().unwrap_or(Value::Null);
    let pid = st["pid"].as_i64().unwrap_or(0);
    let ours = |ns: &str| ns_of(std::process::id() as i64, ns);
    let theirs = |ns: &str| ns_of(pid, ns);
    let (ct_mnt, ct_uts) = (theirs("mnt"), theirs("uts"));
    let s = sb.rt(&["start", &sb.id]);
    let after_start = log(&sb);
    let status_after_start = sb.status();
    r.add(
        "poststart.before-start-returns",
        "config.md#poststart",
        Must,
        "poststart hooks have run when start returns",
        Outcome::check(
            s.code == 0 && position(&after_start, "poststart").is_some(),
            || {
                format!(
                    "start exit {} ({}), then status {status_after_start}, hooks so far {:?}",
                    s.code,
                    s.stderr.trim(),
                    labels(&after_start)
                )
            },
        ),
    );
    // The user program runs only once startContainer is done: wait for it (bounded) so the kill
    // below cannot cut a startContainer hook short.
    let _ = super::poll(WAIT, || super::started(&sb));
    let _ = sb.rt(&["kill", &sb.id, "KILL"]);
    let _ = sb.wait_status("stopped", WAIT);
    let d = sb.rt(&["delete", &sb.id]);
    let all = log(&sb);
    r.add(
        "poststop.before-delete-returns",
        "config.md#poststop",
        Must,
        "poststop hooks have run when delete returns",
        Outcome::check(d.code == 0 && position(&all, "poststop").is_some(), || {
            format!("delete exit {}, hooks {:?}", d.code, labels(&all))
        }),
    );

    let sections = [
        ("prestart", "config.md#prestart"),
        ("createRuntime", "config.md#createruntime-hooks"),
        ("createRuntime-2", "config.md#createruntime-hooks"),
        ("createContainer", "config.md#createcontainer-hooks"),
        ("startContainer", "config.md#startcontainer-hooks"),
        ("poststart", "config.md#poststart"),
        ("poststop", "config.md#poststop"),
    ];
    for (label, sec) in sections {
        let e = position(&all, label).map(|i| &all[i]);
        r.add(
            &format!("{label}.called"),
            sec,
            Must,
            &format!("{label} hook is called"),
            Outcome::check(e.is_some(), || format!("hooks called: {:?}", labels(&all))),
        );
        let Some(e) = e else {
            r.add(
                &format!("{label}.state"),
                "runtime.md#lifecycle",
                Must,
                &format!("{label} gets the state on stdin"),
                Outcome::Fail("hook not called".into()),
            );
            continue;
        };
        let s = &e["state"];
        // state.md: the pid as seen from the namespace the hook runs in.
        let want_pid =
            if label.starts_with("createContainer") || label.starts_with("startContainer") {
                1
            } else {
                pid
            };
        let pid_ok = label == "poststop" || s["pid"].as_i64() == Some(want_pid);
        let bundle = std::fs::canonicalize(sb.bundle()).unwrap_or_default();
        let ok = s["id"] == sb.id.as_str()
            && s["bundle"].as_str().map(std::path::PathBuf::from) == Some(bundle)
            && pid_ok
            && s["ociVersion"].is_string();
        r.add(
            &format!("{label}.state"),
            LIFECYCLE,
            Must,
            &format!("{label} gets the container state (id, bundle, pid) on stdin"),
            Outcome::check(ok, || format!("stdin was {s}, want pid {want_pid}")),
        );
    }
    let before = |a: &str, b: &str| match (position(&all, a), position(&all, b)) {
        (Some(x), Some(y)) => {
            Outcome::check(x < y, || format!("{a} ran after {b}: {:?}", labels(&all)))
        }
        _ => Outcome::Fail(format!("missing {a} or {b}: {:?}", labels(&all))),
    };
    r.add(
        "order.same-kind",
        HOOKS,
        Must,
        "hooks of one kind run in the listed order",
        before("createRuntime", "createRuntime-2"),
    );
    r.add(
        "order.createRuntime-createContainer",
        "config.md#createcontainer-hooks",
        Must,
        "createContainer runs after createRuntime",
        before("createRuntime-2", "createContainer"),
    );
    r.add(
        "order.prestart-createContainer",
        "config.md#prestart",
        Must,
        "prestart runs before createContainer",
        before("prestart", "createContainer"),
    );
    r.add(
        "order.createContainer-startContainer",
        "config.md#startcontainer-hooks",
        Must,
        "startContainer runs after createContainer",
        before("createContainer", "startContainer"),
    );
    r.add(
        "order.startContainer-poststart",
        "config.md#poststart",
        Must,
        "poststart runs after startContainer (and so after the user program is executed)",
        match position(&all, "startContainer").map(|i| &all[i]) {
            Some(sc) if sc["poststart_during"] == true => {
                Outcome::Fail("poststart ran while startContainer was still running".into())
            }
            _ => before("startContainer", "poststart"),
        },
    );
    r.add(
        "order.poststop-last",
        "config.md#poststop",
        Must,
        "poststop runs last",
        before("poststart", "poststop"),
    );
    let entry = |label: &str| {
        position(&all, label)
            .map(|i| all[i].clone())
            .unwrap_or(Value::Null)
    };
    let ps = entry("poststart");
    r.add(
        "poststart.state.status",
        "runtime.md#state",
        Must,
        "poststart sees status running (the user program has been executed)",
        Outcome::eq(ps["state"]["status"].as_str(), Some("running")),
    );
    // state.md: `creating` is step 2 of the lifecycle and `created` comes after it; these
    // hooks are steps 3 to 5 (runtime-tools' hooks_stdin checks prestart the same way).
    for label in ["prestart", "createRuntime", "createContainer"] {
        r.add(
            &format!("{label}.state.status"),
            "runtime.md#state",
            Must,
            &format!("{label} sees status created (after step 2 of the lifecycle)"),
            Outcome::eq(entry(label)["state"]["status"].as_str(), Some("created")),
        );
    }
    let sc = entry("startContainer");
    r.add(
        "startContainer.before-user-process",
        "config.md#startcontainer-hooks",
        Must,
        "startContainer runs before the user program",
        Outcome::check(sc["started"] == false, || {
            format!("startContainer saw started = {}", sc["started"])
        }),
    );
    let cr = entry("createRuntime");
    let checker = sb.host_checker.to_string_lossy().into_owned();
    let log_path = sb
        .bundle()
        .join("shared/hooks.log")
        .to_string_lossy()
        .into_owned();
    r.add(
        "args",
        HOOKS,
        Must,
        "hook argv is the configured args",
        Outcome::eq(
            &cr["args"],
            &json!([checker, "hook", log_path, "createRuntime"]),
        ),
    );
    r.add(
        "env",
        HOOKS,
        Must,
        "hook environment is the configured env",
        Outcome::eq(cr["env"].as_str(), Some("createRuntime")),
    );
    let runtime_ns = |label: &str| {
        let e = entry(label);
        Outcome::check(
            e["ns"]["mnt"].as_u64() == ours("mnt") && ours("mnt").is_some(),
            || {
                format!(
                    "{label} ran in mnt ns {}, runtime's is {:?}",
                    e["ns"]["mnt"],
                    ours("mnt")
                )
            },
        )
    };
    let container_ns = |label: &str| {
        let e = entry(label);
        let got = (e["ns"]["mnt"].as_u64(), e["ns"]["uts"].as_u64());
        Outcome::check(got == (ct_mnt, ct_uts) && ct_mnt.is_some(), || {
            format!(
                "{label} ran in (mnt, uts) {got:?}, container's are {:?}",
                (ct_mnt, ct_uts)
            )
        })
    };
    r.add(
        "prestart.runtime-namespace",
        "config.md#prestart",
        Must,
        "prestart runs in the runtime namespace",
        runtime_ns("prestart"),
    );
    r.add(
        "createRuntime.runtime-namespace",
        "config.md#createruntime-hooks",
        Must,
        "createRuntime runs in the runtime namespace",
        runtime_ns("createRuntime"),
    );
    r.add(
        "createContainer.container-namespace",
        "config.md#createcontainer-hooks",
        Must,
        "createContainer runs in the container namespace",
        container_ns("createContainer"),
    );
    r.add(
        "startContainer.container-namespace",
        "config.md#startcontainer-hooks",
        Must,
        "startContainer runs in the container namespace",
        container_ns("startContainer"),
    );
    r.add(
        "poststart.runtime-namespace",
        "config.md#poststart",
        Must,
        "poststart runs in the runtime namespace",
        runtime_ns("poststart"),
    );
    r.add(
        "poststop.runtime-namespace",
        "config.md#poststop",
        Must,
        "poststop runs in the runtime namespace",
        runtime_ns("poststop"),
    );
    Ok(())
}

fn labels(log: &[Value]) -> Vec<String> {
    log.iter()
        .map(|e| e["label"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// What failing hooks do to the lifecycle.
pub fn failing(rt: &Runtime, r: &mut Rec) -> Result<()> {
    for kind in ["createRuntime", "createContainer"] {
        let sb = Sandbox::new(rt)?;
        let mut spec = shell_spec(&sb, "touch /dm-shared/started; exec sleep 1000");
        spec["hooks"] = json!({kind: [hook(&sb, &format!("{kind}-fail"))], "poststop": [hook(&sb, "poststop")]});
        write(&sb, &spec)?;
        let c = sb.create(&[]);
        let sec = if kind == "createRuntime" {
            "config.md#createruntime-hooks"
        } else {
            "config.md#createcontainer-hooks"
        };
        r.add(
            &format!("{kind}.fail.create-errors"),
            sec,
            Must,
            &format!("a failing {kind} hook makes create fail"),
            errored(&c),
        );
        let status = sb.status();
        r.add(
            &format!("{kind}.fail.stopped"),
            sec,
            Must,
            &format!("a failing {kind} hook stops the container"),
            Outcome::check(status == "(no state)" || status == "stopped", || {
                format!("status is {status}")
            }),
        );
        r.add(
            &format!("{kind}.fail.poststop"),
            LIFECYCLE,
            Must,
            &format!("poststop hooks run after a failing {kind} hook"),
            Outcome::check(position(&log(&sb), "poststop").is_some(), || {
                format!("hooks called: {:?}", labels(&log(&sb)))
            }),
        );
    }
    let sb = Sandbox::new(rt)?;
    let mut spec = shell_spec(&sb, "exec sleep 1000");
    // Longer than the runner's own limit on a command, so only the hook timeout can end it.
    spec["hooks"] =
        json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "60"], "timeout": 1}]});
    write(&sb, &spec)?;
    let c = sb.create(&[]);
    r.add(
        "timeout.enforced",
        HOOKS,
        Must,
        "a hook running past its timeout is aborted and create fails",
        Outcome::check(c.code != 0 && c.code != crate::runtime::TIMED_OUT, || {
            format!("create exit {}: {}", c.code, c.stderr.trim())
        }),
    );

    let sb = Sandbox::new(rt)?;
    let mut spec = shell_spec(&sb, "touch /dm-shared/started; exec sleep 1000");
    spec["hooks"] = json!({"poststart": [hook(&sb, "poststart-fail"), hook(&sb, "poststart-2")]});
    write(&sb, &spec)?;
    let _ = sb.create(&[]);
    let s = sb.rt(&["start", &sb.id]);
    r.add(
        "poststart.fail.start-succeeds",
        "config.md#poststart",
        Must,
        "a failing poststart hook only warns: start succeeds",
        succeeded(&s),
    );
    r.add(
        "poststart.fail.next-hook-runs",
        "config.md#poststart",
        Must,
        "the hooks after a failing poststart hook still run",
        Outcome::check(position(&log(&sb), "poststart-2").is_some(), || {
            format!("hooks called: {:?}", labels(&log(&sb)))
        }),
    );
    r.add(
        "poststart.fail.keeps-running",
        "config.md#poststart",
        Must,
        "a failing poststart hook leaves the container running",
        Outcome::eq(sb.status(), "running".into()),
    );

    let sb = Sandbox::new(rt)?;
    let mut spec = shell_spec(&sb, "exec sleep 1000");
    spec["hooks"] = json!({"poststop": [hook(&sb, "poststop-fail"), hook(&sb, "poststop-2")]});
    write(&sb, &spec)?;
    let c = sb.create(&[]);
    let s = sb.rt(&["start", &sb.id]);
    let _ = sb.rt(&["kill", &sb.id, "KILL"]);
    let stopped = sb.wait_status("stopped", WAIT);
    let d = sb.rt(&["delete", &sb.id]);
    r.add(
        "poststop.fail.delete-succeeds",
        "config.md#poststop",
        Must,
        "a failing poststop hook only warns: delete succeeds",
        Outcome::check(
            c.code == 0 && s.code == 0 && stopped == "stopped" && d.code == 0,
            || {
                format!(
                    "create {}, start {}, status {stopped}, delete exit {}: {}",
                    c.code,
                    s.code,
                    d.code,
                    d.stderr.trim()
                )
            },
        ),
    );
    r.add(
        "poststop.fail.next-hook-runs",
        "config.md#poststop",
        Must,
        "the hooks after a failing poststop hook still run",
        Outcome::check(position(&log(&sb), "poststop-2").is_some(), || {
            format!("hooks called: {:?}", labels(&log(&sb)))
        }),
    );
    r.add(
        "poststop.fail.container-gone",
        "runtime.md#delete",
        Must,
        "delete still removes the container",
        errored(&sb.rt(&["state", &sb.id])),
    );
    Ok(())
}
