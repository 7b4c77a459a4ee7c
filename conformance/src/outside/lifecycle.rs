//! create → start → kill → delete with state checked at every step, and the errors the spec
//! mandates for operations in the wrong state.

use super::{errored, poll, proc_exists, shell_spec, started, succeeded, write, Rec};
use crate::case::{Level::*, Outcome};
use crate::error::Result;
use crate::runtime::{Runtime, Sandbox};
use serde_json::{json, Value};
use std::time::Duration;

const STATE: &str = "runtime.md#state";
const CREATE: &str = "runtime.md#create";
const START: &str = "runtime.md#start";
const KILL: &str = "runtime.md#kill";
const DELETE: &str = "runtime.md#delete";
const WAIT: Duration = Duration::from_secs(10);
const SCRIPT: &str = "touch /dm-shared/started; exec sleep 1000";

/// The full lifecycle of one container.
pub fn lifecycle(rt: &Runtime, r: &mut Rec) -> Result<()> {
    let sb = Sandbox::new(rt)?;
    // pid 1 gets only signals it handles: a trap makes USR1 observable.
    let mut spec = shell_spec(&sb, "trap 'touch /dm-shared/usr1' USR1; touch /dm-shared/started; while true; do sleep 0.2; done");
    let annotations = json!({"org.dmc.test": "yes", "org.dmc.other": "2"});
    spec["annotations"] = annotations.clone();
    write(&sb, &spec)?;
    let pid_file = sb.bundle().join("container.pid");
    let c = sb.create(&["--pid-file", &pid_file.to_string_lossy()]);
    r.add(
        "create",
        CREATE,
        Must,
        "create succeeds on a valid bundle",
        succeeded(&c),
    );
    let st = sb.state().unwrap_or(Value::Null);
    let pid = st["pid"].as_i64().unwrap_or(0);
    r.add(
        "state.status.created",
        STATE,
        Must,
        "status is created after create",
        Outcome::eq(st["status"].as_str(), Some("created")),
    );
    r.add(
        "state.ociVersion",
        STATE,
        Must,
        "state has ociVersion",
        Outcome::check(
            st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
            || format!("state {st}"),
        ),
    );
    r.add(
        "state.id",
        STATE,
        Must,
        "state id is the container id",
        Outcome::eq(st["id"].as_str(), Some(sb.id.as_str())),
    );
    r.add(
        "state.pid",
        STATE,
        Must,
        "state pid is a live process after create",
        Outcome::check(proc_exists(pid), || format!("pid {pid}")),
    );
    let bundle = std::fs::canonicalize(sb.bundle()).unwrap_or_default();
    r.add(
        "state.bundle",
        STATE,
        Must,
        "state bundle is the bundle's absolute path",
        Outcome::eq(
            st["bundle"].as_str().map(std::path::PathBuf::from),
            Some(bundle),
        ),
    );
    r.add(
        "state.annotations",
        STATE,
        Must,
        "state annotations are the config's",
        Outcome::eq(&st["annotations"], &annotations),
    );
    let pf = std::fs::read_to_string(&pid_file).unwrap_or_default();
    r.add(
        "pid-file",
        "runc-cli#create",
        Must,
        "--pid-file holds the container pid",
        Outcome::check(pid > 0 && pf.trim() == pid.to_string(), || {
            format!("pid file {pf:?}, state pid {pid}")
        }),
    );
    r.add(
        "create.not-started",
        CREATE,
        Must,
        "create does not run the user program",
        Outcome::check(!started(&sb), || "the user program ran before start".into()),
    );

    let dup = sb.create(&[]);
    r.add(
        "create.duplicate-id",
        CREATE,
        Must,
        "create with an existing id fails",
        errored(&dup),
    );
    let st2 = sb.state().unwrap_or(Value::Null);
    r.add(
        "create.duplicate-id.no-effect",
        CREATE,
        Must,
        "the failed create leaves the container as it was",
        Outcome::eq(
            (st2["status"].as_str(), st2["pid"].as_i64()),
            (Some("created"), Some(pid)),
        ),
    );

    let mut cgroup = None;
    if pid > 0 {
        cgroup = memory_cgroup(pid);
    }
    let s = sb.rt(&["start", &sb.id]);
    r.add(
        "start",
        START,
        Must,
        "start of a created container succeeds",
        succeeded(&s),
    );
    r.add(
        "start.runs-program",
        START,
        Must,
        "start runs the user program",
        Outcome::check(poll(WAIT, || started(&sb)), || {
            "no marker from the program".into()
        }),
    );
    r.add(
        "state.status.running",
        STATE,
        Must,
        "status is running after start",
        Outcome::eq(sb.status(), "running".into()),
    );

    let again = sb.rt(&["start", &sb.id]);
    r.add(
        "start.running.error",
        START,
        Must,
        "start of a running container fails",
        errored(&again),
    );
    r.add(
        "start.running.no-effect",
        START,
        Must,
        "the failed start leaves it running",
        Outcome::eq(sb.status(), "running".into()),
    );
    let del = sb.rt(&["delete", &sb.id]);
    r.add(
        "delete.running.error",
        DELETE,
        Must,
        "delete of a running container fails",
        errored(&del),
    );
    r.add(
        "delete.running.no-effect",
        DELETE,
        Must,
        "the failed delete leaves it running",
        Outcome::eq(sb.status(), "running".into()),
    );

    let u = sb.rt(&["kill", &sb.id, "USR1"]);
    let usr1 = sb.bundle().join("shared/usr1");
    r.add(
        "kill.signal-delivered",
        KILL,
        Must,
        "kill sends the named signal to the container process",
        Outcome::check(u.code == 0 && poll(WAIT, || usr1.exists()), || {
            format!(
                "kill USR1 exit {}: {}; no trap marker",
                u.code,
                u.stderr.trim()
            )
        }),
    );
    let k = sb.rt(&["kill", &sb.id, "KILL"]);
    r.add(
        "kill.running",
        KILL,
        Must,
        "kill of a running container succeeds",
        succeeded(&k),
    );
    r.add(
        "state.status.stopped",
        STATE,
        Must,
        "status becomes stopped once the process exits",
        Outcome::eq(sb.wait_status("stopped", WAIT), "stopped".into()),
    );
    let k2 = sb.rt(&["kill", &sb.id, "KILL"]);
    r.add(
        "kill.stopped.error",
        KILL,
        Must,
        "kill of a stopped container fails",
        errored(&k2),
    );
    let s2 = sb.rt(&["start", &sb.id]);
    r.add(
        "start.stopped.error",
        START,
        Must,
        "start of a stopped container fails",
        errored(&s2),
    );
    r.add(
        "start.stopped.no-effect",
        START,
        Must,
        "the failed start leaves it stopped",
        Outcome::eq(sb.status(), "stopped".into()),
    );

    let d = sb.rt(&["delete", &sb.id]);
    r.add(
        "delete.stopped",
        DELETE,
        Must,
        "delete of a stopped container succeeds",
        succeeded(&d),
    );
    let gone = sb.rt(&["state", &sb.id]);
    r.add(
        "delete.state-gone",
        DELETE,
        Must,
        "state of a deleted container fails",
        errored(&gone),
    );
    r.add(
        "delete.cgroup-removed",
        DELETE,
        Must,
        "delete removes the cgroup create made",
        match cgroup {
            None => {
                Outcome::Fail("could not read the container's memory cgroup while it ran".into())
            }
            Some(p) if Some(&p) == memory_cgroup(std::process::id() as i64).as_ref() => {
                Outcome::Fail(format!(
                    "the container ran in its caller's cgroup {}: create made none",
                    p.display()
                ))
            }
            Some(p) => Outcome::check(!p.exists(), || format!("{} still exists", p.display())),
        },
    );
    r.add(
        "delete.process-gone",
        DELETE,
        Must,
        "no container process is left after delete",
        Outcome::check(!proc_exists(pid) || is_zombie_free(pid), || {
            format!("pid {pid} still exists")
        }),
    );

    let unknown = "dmc-never-created";
    for (op, sec) in [
        ("state", STATE),
        ("start", START),
        ("kill", KILL),
        ("delete", DELETE),
    ] {
        let o = sb.rt(&[op, unknown]);
        r.add(
            &format!("{op}.unknown-id.error"),
            sec,
            Must,
            &format!("{op} of an unknown id fails"),
            errored(&o),
        );
    }
    Ok(())
}

