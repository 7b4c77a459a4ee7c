//! CNI mode: a network served by CNI plugins (a conflist, as operators write for Kubernetes or
//! podman) instead of the bridge driver, following the CNI 1.0 spec: each plugin of the list
//! is run with the previous one's result for ADD, in reverse order for DEL, and the result of
//! ADD is recorded so DEL (also from `recover`) gets it back.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::ports::PortMapping;

/// Where Debian's containernetworking-plugins and upstream installs put the plugins.
pub const DEFAULT_PLUGIN_DIRS: [&str; 2] = ["/usr/lib/cni", "/opt/cni/bin"];

/// A container attached through CNI, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CniRecord {
    /// Container id.
    pub container: String,
    /// The conflist's `name`.
    pub network: String,
    /// The container's network namespace file.
    pub netns: PathBuf,
    /// The interface the plugins made in it.
    pub ifname: String,
    /// The conflist used, so DEL runs the same plugins.
    pub conflist: Value,
    /// Ports passed to plugins with the `portMappings` capability.
    pub ports: Vec<PortMapping>,
    /// The ADD result; None while ADD runs (a crash then leaves DEL to do without it).
    pub result: Option<Value>,
}

/// The conflist's name, checked for the fields every conflist has.
pub(crate) fn conflist_name(conflist: &Value) -> Result<String> {
    let name = conflist["name"]
        .as_str()
        .ok_or_else(|| Error::invalid("cni conflist", "no \"name\""))?;
    if conflist["cniVersion"].as_str().is_none() {
        return Err(Error::invalid("cni conflist", "no \"cniVersion\""));
    }
    match conflist["plugins"].as_array() {
        Some(p) if !p.is_empty() && p.iter().all(|p| p["type"].is_string()) => Ok(name.into()),
        _ => Err(Error::invalid(
            "cni conflist",
            "\"plugins\" must list objects with a \"type\"",
        )),
    }
}

fn find_plugin(ty: &str, dirs: &[PathBuf]) -> Result<PathBuf> {
    if ty.contains('/') {
        return Err(Error::invalid(
            "cni plugin type",
            format!("{ty:?} is not a plain name"),
        ));
    }
    dirs.iter()
        .map(|d| d.join(ty))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::invalid("cni plugin type", format!("{ty} not found in {dirs:?}")))
}

/// The stdin of one plugin: its own entry plus the list's name and version, the previous
/// result and the runtime config of the capabilities it declares.
fn plugin_conf(list: &Value, plugin: &Value, prev: Option<&Value>, ports: &[PortMapping]) -> Value {
    let mut conf = plugin.clone();
    conf["name"] = list["name"].clone();
    conf["cniVersion"] = list["cniVersion"].clone();
    if let Some(prev) = prev {
        conf["prevResult"] = prev.clone();
    }
    if plugin["capabilities"]["portMappings"] == json!(true) && !ports.is_empty() {
        let pm: Vec<Value> = ports
            .iter()
            .map(|p| {
                let mut m = json!({
                    "hostPort": p.host_port,
                    "containerPort": p.container_port,
                    "protocol": p.proto.as_str(),
                });
                if let Some(ip) = p.host_ip {
                    m["hostIP"] = json!(ip.to_string());
                }
                m
            })
            .collect();
        conf["runtimeConfig"] = json!({ "portMappings": pm });
    }
    conf
}

fn exec(cmd: &str, plugin: &Path, conf: &Value, r: &CniRecord, dirs: &[PathBuf]) -> Result<Value> {
    let path = std::env::join_paths(dirs).unwrap_or_default();
    let fail = |msg: String| Error::Cni {
        plugin: plugin.display().to_string(),
        command: cmd.to_string(),
        msg,
    };
    let mut child = Command::new(plugin)
        .env_clear()
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", &r.container)
        .env("CNI_NETNS", &r.netns)
        .env("CNI_IFNAME", &r.ifname)
        .env("CNI_PATH", &path)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let written = stdin.write_all(conf.to_string().as_bytes());
    drop(stdin);
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    written.map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        // The spec's error object on stdout; stderr as a fallback.
        let msg = serde_json::from_slice::<Value>(&out.stdout)
            .ok()
            .and_then(|v| v["msg"].as_str().map(String::from))
            .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).trim().to_string());
        return Err(fail(msg));
    }
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&out.stdout).map_err(|e| fail(format!("bad result: {e}")))
}

/// Runs ADD through the list; on a failure, DEL for the plugins that had run (the spec asks
/// the runtime to clean up after a failed ADD). Runs in the host namespace.
pub(crate) fn add(r: &CniRecord, dirs: &[PathBuf]) -> Result<Value> {
    let plugins = r.conflist["plugins"].as_array().expect("checked conflist");
    let mut prev: Option<Value> = None;
    for (i, p) in plugins.iter().enumerate() {
        let bin = find_plugin(p["type"].as_str().expect("checked"), dirs)?;
        let conf = plugin_conf(&r.conflist, p, prev.as_ref(), &r.ports);
        match exec("ADD", &bin, &conf, r, dirs) {
            Ok(v) if !v.is_null() => prev = Some(v),
            Ok(_) => {}
            Err(e) => {
                let done = CniRecord {
                    conflist: json!({
                        "name": r.conflist["name"],
                        "cniVersion": r.conflist["cniVersion"],
                        "plugins": plugins[..=i],
                    }),
                    result: prev.clone(),
                    ..r.clone()
                };
                let _ = del(&done, dirs);
                return Err(e);
            }
        }
    }
    prev.ok_or_else(|| Error::Cni {
        plugin: "(list)".into(),
        command: "ADD".into(),
        msg: "no plugin returned a result".into(),
    })
}

/// Runs DEL through the list in reverse; every plugin runs even when one fails (DEL must
/// release what it can), the first error is returned.
pub(crate) fn del(r: &CniRecord, dirs: &[PathBuf]) -> Result<()> {
    let plugins = r.conflist["plugins"].as_array().expect("checked conflist");
    let mut first = None;
    for p in plugins.iter().rev() {
        let res = find_plugin(p["type"].as_str().expect("checked"), dirs).and_then(|bin| {
            let conf = plugin_conf(&r.conflist, p, r.result.as_ref(), &r.ports);
            exec("DEL", &bin, &conf, r, dirs)
        });
        if let Err(e) = res {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}
