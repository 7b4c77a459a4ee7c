//! Checks of process: args, env, cwd, user, rlimits, capabilities, nnp, oom_score_adj; and
//! the terminal.

use super::{strings, Level, Plan, Probe};
use serde_json::Value;

/// process.cwd alone (also checked where getcwd is filtered: the probe reads /proc/self/cwd).
pub(super) fn cwd(p: &mut Plan, spec: &Value) {
    if let Some(cwd) = spec["process"]["cwd"].as_str() {
        p.add(
            "process.cwd",
            "config.md#process",
            Level::Must,
            format!("cwd is {cwd}"),
            Probe::Cwd(cwd.into()),
        );
    }
}

pub(super) fn process(p: &mut Plan, spec: &Value) {
    const S: &str = "config.md#process";
    let proc_ = &spec["process"];
    let args = strings(&proc_["args"]);
    p.add(
        "process.args",
        S,
        Level::Must,
        format!("argv is {args:?}"),
        Probe::Args(args),
    );
    for kv in strings(&proc_["env"]) {
        let (k, v) = kv.split_once('=').unwrap_or((&kv, ""));
        p.add(
            format!("process.env.{k}"),
            S,
            Level::Must,
            format!("env {kv}"),
            Probe::Env(k.into(), v.into()),
        );
    }
    cwd(p, spec);
    const U: &str = "config.md#posix-platform-user";
    let user = &proc_["user"];
    if let Some(uid) = user["uid"].as_u64() {
        p.add(
            "process.user.uid",
            U,
            Level::Must,
            format!("uid is {uid}"),
            Probe::Uid(uid as u32),
        );
    }
    if let Some(gid) = user["gid"].as_u64() {
        p.add(
            "process.user.gid",
            U,
            Level::Must,
            format!("gid is {gid}"),
            Probe::Gid(gid as u32),
        );
    }
    for g in user["additionalGids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
    {
        p.add(
            format!("process.user.additionalGids.{g}"),
            U,
            Level::Must,
            format!("in group {g}"),
            Probe::Group(g as u32),
        );
    }
    if let Some(m) = user["umask"].as_u64() {
        p.add(
            "process.user.umask",
            U,
            Level::Must,
            format!("umask is {m:04o}"),
            Probe::Umask(m as u32),
        );
    }
    for r in proc_["rlimits"].as_array().into_iter().flatten() {
        let ty = r["type"].as_str().unwrap_or("?").to_owned();
        let (soft, hard) = (
            r["soft"].as_u64().unwrap_or(0),
            r["hard"].as_u64().unwrap_or(0),
        );
        p.add(
            format!("process.rlimits.{ty}"),
            "config.md#posix-process",
            Level::Must,
            format!("getrlimit({ty}) is soft {soft} hard {hard}"),
            Probe::Rlimit(ty, soft, hard),
        );
    }
    let caps = &proc_["capabilities"];
    for (key, status) in [
        ("bounding", "CapBnd"),
        ("effective", "CapEff"),
        ("permitted", "CapPrm"),
        ("inheritable", "CapInh"),
        ("ambient", "CapAmb"),
    ] {
        if caps.get(key).is_some() {
            let set = strings(&caps[key]);
            p.add(
                format!("process.capabilities.{key}"),
                "config.md#linux-process",
                Level::Must,
                format!("{key} set is exactly {set:?}"),
                Probe::Caps(status, set),
            );
        }
    }
    if let Some(nnp) = proc_["noNewPrivileges"].as_bool() {
        p.add(
            "process.noNewPrivileges",
            "config.md#linux-process",
            Level::Must,
            format!("no_new_privs is {}", nnp as u8),
            Probe::NoNewPrivs(nnp),
        );
    }
    if let Some(adj) = proc_["oomScoreAdj"].as_i64() {
        p.add(
            "process.oomScoreAdj",
            "config.md#linux-process",
            Level::Must,
            format!("oom_score_adj is {adj}"),
            Probe::OomScoreAdj(adj),
        );
    }
}

pub(super) fn terminal(p: &mut Plan, spec: &Value) {
    if spec["process"]["terminal"] != true {
        return;
    }
    for (fd, name) in [(0, "stdin"), (1, "stdout"), (2, "stderr")] {
        p.add(
            format!("process.terminal.{name}"),
            "config.md#process",
            Level::Must,
            format!("{name} is the terminal"),
            Probe::IsTty(fd),
        );
    }
    p.add(
        "process.terminal.console",
        "config-linux.md#default-devices",
        Level::Must,
        "/dev/console is the container's terminal",
        Probe::Console,
    );
    p.add(
        "process.terminal.controlling",
        "config.md#process",
        Level::Should,
        "the terminal is the controlling terminal",
        Probe::ControllingTty,
    );
}
