//! `dockermind exec`: the command's exit code.

use crate::args::ExecArgs;
use crate::term;
use anyhow::{Context, Result};
use dm_cli::client::enc;
use dm_cli::Client;
use serde_json::{json, Value};

/// Runs the command in the container and returns its exit code.
pub fn exec(c: &Client, a: &ExecArgs) -> Result<i32> {
    let body = json!({
        "AttachStdin": a.interactive && !a.detach,
        "AttachStdout": !a.detach,
        "AttachStderr": !a.detach,
        "Tty": a.tty,
        "Cmd": a.command,
        "Env": a.env,
        "User": a.user.clone().unwrap_or_default(),
        "WorkingDir": a.workdir.clone().unwrap_or_default(),
    });
    let v: Value = c.json(
        "POST",
        &format!("/containers/{}/exec", enc(&a.container)),
        Some(&body),
    )?;
    let id = v
        .get("Id")
        .and_then(Value::as_str)
        .context("exec create answered without an Id")?
        .to_owned();
    let start = json!({"Detach": a.detach, "Tty": a.tty});
    if a.detach {
        c.call("POST", &format!("/exec/{id}/start"), Some(&start))?;
        return Ok(0);
    }
    let hij = c.hijack("POST", &format!("/exec/{id}/start"), Some(&start))?;
    let raw = (a.tty && a.interactive && term::stdin_is_tty()).then(term::RawMode::enter);
    let mut resize = |h: u16, w: u16| {
        let _ = c.call("POST", &format!("/exec/{id}/resize?h={h}&w={w}"), None);
    };
    let hooks = term::Hooks {
        resize: a.tty.then_some(&mut resize as &mut dyn FnMut(u16, u16)),
        signal: None,
    };
    let pumped = term::pump(hij, a.interactive, a.tty, hooks);
    drop(raw);
    pumped.context("copying the exec's stdio")?;
    let info: Value = c.json("GET", &format!("/exec/{id}/json"), None)?;
    Ok(info.get("ExitCode").and_then(Value::as_i64).unwrap_or(126) as i32)
}
