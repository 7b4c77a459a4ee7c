//! inspect, and the volume and network command groups.

use super::format::{self, s};
use crate::args::{NetworkCmd, VolumeCmd};
use anyhow::Result;
use dm_cli::client::{enc, query};
use dm_cli::{Client, ClientError};
use serde_json::{json, Value};

/// Prints JSON as docker does (four-space indent).
pub fn print_json(v: &Value) {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    if serde::Serialize::serialize(v, &mut ser).is_ok() {
        println!("{}", String::from_utf8_lossy(&out));
    }
}

/// `dockermind inspect`: containers first, then images (or only `--type`).
pub fn inspect(c: &Client, kind: Option<&str>, objects: &[String]) -> Result<i32> {
    let kinds: &[&str] = match kind {
        None => &["container", "image", "volume", "network"],
        Some("container") => &["container"],
        Some("image") => &["image"],
        Some("volume") => &["volume"],
        Some("network") => &["network"],
        Some(k) => anyhow::bail!(
            "invalid argument {k:?} for \"--type\" flag: container, image, volume or network"
        ),
    };
    let mut found = vec![];
    let mut code = 0;
    for o in objects {
        let mut hit = None;
        for k in kinds {
            let path = match *k {
                "container" => format!("/containers/{}/json", enc(o)),
                "image" => format!("/images/{o}/json"),
                "volume" => format!("/volumes/{}", enc(o)),
                _ => format!("/networks/{}", enc(o)),
            };
            match c.json::<Value>("GET", &path, None) {
                Ok(v) => {
                    hit = Some(v);
                    break;
                }
                Err(ClientError::Api { status: 404, .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        match hit {
            Some(v) => found.push(v),
            None => {
                eprintln!("Error: No such object: {o}");
                code = 1;
            }
        }
    }
    print_json(&Value::Array(found));
    Ok(code)
}

/// `dockermind volume ...`.
pub fn volume(c: &Client, cmd: VolumeCmd) -> Result<i32> {
    match cmd {
        VolumeCmd::Create { name } => {
            let v: Value = c.json(
                "POST",
                "/volumes/create",
                Some(&json!({"Name": name.unwrap_or_default(), "Driver": "local"})),
            )?;
            println!("{}", s(&v, "Name"));
        }
        VolumeCmd::Ls { quiet } => {
            let v: Value = c.json("GET", "/volumes", None)?;
            let list = v
                .get("Volumes")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if quiet {
                list.iter().for_each(|v| println!("{}", s(v, "Name")));
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|v| vec![s(v, "Driver").to_owned(), s(v, "Name").to_owned()])
                    .collect();
                print!("{}", format::table(&["DRIVER", "VOLUME NAME"], &rows));
            }
        }
        VolumeCmd::Inspect { names } => return inspect(c, Some("volume"), &names),
        VolumeCmd::Rm { force, names } => {
            let mut code = 0;
            for n in &names {
                match c.call(
                    "DELETE",
                    &format!("/volumes/{}?force={}", enc(n), force as u8),
                    None,
                ) {
                    Ok(_) => println!("{n}"),
                    Err(e) => {
                        eprintln!("{e}");
                        code = 1;
                    }
                }
            }
            return Ok(code);
        }
        VolumeCmd::Prune => {
            let v: Value = c.json("POST", "/volumes/prune", None)?;
            print_deleted(&v, "VolumesDeleted", "Deleted Volumes:");
        }
    }
    Ok(0)
}

fn print_deleted(v: &Value, key: &str, title: &str) {
    let list = v
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !list.is_empty() {
        println!("{title}");
        list.iter()
            .filter_map(Value::as_str)
            .for_each(|n| println!("{n}"));
        println!();
    }
    let space = v.get("SpaceReclaimed").and_then(Value::as_i64).unwrap_or(0);
    println!("Total reclaimed space: {}", format::size(space));
}

/// `dockermind network ...`.
pub fn network(c: &Client, cmd: NetworkCmd) -> Result<i32> {
    match cmd {
        NetworkCmd::Create {
            driver,
            subnet,
            name,
        } => {
            let mut body = json!({"Name": name, "Driver": driver, "CheckDuplicate": true});
            if let Some(sn) = subnet {
                body["IPAM"] = json!({"Driver": "default", "Config": [{"Subnet": sn}]});
            }
            let v: Value = c.json("POST", "/networks/create", Some(&body))?;
            println!("{}", s(&v, "Id"));
        }
        NetworkCmd::Ls { quiet } => {
            let list: Vec<Value> = c.json("GET", "/networks", None)?;
            if quiet {
                list.iter()
                    .for_each(|n| println!("{}", format::short_id(s(n, "Id"))));
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|n| {
                        vec![
                            format::short_id(s(n, "Id")),
                            s(n, "Name").to_owned(),
                            s(n, "Driver").to_owned(),
                            s(n, "Scope").to_owned(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    format::table(&["NETWORK ID", "NAME", "DRIVER", "SCOPE"], &rows)
                );
            }
        }
        NetworkCmd::Inspect { names } => return inspect(c, Some("network"), &names),
        NetworkCmd::Rm { names } => {
            let mut code = 0;
            for n in &names {
                match c.call("DELETE", &format!("/networks/{}", enc(n)), None) {
                    Ok(_) => println!("{n}"),
                    Err(e) => {
                        eprintln!("{e}");
                        code = 1;
                    }
                }
            }
            return Ok(code);
        }
        NetworkCmd::Connect { network, container } => {
            c.call(
                "POST",
                &format!("/networks/{}/connect", enc(&network)),
                Some(&json!({"Container": container})),
            )?;
        }
        NetworkCmd::Disconnect { network, container } => {
            c.call(
                "POST",
                &format!("/networks/{}/disconnect", enc(&network)),
                Some(&json!({"Container": container})),
            )?;
        }
        NetworkCmd::Prune => {
            let v: Value = c.json("POST", &format!("/networks/prune{}", query(&[])), None)?;
            let list = v
                .get("NetworksDeleted")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if !list.is_empty() {
                println!("Deleted Networks:");
                list.iter()
                    .filter_map(Value::as_str)
                    .for_each(|n| println!("{n}"));
            }
        }
    }
    Ok(0)
}
