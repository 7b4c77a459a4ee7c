//! The `start` action: find or launch the shim serving this task's group and print its address.
//!
//! containerd 1.6 to 2.2 pass flags and environment (and the runtime options on stdin) and read a
//! plain address back (a plain address means task API v2, which we serve). containerd 2.3+ send
//! BootstrapParams on stdin and read a BootstrapResult.

use anyhow::{bail, Context, Result};
use containerd_shim::bootstrap::{BootstrapParams, BootstrapResult};
use containerd_shim::protos::protobuf::Message;
use containerd_shim::Flags;
use std::io::{IsTerminal, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// Spec annotations that put a task into an existing shim (a pod's sandbox).
const GROUP_LABELS: &[&str] = &[
    "io.containerd.dockermind.v2.group",
    "io.containerd.runc.v2.group",
    "io.kubernetes.cri.sandbox-id",
];

/// Runs the start action.
pub fn start(flags: &Flags) -> Result<()> {
    let mut input = Vec::new();
    if !std::io::stdin().is_terminal() {
        std::io::stdin()
            .take(10 << 20)
            .read_to_end(&mut input)
            .context("read stdin")?;
    }
    let bootstrap = bootstrap_params(&input, &flags.id, &flags.namespace);
    let (grpc, ttrpc) = match &bootstrap {
        Some(p) => (
            p.containerd_grpc_address.clone(),
            p.containerd_ttrpc_address.clone(),
        ),
        None => (
            if flags.address.is_empty() {
                std::env::var("GRPC_ADDRESS").unwrap_or_default()
            } else {
                flags.address.clone()
            },
            std::env::var("TTRPC_ADDRESS").unwrap_or_default(),
        ),
    };
    if ttrpc.is_empty() {
        bail!("TTRPC_ADDRESS is not set (containerd passes it)");
    }
    let group = grouping_id();
    let grouping = group.clone().unwrap_or_else(|| flags.id.clone());
    let address = containerd_shim::socket_address(&grpc, &flags.namespace, &grouping);
    // Only a pod's later containers find a shim already serving; probing costs the server a
    // connection, so a task with its own shim skips it.
    if group.is_none() || !serving(&address) {
        launch(flags, &grpc, &ttrpc, &address)?;
        let path = address.strip_prefix("unix://").unwrap_or(&address);
        if !std::path::Path::new(path).exists() {
            bail!("shim did not come up on {address}");
        }
    }
    std::fs::write("address", &address).context("write address file in bundle")?;
    std::io::stdout().write_all(&reply(bootstrap.is_some(), &address)?)?;
    Ok(())
}

/// containerd 2.3+'s BootstrapParams, if `input` is one for this task. Older daemons send
/// nothing or the runtime options (an Any), which must not be mistaken for it.
fn bootstrap_params(input: &[u8], id: &str, namespace: &str) -> Option<BootstrapParams> {
    if input.is_empty() {
        return None;
    }
    BootstrapParams::parse_from_bytes(input)
        .ok()
        .filter(|p| p.instance_id == id && p.namespace == namespace)
}

/// The start reply: a BootstrapResult for the bootstrap protocol, else the bare address
/// (which containerd 1.6 to 2.2 read as a task v2 shim; we serve v2 and v3).
fn reply(bootstrap: bool, address: &str) -> Result<Vec<u8>> {
    if !bootstrap {
        return Ok(address.as_bytes().to_vec());
    }
    Ok(BootstrapResult {
        version: containerd_shim::protos::TASK_API_VERSION,
        address: address.to_owned(),
        protocol: "ttrpc".into(),
        ..Default::default()
    }
    .write_to_bytes()?)
}

/// The group id from the bundle's config.json annotations, if any.
fn grouping_id() -> Option<String> {
    let text = std::fs::read("config.json").ok()?;
    let spec: serde_json::Value = serde_json::from_slice(&text).ok()?;
    let ann = spec.get("annotations")?;
    GROUP_LABELS
        .iter()
        .find_map(|l| ann.get(*l)?.as_str().map(str::to_owned))
}

/// Whether a shim answers on `address`.
pub fn serving(address: &str) -> bool {
    UnixStream::connect(address.strip_prefix("unix://").unwrap_or(address)).is_ok()
}

/// Starts the serving shim in its own session and waits until it closes its stdout, which it
/// does once its socket listens.
fn launch(flags: &Flags, grpc: &str, ttrpc: &str, address: &str) -> Result<()> {
    let exe = std::env::current_exe().context("find own binary")?;
    let mut cmd = Command::new(exe);
    cmd.args([
        "-namespace",
        &flags.namespace,
        "-id",
        &flags.id,
        "-address",
        grpc,
    ])
    .args(["-socket", address])
    .env("TTRPC_ADDRESS", ttrpc)
    .env("GRPC_ADDRESS", grpc)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    if flags.debug {
        cmd.arg("-debug");
    }
    // SAFETY: setsid is async-signal-safe; it detaches the shim from containerd's session.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("launch shim")?;
    let mut sink = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_end(&mut sink);
    }
    // The shim keeps running; reap it only if it already quit (grouping race or failure).
    let _ = child.try_wait();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_shim::protos::protobuf::well_known_types::any::Any;

    #[test]
    fn bootstrap_params_for_this_task_select_the_new_protocol() {
        let p = BootstrapParams {
            instance_id: "c1".into(),
            namespace: "ns".into(),
            containerd_ttrpc_address: "/run/c.sock.ttrpc".into(),
            ..Default::default()
        };
        let got = bootstrap_params(&p.write_to_bytes().unwrap(), "c1", "ns").unwrap();
        assert_eq!(got.containerd_ttrpc_address, "/run/c.sock.ttrpc");
        let r = BootstrapResult::parse_from_bytes(&reply(true, "unix:///s").unwrap()).unwrap();
        assert_eq!(
            (r.address.as_str(), r.protocol.as_str()),
            ("unix:///s", "ttrpc")
        );
    }

    #[test]
    fn legacy_runtime_options_on_stdin_are_not_bootstrap_params() {
        let any = Any {
            type_url: "containerd.runc.v1.Options".into(),
            value: vec![0x32, 1, b'x'],
            ..Default::default()
        };
        assert!(bootstrap_params(&any.write_to_bytes().unwrap(), "c1", "ns").is_none());
        assert!(bootstrap_params(&[], "c1", "ns").is_none());
        assert_eq!(reply(false, "unix:///s").unwrap(), b"unix:///s");
    }
}
