//! Container commands: ps, logs, stop, start, kill, rm.

use super::format::{self, s};
use crate::term;
use anyhow::Result;
use dm_cli::client::{enc, query};
use dm_cli::Client;
use serde_json::Value;

/// `dockermind ps`.
pub fn ps(c: &Client, all: bool, quiet: bool) -> Result<i32> {
    let list = c.containers(all)?;
    if quiet {
        for v in &list {
            println!("{}", format::short_id(s(v, "Id")));
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|v| {
            let names: Vec<&str> = v
                .get("Names")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(|n| n.trim_start_matches('/'))
                        .collect()
                })
                .unwrap_or_default();
            vec![
                format::short_id(s(v, "Id")),
                s(v, "Image").to_owned(),
                format::command(s(v, "Command")),
                format::ago(v.get("Created").and_then(Value::as_i64).unwrap_or(0)),
                s(v, "Status").to_owned(),
                ports(v),
                names.join(","),
            ]
        })
        .collect();
    print!(
        "{}",
        format::table(
            &[
                "CONTAINER ID",
                "IMAGE",
                "COMMAND",
                "CREATED",
                "STATUS",
                "PORTS",
                "NAMES"
            ],
            &rows
        )
    );
    Ok(0)
}

fn ports(v: &Value) -> String {
    let Some(list) = v.get("Ports").and_then(Value::as_array) else {
        return String::new();
    };
    list.iter()
        .map(|p| {
            let private = p.get("PrivatePort").and_then(Value::as_u64).unwrap_or(0);
            let proto = s(p, "Type");
            match p.get("PublicPort").and_then(Value::as_u64) {
                Some(public) => {
                    let ip = if s(p, "IP").is_empty() {
                        "0.0.0.0"
                    } else {
                        s(p, "IP")
                    };
                    format!("{ip}:{public}->{private}/{proto}")
                }
                None => format!("{private}/{proto}"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `dockermind logs`.
pub fn logs(c: &Client, id: &str, follow: bool, tail: &str, stamps: bool) -> Result<i32> {
    let info = c.inspect_container(id)?;
    let tty = info
        .pointer("/Config/Tty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let q = query(&[
        ("stdout", "1"),
        ("stderr", "1"),
        ("follow", if follow { "1" } else { "0" }),
        ("tail", tail),
        ("timestamps", if stamps { "1" } else { "0" }),
    ]);
    let r = c.send(
        "GET",
        &format!("/containers/{}/logs{q}", enc(id)),
        &[],
        None,
    )?;
    term::copy_body(r.body, tty)?;
    Ok(0)
}

/// Calls `POST /containers/{id}/{action}{q}` for each container, printing its name as given;
/// 1 if any failed (each failure printed), as docker does.
pub fn each(c: &Client, ids: &[String], action: &str, q: &str) -> Result<i32> {
    let mut code = 0;
    for id in ids {
        match c.call(
            "POST",
            &format!("/containers/{}/{action}{q}", enc(id)),
            None,
        ) {
            Ok(_) => println!("{id}"),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

/// `dockermind stop`.
pub fn stop(c: &Client, ids: &[String], time: Option<i64>) -> Result<i32> {
    let q = time.map(|t| format!("?t={t}")).unwrap_or_default();
    each(c, ids, "stop", &q)
}

/// `dockermind rm`.
pub fn rm(c: &Client, ids: &[String], force: bool, volumes: bool) -> Result<i32> {
    let mut code = 0;
    for id in ids {
        let q = query(&[
            ("force", if force { "1" } else { "0" }),
            ("v", if volumes { "1" } else { "0" }),
        ]);
        match c.call("DELETE", &format!("/containers/{}{q}", enc(id)), None) {
            Ok(_) => println!("{id}"),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    Ok(code)
}
