//! `dockermind update`: new limits and restart policy for containers.

use super::run::parse_bytes;
use crate::args::UpdateArgs;
use anyhow::{bail, Context, Result};
use dm_cli::client::enc;
use dm_cli::Client;
use serde_json::{json, Map, Value};

/// `no`, `always`, `unless-stopped`, `on-failure[:N]` as a RestartPolicy.
pub fn restart_policy(s: &str) -> Result<Value> {
    let (name, count) = s.split_once(':').unwrap_or((s, ""));
    let count: i64 = if count.is_empty() {
        0
    } else {
        count.parse().with_context(|| {
            format!("invalid argument {s:?} for \"--restart\" flag: bad retry count")
        })?
    };
    Ok(json!({"Name": name, "MaximumRetryCount": count}))
}

/// The UpdateConfig body the flags ask for.
fn body(a: &UpdateArgs) -> Result<Value> {
    let mut m = Map::new();
    let mut bytes = |key: &str, v: &Option<String>, flag: &str| -> Result<()> {
        if let Some(v) = v {
            // -1 (unlimited) is allowed for swap, as docker allows it.
            let n = if v == "-1" { -1 } else { parse_bytes(v, flag)? };
            m.insert(key.into(), json!(n));
        }
        Ok(())
    };
    bytes("Memory", &a.memory, "-m, --memory")?;
    bytes("MemorySwap", &a.memory_swap, "--memory-swap")?;
    bytes(
        "MemoryReservation",
        &a.memory_reservation,
        "--memory-reservation",
    )?;
    if let Some(n) = &a.cpus {
        m.insert("NanoCpus".into(), json!(super::run::nano_cpus(n)?));
    }
    let ints = [
        ("CpuShares", a.cpu_shares),
        ("CpuPeriod", a.cpu_period),
        ("CpuQuota", a.cpu_quota),
        ("PidsLimit", a.pids_limit),
        ("BlkioWeight", a.blkio_weight),
    ];
    for (k, v) in ints {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    if let Some(c) = &a.cpuset_cpus {
        m.insert("CpusetCpus".into(), json!(c));
    }
    if let Some(c) = &a.cpuset_mems {
        m.insert("CpusetMems".into(), json!(c));
    }
    if let Some(r) = &a.restart {
        m.insert("RestartPolicy".into(), restart_policy(r)?);
    }
    if m.is_empty() {
        bail!("you must provide one or more flags when using this command");
    }
    Ok(Value::Object(m))
}

/// `dockermind update [flags] CONTAINER...`: prints each container, then the warnings.
pub fn update(c: &Client, a: &UpdateArgs) -> Result<i32> {
    let b = body(a)?;
    let mut code = 0;
    let mut warnings = vec![];
    for ctr in &a.containers {
        match c.json::<Value>(
            "POST",
            &format!("/containers/{}/update", enc(ctr)),
            Some(&b),
        ) {
            Ok(v) => {
                println!("{ctr}");
                for w in v["Warnings"].as_array().into_iter().flatten() {
                    warnings.push(w.as_str().unwrap_or_default().to_owned());
                }
            }
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    for w in warnings {
        eprintln!("WARNING: {w}");
    }
    Ok(code)
}
