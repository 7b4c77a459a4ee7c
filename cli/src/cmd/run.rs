//! `dockermind run`: create (pulling a missing image), attach, start, wait; the container's
//! exit code, or docker's 125/126/127 when it could not run.

use super::image;
use crate::args::RunArgs;
use crate::term;
use anyhow::{bail, Context, Result};
use dm_cli::client::{enc, query};
use dm_cli::{Client, ClientError};
use serde_json::{json, Map, Value};

/// Runs the command; errors are printed here (they decide the exit code).
pub fn run(c: &Client, a: &RunArgs) -> i32 {
    match attempt(c, a) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dockermind: {e:#}");
            match e.downcast_ref::<StartFailed>() {
                Some(s) => s.code,
                None => 125,
            }
        }
    }
}

/// The container was created but its process could not start.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct StartFailed {
    code: i32,
    message: String,
}

fn attempt(c: &Client, a: &RunArgs) -> Result<i32> {
    let body = create_body(a)?;
    let id = create(c, a, &body)?;
    if a.detach {
        start(c, &id, a.rm)?;
        println!("{id}");
        return Ok(0);
    }
    let attach_q = query(&[
        ("stream", "1"),
        ("stdin", if a.interactive { "1" } else { "0" }),
        ("stdout", "1"),
        ("stderr", "1"),
    ]);
    let hij = c.hijack("POST", &format!("/containers/{id}/attach{attach_q}"), None)?;
    // Asked before start, answered at exit: no exit can be missed.
    let cond = if a.rm { "removed" } else { "next-exit" };
    let wait = c.send(
        "POST",
        &format!("/containers/{id}/wait?condition={cond}"),
        &[],
        None,
    )?;
    start(c, &id, a.rm)?;
    let raw = (a.tty && a.interactive && term::stdin_is_tty()).then(term::RawMode::enter);
    let mut resize = |h: u16, w: u16| {
        let _ = c.call(
            "POST",
            &format!("/containers/{id}/resize?h={h}&w={w}"),
            None,
        );
    };
    let mut forward = |s: nix::sys::signal::Signal| {
        let _ = c.call(
            "POST",
            &format!("/containers/{id}/kill?signal={}", s.as_str()),
            None,
        );
    };
    let hooks = term::Hooks {
        resize: a.tty.then_some(&mut resize as &mut dyn FnMut(u16, u16)),
        // With a terminal, ^C reaches the container as a byte; without one, as docker's
        // --sig-proxy, the signal is sent to it.
        signal: (!a.tty).then_some(&mut forward as &mut dyn FnMut(nix::sys::signal::Signal)),
    };
    let pumped = term::pump(hij, a.interactive, a.tty, hooks);
    drop(raw);
    pumped.context("copying the container's stdio")?;
    let v: Value = serde_json::from_slice(&wait.body.into_bytes()?)?;
    if let Some(m) = v.pointer("/Error/Message").and_then(Value::as_str) {
        bail!("waiting for the container: {m}");
    }
    Ok(v.get("StatusCode").and_then(Value::as_i64).unwrap_or(-1) as i32)
}

fn create(c: &Client, a: &RunArgs, body: &Value) -> Result<String> {
    let path = match &a.name {
        Some(n) => format!("/containers/create{}", query(&[("name", n)])),
        None => "/containers/create".to_owned(),
    };
    let r: std::result::Result<Value, _> = c.json("POST", &path, Some(body));
    let v = match r {
        Err(ClientError::Api {
            status: 404,
            message,
        }) if message.contains("No such image") => {
            eprintln!(
                "Unable to find image '{}' locally",
                image::with_tag(&a.image)
            );
            image::pull(c, &a.image, &mut std::io::stderr())?;
            c.json("POST", &path, Some(body))?
        }
        r => r?,
    };
    Ok(v.get("Id")
        .and_then(Value::as_str)
        .context("create answered without an Id")?
        .to_owned())
}

