//! containerd-shim-dockermind-v2: a containerd runtime v2 shim driving a runc-compatible runtime.
//!
//! Actions: `start` (find or launch the shim for a task's group and print its address), `delete`
//! (clean up after a dead shim), serving (no action, as launched by `start`), `-v` and `-info`.

mod console;
mod error;
mod events;
mod metrics;
mod mounts;
mod oom;
mod options;
mod reaper;
mod rpc;
mod runtime;
mod serve;
mod service;
mod start;
mod state;
mod stdio;
mod task;
mod trim;

use anyhow::{Context, Result};
use containerd_shim::api::DeleteResponse;
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::types::introspection::RuntimeInfo;
use std::io::Write;

/// containerd's name for this runtime.
const RUNTIME_ID: &str = "io.containerd.dockermind.v2";

fn main() {
    // One malloc arena: the shim's threads mostly sleep, and extra arenas cost resident memory.
    // SAFETY: mallopt only tunes the allocator; called before any thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    if let Err(e) = run() {
        eprintln!("{RUNTIME_ID}: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args[1..]
        .iter()
        .any(|a| a == "-v" || a == "--v" || a == "-version")
    {
        println!(
            "{}:\n  Version:  {}\n  Revision: dockermind\n  Runtime:  {}",
            env!("CARGO_BIN_NAME"),
            env!("CARGO_PKG_VERSION"),
            runtime::default_binary()
        );
        return Ok(());
    }
    let flags = containerd_shim::parse(&args[1..]).context("parse flags")?;
    if flags.info {
        let info = RuntimeInfo {
            name: RUNTIME_ID.into(),
            ..Default::default()
        };
        std::io::stdout().write_all(&info.write_to_bytes()?)?;
        return Ok(());
    }
    if flags.namespace.is_empty() {
        anyhow::bail!("-namespace is required");
    }
    match flags.action.as_str() {
        "start" => start::start(&flags),
        "delete" => delete(&flags),
        "" => serve::serve(&flags),
        other => anyhow::bail!("unknown action {other:?} (want start or delete)"),
    }
}

/// Cleans up after a shim that died: force-deletes the container, unmounts its rootfs and
/// reports it killed, as containerd expects.
fn delete(flags: &containerd_shim::Flags) -> Result<()> {
    if flags.id.is_empty() {
        anyhow::bail!("-id is required");
    }
    let bundle = if flags.bundle.is_empty() {
        std::env::current_dir().context("bundle dir")?
    } else {
        flags.bundle.clone().into()
    };
    let rt = options::load(&bundle, &flags.namespace);
    if let Err(e) = rt.delete(&bundle, &flags.id, true) {
        eprintln!("{e}");
    }
    mounts::unmount_rootfs(&bundle.join("rootfs"));
    remove_dead_socket(&bundle);
    let resp = DeleteResponse {
        exit_status: 128 + libc::SIGKILL as u32,
        exited_at: Some(service::now()).into(),
        ..Default::default()
    };
    std::io::stdout().write_all(&resp.write_to_bytes()?)?;
    Ok(())
}

/// Removes the socket of the dead shim (its address is in the bundle), which a killed shim
/// could not remove itself; one that still answers (a pod's shim) is left alone.
fn remove_dead_socket(bundle: &std::path::Path) {
    let Ok(address) = std::fs::read_to_string(bundle.join("address")) else {
        return;
    };
    let address = address.trim();
    if !start::serving(address) {
        let _ = std::fs::remove_file(address.strip_prefix("unix://").unwrap_or(address));
    }
}
