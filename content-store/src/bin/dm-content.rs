//! `dm-content`: dockermind's content store served as containerd's content API on a unix
//! socket, for use as a containerd proxy plugin (`[proxy_plugins.NAME] type = "content"`).

use anyhow::Context;
use clap::Parser;
use dm_content::{server, Store};
use std::path::PathBuf;
use std::time::Duration;

/// Serve a content store (OCI image layout on disk) over containerd's content gRPC API.
#[derive(Parser, Debug)]
#[command(name = "dm-content", version)]
struct Args {
    /// Directory holding the store (created if missing; must be writable and not in use).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/var/lib/dockermind/content"
    )]
    root: PathBuf,

    /// Unix socket to serve on (a stale socket file is replaced).
    #[arg(
        long,
        value_name = "SOCKET",
        default_value = "/run/dockermind/content.sock"
    )]
    address: PathBuf,

    /// Log level for messages on stderr: error, warn, info, debug or trace.
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    log_level: log::LevelFilter,
}

/// How long in-flight calls get to finish after SIGTERM/SIGINT.
const DRAIN: Duration = Duration::from_secs(5);

fn main() {
    let args = Args::parse();
    env_logger::Builder::new()
        .filter_level(args.log_level)
        .target(env_logger::Target::Stderr)
        .init();
    if let Err(e) = run(args) {
        log::error!("{e:#}");
        eprintln!("dm-content: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let store = Store::open(&args.root)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start async runtime")?;
    let result = rt.block_on(async {
        let listener = server::bind(&args.address)?;
        log::info!(
            "serving content store {} on {}",
            args.root.display(),
            args.address.display()
        );
        let served = serve_until_signal(store, listener).await;
        if let Err(e) = std::fs::remove_file(&args.address) {
            log::debug!("remove {}: {e}", args.address.display());
        }
        served
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn serve_until_signal(
    store: Store,
    listener: tokio::net::UnixListener,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stopped = async {
        let _ = stop_rx.await;
    };
    let mut serving = std::pin::pin!(server::serve(store, listener, stopped));
    tokio::select! {
        r = &mut serving => return r.map_err(anyhow::Error::from),
        sig = shutdown_signal() => log::info!("{}, shutting down", sig?),
    }
    let _ = stop_tx.send(());
    // Open Write/Read streams hold connections; give them a moment, then stop anyway.
    match tokio::time::timeout(DRAIN, serving).await {
        Ok(r) => r.map_err(anyhow::Error::from),
        Err(_) => {
            log::warn!("calls still open after {DRAIN:?}; stopping anyway");
            Ok(())
        }
    }
}

/// Resolves with the name of the first SIGTERM or SIGINT.
async fn shutdown_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("install SIGINT handler")?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}