fn start(c: &Client, id: &str, rm: bool) -> Result<()> {
    let Err(e) = c.call("POST", &format!("/containers/{id}/start"), None) else {
        return Ok(());
    };
    if rm {
        let _ = c.call("DELETE", &format!("/containers/{}?force=1", enc(id)), None);
    }
    let message = e.to_string();
    let lower = message.to_lowercase();
    // As docker: a command that cannot be found is 127, one that cannot be run 126.
    let code = if lower.contains("not found") || lower.contains("no such file") {
        127
    } else if lower.contains("permission denied") {
        126
    } else {
        125
    };
    Err(StartFailed { code, message }.into())
}

/// The create request for the flags.
pub fn create_body(a: &RunArgs) -> Result<Value> {
    let mut env = vec![];
    for e in &a.env {
        if e.contains('=') {
            env.push(e.clone());
        } else if let Ok(v) = std::env::var(e) {
            env.push(format!("{e}={v}"));
        }
    }
    let mut cfg = Map::new();
    cfg.insert("Image".into(), json!(a.image));
    cfg.insert("Env".into(), json!(env));
    cfg.insert("Tty".into(), json!(a.tty));
    cfg.insert("OpenStdin".into(), json!(a.interactive));
    cfg.insert("StdinOnce".into(), json!(a.interactive && !a.detach));
    cfg.insert("AttachStdin".into(), json!(a.interactive && !a.detach));
    cfg.insert("AttachStdout".into(), json!(!a.detach));
    cfg.insert("AttachStderr".into(), json!(!a.detach));
    if !a.command.is_empty() {
        cfg.insert("Cmd".into(), json!(a.command));
    }
    if let Some(e) = &a.entrypoint {
        cfg.insert("Entrypoint".into(), json!([e]));
    }
    if let Some(w) = &a.workdir {
        if !w.starts_with('/') {
            bail!("invalid argument {w:?} for \"-w, --workdir\" flag: the working directory must be an absolute path");
        }
        cfg.insert("WorkingDir".into(), json!(w));
    }
    if let Some(u) = &a.user {
        cfg.insert("User".into(), json!(u));
    }
    let (exposed, bindings) = ports(&a.publish)?;
    cfg.insert("ExposedPorts".into(), exposed);
    let mut host = Map::new();
    host.insert("Binds".into(), json!(a.volume));
    host.insert("PortBindings".into(), bindings);
    host.insert(
        "NetworkMode".into(),
        json!(a.network.as_deref().unwrap_or("default")),
    );
    host.insert("AutoRemove".into(), json!(a.rm));
    if let Some(m) = &a.memory {
        host.insert("Memory".into(), json!(parse_bytes(m, "-m, --memory")?));
    }
    if let Some(n) = &a.cpus {
        host.insert("NanoCpus".into(), json!(nano_cpus(n)?));
    }
    if let Some(p) = a.pids_limit {
        host.insert("PidsLimit".into(), json!(p));
    }
    cfg.insert("HostConfig".into(), Value::Object(host));
    Ok(Value::Object(cfg))
}

