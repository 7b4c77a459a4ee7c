//! `exec` (runc CLI; what containerd and conmon call for every `exec`): output, exit status,
//! namespaces and cgroup of the new process, `--process` JSON, `--detach --pid-file`, and the
//! refusal to exec into a stopped container.

use super::{errored, shell_spec, succeeded, write, Rec};
use crate::case::{Level::*, Outcome};
use crate::error::{io, Result};
use crate::runtime::{Runtime, Sandbox};
use serde_json::json;
use std::time::Duration;

const EXEC: &str = "runc-cli#exec";

fn ns_of(pid: &str, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .map(|t| t.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Runs processes in a running container with `exec`.
pub fn exec(rt: &Runtime, r: &mut Rec) -> Result<()> {
    let sb = Sandbox::new(rt)?;
    write(&sb, &shell_spec(&sb, "exec sleep 1000"))?;
    let c = sb.create(&[]);
    let s = sb.rt(&["start", &sb.id]);
    r.add(
        "setup",
        "runtime.md#start",
        Must,
        "a container to exec into starts",
        Outcome::check(c.code == 0 && s.code == 0, || {
            format!(
                "create {}, start {}: {}{}",
                c.code,
                s.code,
                c.stderr.trim(),
                s.stderr.trim()
            )
        }),
    );
    let pid = sb
        .state()
        .and_then(|st| st["pid"].as_i64())
        .unwrap_or(0)
        .to_string();

    let o = sb.rt(&[
        "exec",
        &sb.id,
        "sh",
        "-c",
        "echo dmc-exec-out; for n in pid mnt net; do readlink /proc/self/ns/$n; done",
    ]);
    r.add(
        "exec.output",
        EXEC,
        Must,
        "exec runs the command in the foreground and passes its output",
        Outcome::check(o.code == 0 && o.stdout.contains("dmc-exec-out"), || {
            format!("exit {}: {:?} {}", o.code, o.stdout, o.stderr.trim())
        }),
    );
    let seen: Vec<&str> = o.stdout.lines().skip(1).collect();
    let want = [ns_of(&pid, "pid"), ns_of(&pid, "mnt"), ns_of(&pid, "net")];
    r.add(
        "exec.namespaces",
        EXEC,
        Must,
        "the exec'd process joins the container's pid, mount and network namespaces",
        Outcome::eq(seen, want.iter().map(String::as_str).collect()),
    );
    let o = sb.rt(&["exec", &sb.id, "sh", "-c", "exit 7"]);
    r.add(
        "exec.exit-status",
        EXEC,
        Must,
        "exec exits with the process's status",
        Outcome::eq(o.code, 7),
    );
    let o = sb.rt(&["exec", &sb.id, "cat", "/proc/self/cgroup"]);
    let container_cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    r.add(
        "exec.cgroup",
        EXEC,
        Must,
        "the exec'd process is in the container's cgroups",
        Outcome::check(
            o.code == 0 && !container_cg.is_empty() && o.stdout.trim() == container_cg.trim(),
            || {
                format!(
                    "exec saw {:?}, container is in {:?}",
                    o.stdout.trim(),
                    container_cg.trim()
                )
            },
        ),
    );

    let process = json!({"terminal": false, "user": {"uid": 1000, "gid": 1000}, "cwd": "/tmp",
        "args": ["sh", "-c", "echo \"$(id -u):$(id -g):$(pwd):$DMC_EXEC\""], "env": ["PATH=/bin", "DMC_EXEC=from-json"]});
    let pfile = sb.bundle().join("process.json");
    std::fs::write(&pfile, process.to_string()).map_err(io("write", &pfile))?;
    let o = sb.rt(&["exec", "--process", &pfile.to_string_lossy(), &sb.id]);
    r.add(
        "exec.process-json",
        EXEC,
        Must,
        "exec --process applies the JSON's args, env, cwd and user",
        Outcome::eq(o.stdout.trim(), "1000:1000:/tmp:from-json"),
    );

    let pid_file = sb.bundle().join("exec.pid");
    let o = sb.rt(&[
        "exec",
        "--detach",
        "--pid-file",
        &pid_file.to_string_lossy(),
        &sb.id,
        "sleep",
        "1000",
    ]);
    let epid = std::fs::read_to_string(&pid_file)
        .unwrap_or_default()
        .trim()
        .to_owned();
    let cmdline = std::fs::read_to_string(format!("/proc/{epid}/cmdline")).unwrap_or_default();
    r.add(
        "exec.detach-pid-file",
        EXEC,
        Must,
        "exec --detach returns with the process running and its pid in --pid-file",
        Outcome::check(
            o.code == 0 && !epid.is_empty() && cmdline.starts_with("sleep\0"),
            || {
                format!(
                    "exit {}, pid file {epid:?}, cmdline {cmdline:?}: {}",
                    o.code,
                    o.stderr.trim()
                )
            },
        ),
    );

    let _ = sb.rt(&["kill", &sb.id, "KILL"]);
    let st = sb.wait_status("stopped", Duration::from_secs(10));
    let o = sb.rt(&["exec", &sb.id, "true"]);
    r.add(
        "exec.stopped.error",
        EXEC,
        Must,
        "exec into a stopped container fails",
        Outcome::check(st == "stopped" && o.code != 0, || {
            format!("status {st}, exec exit {}", o.code)
        }),
    );
    let d = sb.rt(&["delete", &sb.id]);
    r.add(
        "delete",
        "runtime.md#delete",
        Must,
        "delete after exec succeeds",
        succeeded(&d),
    );
    let gone = sb.rt(&["exec", &sb.id, "true"]);
    r.add(
        "exec.unknown.error",
        EXEC,
        Must,
        "exec into a deleted container fails",
        errored(&gone),
    );
    Ok(())
}
