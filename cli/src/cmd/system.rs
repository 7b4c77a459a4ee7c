//! version, info, events and `system df/prune`.

use super::format::{self, s};
use crate::args::SystemCmd;
use anyhow::Result;
use dm_cli::client::query;
use dm_cli::Client;
use serde_json::{json, Value};
use std::io::{BufRead, Write};
use std::time::{Duration, UNIX_EPOCH};

/// `dockermind version`.
pub fn version(c: &Client) -> Result<i32> {
    println!("Client:");
    println!(" Version:           {}", env!("CARGO_PKG_VERSION"));
    println!(" API version:       {}", dm_cli::client::API_VERSION);
    println!(" OS/Arch:           linux/amd64");
    println!();
    let v: Value = c.json("GET", "/version", None)?;
    println!("Server:");
    println!(" Version:           {}", s(&v, "Version"));
    println!(
        " API version:       {} (minimum version {})",
        s(&v, "ApiVersion"),
        s(&v, "MinAPIVersion")
    );
    println!(" OS/Arch:           {}/{}", s(&v, "Os"), s(&v, "Arch"));
    println!(" Kernel Version:    {}", s(&v, "KernelVersion"));
    Ok(0)
}

/// `dockermind info`.
pub fn info(c: &Client) -> Result<i32> {
    let v: Value = c.json("GET", "/info", None)?;
    let n = |k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    println!("Server:");
    println!(" Containers: {}", n("Containers"));
    println!("  Running: {}", n("ContainersRunning"));
    println!("  Paused: {}", n("ContainersPaused"));
    println!("  Stopped: {}", n("ContainersStopped"));
    println!(" Images: {}", n("Images"));
    println!(" Server Version: {}", s(&v, "ServerVersion"));
    println!(" Storage Driver: {}", s(&v, "Driver"));
    println!(" Cgroup Driver: {}", s(&v, "CgroupDriver"));
    println!(" Cgroup Version: {}", s(&v, "CgroupVersion"));
    println!(" Default Runtime: {}", s(&v, "DefaultRuntime"));
    println!(" Kernel Version: {}", s(&v, "KernelVersion"));
    println!(" Operating System: {}", s(&v, "OperatingSystem"));
    println!(" CPUs: {}", n("NCPU"));
    println!(" Total Memory: {}", format::size(n("MemTotal")));
    println!(" Name: {}", s(&v, "Name"));
    println!(" Docker Root Dir: {}", s(&v, "DockerRootDir"));
    Ok(0)
}

/// `dockermind events`: one line per event until the stream (or `--until`) ends.
pub fn events(
    c: &Client,
    filters: &[String],
    since: Option<&str>,
    until: Option<&str>,
) -> Result<i32> {
    let mut f = serde_json::Map::new();
    for kv in filters {
        let Some((k, v)) = kv.split_once('=') else {
            anyhow::bail!("invalid argument {kv:?} for \"-f, --filter\" flag: expected key=value");
        };
        let e = f.entry(k.to_owned()).or_insert_with(|| json!({}));
        e[v] = json!(true);
    }
    let fs = Value::Object(f).to_string();
    let mut q = vec![("filters", fs.as_str())];
    if let Some(s) = since {
        q.push(("since", s));
    }
    if let Some(u) = until {
        q.push(("until", u));
    }
    let r = c.send("GET", &format!("/events{}", query(&q)), &[], None)?;
    let mut out = std::io::stdout();
    Client::messages(r.body, |e| {
        let _ = writeln!(out, "{}", event_line(e));
        let _ = out.flush();
    })?;
    Ok(0)
}

/// `2026-12-04T18:00:00.000000000Z container start ID (image=busybox, name=x)`.
fn event_line(e: &Value) -> String {
    let nanos = e
        .get("timeNano")
        .and_then(Value::as_u64)
        .unwrap_or_else(|| e.get("time").and_then(Value::as_u64).unwrap_or(0) * 1_000_000_000);
    let t = humantime::format_rfc3339_nanos(UNIX_EPOCH + Duration::from_nanos(nanos));
    let kind = e.get("Type").and_then(Value::as_str).unwrap_or_default();
    let id = e
        .pointer("/Actor/ID")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let attrs = e
        .pointer("/Actor/Attributes")
        .and_then(Value::as_object)
        .map(|m| {
            let mut kv: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            kv.sort();
            kv.join(", ")
        })
        .unwrap_or_default();
    format!("{t} {kind} {} {id} ({attrs})", s(e, "Action"))
}