/// `-p [IP:][HOST[-END]:]CONTAINER[-END][/PROTO]` as ExposedPorts and PortBindings, expanded
/// as the docker CLI does: a container range maps pairwise onto an equal host range, and a host
/// range for one container port is sent whole (`HostPort: "8000-8010"`, the daemon picks).
fn ports(specs: &[String]) -> Result<(Value, Value)> {
    let mut exposed = Map::new();
    let mut bind: Map<String, Value> = Map::new();
    for p in specs {
        let bad =
            |why: &str| anyhow::anyhow!("invalid argument {p:?} for \"-p, --publish\" flag: {why}");
        let (addr, proto) = p.rsplit_once('/').unwrap_or((p, "tcp"));
        let parts: Vec<&str> = addr.split(':').collect();
        let (ip, hp, cp) = match parts.as_slice() {
            [cp] => ("", "", *cp),
            [hp, cp] => ("", *hp, *cp),
            [ip, hp, cp] => (*ip, *hp, *cp),
            _ => return Err(bad("expected [IP:]HOSTPORT:CONTAINERPORT")),
        };
        if !matches!(proto, "tcp" | "udp" | "sctp") {
            return Err(bad("bad protocol"));
        }
        let (c0, c1) = port_range(cp).ok_or_else(|| bad("bad container port"))?;
        let host = match hp {
            "" => None,
            h => Some(port_range(h).ok_or_else(|| bad("bad host port"))?),
        };
        let host_port = |i: u16| match host {
            None => String::new(),
            Some((h0, h1)) if c0 == c1 && h1 > h0 => format!("{h0}-{h1}"),
            Some((h0, _)) => (h0 + i).to_string(),
        };
        if let Some((h0, h1)) = host {
            if c0 != c1 && h1 - h0 != c1 - c0 {
                return Err(bad("host and container port ranges differ in length"));
            }
        }
        for (i, c) in (c0..=c1).enumerate() {
            let key = format!("{c}/{proto}");
            exposed.insert(key.clone(), json!({}));
            if let Value::Array(v) = bind.entry(key).or_insert_with(|| json!([])) {
                v.push(json!({"HostIp": ip, "HostPort": host_port(i as u16)}));
            }
        }
    }
    Ok((Value::Object(exposed), Value::Object(bind)))
}

/// `80` or `8000-8010` (ports 1-65535, not reversed).
fn port_range(s: &str) -> Option<(u16, u16)> {
    let port = |p: &str| p.parse::<u16>().ok().filter(|n| *n > 0);
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => (port(s)?, port(s)?),
    };
    (a <= b).then_some((a, b))
}

/// `--cpus 1.5` as NanoCpus.
pub fn nano_cpus(n: &str) -> Result<i64> {
    let f: f64 = n
        .parse()
        .ok()
        .filter(|f: &f64| f.is_finite() && *f >= 0.0)
        .with_context(|| {
            format!("invalid argument {n:?} for \"--cpus\" flag: not a number of CPUs")
        })?;
    Ok((f * 1e9).round() as i64)
}

/// A byte count with an optional b/k/m/g/t suffix (powers of 1024, as docker reads them).
pub fn parse_bytes(s: &str, flag: &str) -> Result<i64> {
    let bad =
        || anyhow::anyhow!("invalid argument {s:?} for \"{flag}\" flag: expected a size like 100m");
    let t = s.trim().to_ascii_lowercase();
    let t = match t.strip_suffix('b') {
        Some(r) if !r.is_empty() => r.to_owned(),
        _ => t,
    };
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (&t[..], 1),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    if !n.is_finite() || n < 0.0 {
        return Err(bad());
    }
    Ok((n * mult as f64) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_docker_suffixes() {
        assert_eq!(parse_bytes("100m", "m").unwrap(), 100 << 20);
        assert_eq!(parse_bytes("1g", "m").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512", "m").unwrap(), 512);
        assert_eq!(parse_bytes("64kb", "m").unwrap(), 64 << 10);
        assert_eq!(parse_bytes("10b", "m").unwrap(), 10);
        let e = parse_bytes("lots", "-m, --memory").unwrap_err().to_string();
        assert!(e.contains("--memory") && e.contains("lots"), "{e}");
    }

    #[test]
    fn published_ports_become_bindings() {
        let (e, b) = ports(&["8080:80".into(), "127.0.0.1:53:53/udp".into()]).unwrap();
        assert!(e.get("80/tcp").is_some());
        assert_eq!(b["53/udp"][0]["HostIp"], "127.0.0.1");
        assert_eq!(b["80/tcp"][0]["HostPort"], "8080");
        let (_, b) = ports(&["8000-8010:80".into(), "9000-9001:81-82".into()]).unwrap();
        assert_eq!(b["80/tcp"][0]["HostPort"], "8000-8010");
        assert_eq!(b["82/tcp"][0]["HostPort"], "9001");
        assert!(ports(&["9000-9002:81-82".into()]).is_err());
        assert!(ports(&["x:80".into()])
            .unwrap_err()
            .to_string()
            .contains("--publish"));
    }
}