fn is_zombie_free(pid: i64) -> bool {
    // The pid may have been reused by an unrelated process: only our sleep counts.
    std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        .map(|c| !c.contains("sleep"))
        .unwrap_or(true)
}

/// The host directory of `pid`'s memory cgroup (v1) or unified cgroup (v2).
fn memory_cgroup(pid: i64) -> Option<std::path::PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = |ctrl: &str| {
        text.lines().find_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, c, p) = (it.next()?, it.next()?, it.next()?);
            (c.split(',').any(|x| x == ctrl) || (ctrl.is_empty() && c.is_empty()))
                .then(|| p.to_owned())
        })
    };
    if let Some(p) = path("memory") {
        return Some(std::path::PathBuf::from(format!(
            "/sys/fs/cgroup/memory{p}"
        )));
    }
    path("").map(|p| std::path::PathBuf::from(format!("/sys/fs/cgroup{p}")))
}

/// Operations on a created (not yet started) container.
pub fn created(rt: &Runtime, r: &mut Rec) -> Result<()> {
    let sb = Sandbox::new(rt)?;
    write(&sb, &shell_spec(&sb, SCRIPT))?;
    let c = sb.create(&[]);
    let d = sb.rt(&["delete", &sb.id]);
    r.add(
        "delete.created.error",
        DELETE,
        Must,
        "delete of a created (not stopped) container fails",
        errored(&d),
    );
    r.add(
        "delete.created.no-effect",
        DELETE,
        Must,
        "the failed delete leaves it created",
        Outcome::check(c.code == 0 && sb.status() == "created", || {
            format!("create exit {}, status {}", c.code, sb.status())
        }),
    );
    let sb = Sandbox::new(rt)?;
    write(&sb, &shell_spec(&sb, SCRIPT))?;
    let c = sb.create(&[]);
    let k = sb.rt(&["kill", &sb.id, "KILL"]);
    r.add(
        "kill.created",
        KILL,
        Must,
        "kill of a created container succeeds",
        Outcome::check(c.code == 0 && k.code == 0, || {
            format!(
                "create exit {}, kill exit {}: {}",
                c.code,
                k.code,
                k.stderr.trim()
            )
        }),
    );
    r.add(
        "kill.created.stopped",
        STATE,
        Must,
        "a killed created container becomes stopped",
        Outcome::eq(sb.wait_status("stopped", WAIT), "stopped".into()),
    );
    r.add(
        "kill.created.not-started",
        CREATE,
        Must,
        "the user program never ran",
        Outcome::check(!started(&sb), || "the user program ran".into()),
    );
    let d = sb.rt(&["delete", &sb.id]);
    r.add(
        "delete.after-kill",
        DELETE,
        Must,
        "delete of the stopped container succeeds",
        succeeded(&d),
    );
    Ok(())
}

