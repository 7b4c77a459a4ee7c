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
mod volumes_from;

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
    let listens = cfg.listeners()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        // Stack pages cost memory only once touched; unoptimised builds of the deeper handlers
        // (a request over TLS, the registry client) overflow 256 KiB.
        .thread_stack_size(1024 * 1024)
        .enable_all()
        .build()
        .context("start tokio")?;
    rt.block_on(async move {
        // TLS files are checked before anything else starts.
        let mut acceptors = Vec::new();
        for l in &listens {
            if let config::Listen::Tls { ca, cert, key, .. } = l {
                acceptors.push(server::tls_acceptor(ca, cert, key)?);
            }
        }
        let d = daemon::Daemon::open(cfg).await?;
        let mut serving = tokio::task::JoinSet::new();
        let mut sockets = Vec::new();
        let mut acceptors = acceptors.into_iter();
        for l in listens {
            match l {
                config::Listen::Unix(path) => {
                    let listener = server::bind_unix(&path)?;
                    eprintln!("dockermindd: listening on unix://{}", path.display());
                    serving.spawn(server::serve(listener, d.clone()));
                    sockets.push(path);
                }
                config::Listen::Tls { addr, .. } => {
                    let listener = server::bind_tcp(addr).await?;
                    let tls = acceptors.next().expect("one acceptor per TLS listener");
                    eprintln!("dockermindd: listening on tcp://{addr} (TLS, client certificates)");
                    serving.spawn(server::serve_tls(listener, tls, d.clone()));
                }
            }
        }
        let r = tokio::select! {
            r = serving.join_next() => match r {
                Some(Ok(r)) => r,
                Some(Err(e)) => Err(anyhow::anyhow!("listener task: {e}")),
                None => Ok(()),
            },
            _ = shutdown_signal() => {
                eprintln!("dockermindd: shutting down (containers keep running)");
                Ok(())
            }
        };
        serving.abort_all();
        for s in &sockets {
            let _ = std::fs::remove_file(s);
        }
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
