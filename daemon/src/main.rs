//! dockermindd: the Docker Engine API (v1.41 to v1.45) on a unix socket, over dockermind's image
//! store (dm-image), its containerd shim and dm-runc.

// serde_json's json! macro nests deeply for the /info document.
#![recursion_limit = "256"]
mod api;
mod archive;
mod bridge;
mod builds;
mod config;
mod containers;
mod copyup;
mod ctrfs;
mod daemon;
mod df;
mod error;
mod events;
mod exec;
mod filter;
mod health;
mod history;
mod http;
mod images;
mod jsonlog;
mod lifecycle;
mod login;
mod mounts;
mod netattach;
mod netports;
mod networks;
mod passwd;
mod pause;
mod prune;
mod push;
mod record;
mod rename;
mod resize;
mod resources;
mod restart;
mod saveload;
mod server;
mod shim;
mod spec;
mod stats;
mod stdio;
mod system;
mod tarwalk;
mod top;
mod update;
mod volume_store;
mod volumes;

use anyhow::{Context, Result};
use clap::Parser;

fn main() {
    // One malloc arena: the daemon mostly waits, and each arena costs resident memory.
    // SAFETY: mallopt only tunes the allocator; called before any thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    let cfg = config::Config::parse();
    if let Err(e) = run(cfg) {
        eprintln!("dockermindd: {e:#}");
        std::process::exit(1);
    }
}

fn run(cfg: config::Config) -> Result<()> {
    let socket = cfg.socket_path()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .thread_stack_size(256 * 1024)
        .enable_all()
        .build()
        .context("start tokio")?;
    rt.block_on(async move {
        let d = daemon::Daemon::open(cfg).await?;
        let listener = server::bind_unix(&socket)?;
        eprintln!("dockermindd: listening on unix://{}", socket.display());
        let serve = server::serve(listener, d.clone());
        let r = tokio::select! {
            r = serve => r,
            _ = shutdown_signal() => {
                eprintln!("dockermindd: shutting down (containers keep running)");
                Ok(())
            }
        };
        let _ = std::fs::remove_file(&socket);
        d.close();
        r
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