/// A container with no namespaces shares the runtime's mount namespace, so what create mounts
/// for it lands there: delete must take it away again.
pub fn no_namespaces(rt: &Runtime, r: &mut Rec) -> Result<()> {
    let sb = Sandbox::new(rt)?;
    let mut spec = shell_spec(&sb, SCRIPT);
    for ns in ["pid", "network", "ipc", "uts", "mount"] {
        crate::spec::drop_namespace(&mut spec, ns);
    }
    spec.as_object_mut().map(|o| o.remove("hostname"));
    if let Some(l) = spec["linux"].as_object_mut() {
        l.remove("maskedPaths");
        l.remove("readonlyPaths");
    }
    write(&sb, &spec)?;
    let c = sb.create(&[]);
    let s = sb.rt(&["start", &sb.id]);
    r.add(
        "start",
        "config-linux.md#namespaces",
        Must,
        "a container without namespaces starts (it inherits the runtime's)",
        Outcome::check(
            c.code == 0 && s.code == 0 && poll(WAIT, || started(&sb)),
            || {
                format!(
                    "create exit {} ({}), start exit {} ({})",
                    c.code,
                    c.stderr.trim(),
                    s.code,
                    s.stderr.trim()
                )
            },
        ),
    );
    let _ = sb.rt(&["kill", &sb.id, "KILL"]);
    let _ = sb.wait_status("stopped", WAIT);
    let d = sb.rt(&["delete", &sb.id]);
    let left = sb.mounts_left();
    r.add(
        "delete.mounts-released",
        DELETE,
        Must,
        "delete removes the mounts create made in the runtime's mount namespace",
        Outcome::check(d.code == 0 && left.is_empty(), || {
            format!("delete exit {}, mounts left: {left:?}", d.code)
        }),
    );
    Ok(())
}
