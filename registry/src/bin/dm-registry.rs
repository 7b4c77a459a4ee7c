//! `dm-registry`: serves an OCI distribution registry from a root directory.

use anyhow::Context;
use clap::Parser;
use dm_registry::{serve, Config, Registry};
use std::path::PathBuf;
use std::sync::Arc;

/// An OCI distribution-spec registry on dockermind's content store.
#[derive(Parser, Debug)]
#[command(name = "dm-registry", version)]
struct Args {
    /// Root directory of blobs, repositories and uploads.
    #[arg(long, default_value = "/var/lib/dockermind/registry")]
    root: PathBuf,
    /// Address to listen on (port 0 picks a free one; the address is printed on stdout).
    #[arg(long, default_value = "0.0.0.0:5000")]
    listen: String,
    /// Largest manifest accepted, in bytes.
    #[arg(long, default_value_t = 4 << 20)]
    max_manifest_bytes: usize,
    /// Refuse DELETE of manifests, tags and blobs.
    #[arg(long)]
    no_delete: bool,
}

fn main() -> anyhow::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();
    let mut cfg = Config::new(&args.root);
    cfg.max_manifest_bytes = args.max_manifest_bytes;
    cfg.allow_delete = !args.no_delete;
    let reg =
        Arc::new(Registry::open(cfg).with_context(|| format!("--root {}", args.root.display()))?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("--listen {}", args.listen))?;
        let addr = listener.local_addr().context("local address")?;
        println!("dm-registry listening on {addr}");
        log::info!("serving {} on {addr}", args.root.display());
        tokio::select! {
            r = serve(listener, reg) => r.context("accept"),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}