/// `dockermind system df|prune`.
pub fn system(c: &Client, cmd: SystemCmd) -> Result<i32> {
    match cmd {
        SystemCmd::Df => df(c),
        SystemCmd::Prune {
            force,
            all,
            volumes,
        } => prune(c, force, all, volumes),
    }
}

fn df(c: &Client) -> Result<i32> {
    let v: Value = c.json("GET", "/system/df", None)?;
    let arr = |k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let num = |x: &Value, k: &str| x.get(k).and_then(Value::as_i64).unwrap_or(0);
    let images = arr("Images");
    let img_size: i64 = images.iter().map(|i| num(i, "Size")).sum();
    let img_active = images.iter().filter(|i| num(i, "Containers") > 0).count();
    let img_free: i64 = images
        .iter()
        .filter(|i| num(i, "Containers") <= 0)
        .map(|i| num(i, "Size"))
        .sum();
    let ctrs = arr("Containers");
    let ctr_size: i64 = ctrs.iter().map(|x| num(x, "SizeRw")).sum();
    let ctr_active = ctrs.iter().filter(|x| s(x, "State") == "running").count();
    let ctr_free: i64 = ctrs
        .iter()
        .filter(|x| s(x, "State") != "running")
        .map(|x| num(x, "SizeRw"))
        .sum();
    let vols = arr("Volumes");
    let vsize = |x: &Value| {
        x.pointer("/UsageData/Size")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    let vrefs = |x: &Value| {
        x.pointer("/UsageData/RefCount")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    let vol_size: i64 = vols.iter().map(vsize).sum();
    let vol_active = vols.iter().filter(|x| vrefs(x) > 0).count();
    let vol_free: i64 = vols.iter().filter(|x| vrefs(x) <= 0).map(vsize).sum();
    let row = |t: &str, n: usize, a: usize, size: i64, free: i64| {
        vec![
            t.to_owned(),
            n.to_string(),
            a.to_string(),
            format::size(size),
            format::size(free),
        ]
    };
    let rows = vec![
        row("Images", images.len(), img_active, img_size, img_free),
        row("Containers", ctrs.len(), ctr_active, ctr_size, ctr_free),
        row("Local Volumes", vols.len(), vol_active, vol_size, vol_free),
    ];
    print!(
        "{}",
        format::table(&["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], &rows)
    );
    Ok(0)
}

fn prune(c: &Client, force: bool, all: bool, volumes: bool) -> Result<i32> {
    if !force {
        print!("WARNING! This will remove all stopped containers, unused networks{}{}.\nAre you sure you want to continue? [y/N] ",
            if volumes { ", unused volumes" } else { "" },
            if all { " and all unused images" } else { " and dangling images" });
        std::io::stdout().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let mut total = 0i64;
    let mut steps = vec![
        (
            "/containers/prune".to_owned(),
            "ContainersDeleted",
            "Deleted Containers:",
        ),
        (
            "/networks/prune".to_owned(),
            "NetworksDeleted",
            "Deleted Networks:",
        ),
    ];
    if volumes {
        steps.push((
            "/volumes/prune".to_owned(),
            "VolumesDeleted",
            "Deleted Volumes:",
        ));
    }
    let dangling = json!({"dangling": {(!all).to_string(): true}}).to_string();
    steps.push((
        format!("/images/prune{}", query(&[("filters", &dangling)])),
        "ImagesDeleted",
        "Deleted Images:",
    ));
    for (path, key, title) in steps {
        let v: Value = c.json("POST", &path, None)?;
        let list = v
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !list.is_empty() {
            println!("{title}");
            for item in list {
                match item {
                    Value::String(s) => println!("{s}"),
                    Value::Object(m) => m
                        .iter()
                        .for_each(|(k, v)| println!("{k}: {}", v.as_str().unwrap_or_default())),
                    _ => {}
                }
            }
            println!();
        }
        total += v.get("SpaceReclaimed").and_then(Value::as_i64).unwrap_or(0);
    }
    println!("Total reclaimed space: {}", format::size(total));
    Ok(0)
}
