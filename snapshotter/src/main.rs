//! `dm-snapshotter`: serves containerd's snapshots API for an overlayfs root on a unix socket,
//! for use as a containerd proxy plugin (`[proxy_plugins.NAME] type = "snapshot"`), and on the
//! same socket containerd's diff API (containerd >= 1.7, `type = "diff"`).

mod logger;

use anyhow::{bail, Context};
use clap::Parser;
use dm_snapshotter::{service, Snapshotter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// overlayfs snapshotter serving containerd's snapshots API (proxy plugin) on a unix socket.
#[derive(Parser, Debug)]
#[command(name = "dm-snapshotter", version)]
struct Args {
    /// Directory for snapshot data and the metadata store; created if missing. Must be writable
    /// and on a filesystem that can hold overlay upper dirs (not overlay itself, for example).
    #[arg(long, value_name = "DIR")]
    root: PathBuf,
    /// Unix socket to serve on; containerd's `address` for the proxy plugin. A stale socket file
    /// is replaced; a socket someone is serving on is refused.
    #[arg(long, value_name = "SOCKET")]
    address: PathBuf,
    /// dm-content's --root, or containerd's own content store
    /// (<containerd root>/io.containerd.content.v1.content, the same blobs/sha256 layout): the
    /// diff API applies layers from its blob files directly. Without it (or for a blob not
    /// there) Apply answers UNIMPLEMENTED and containerd's own differ applies the layer.
    #[arg(long, value_name = "DIR")]
    content_root: Option<PathBuf>,
    /// Least severe log level written to stderr: error, warn, info, debug or trace.
    #[arg(long, value_name = "LEVEL", value_enum, default_value_t = Level::Info)]
    log_level: Level,
}

/// Log levels `--log-level` takes.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl From<Level> for log::LevelFilter {
    fn from(l: Level) -> Self {
        match l {
            Level::Error => log::LevelFilter::Error,
            Level::Warn => log::LevelFilter::Warn,
            Level::Info => log::LevelFilter::Info,
            Level::Debug => log::LevelFilter::Debug,
            Level::Trace => log::LevelFilter::Trace,
        }
    }
}

fn main() {
    let args = Args::parse();
    logger::init(args.log_level.into());
    if let Err(e) = run(args) {
        log::error!("{e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let root = std::path::absolute(&args.root).context("--root")?;
    let content_root = match &args.content_root {
        Some(d) => Some(check_content_root(d).context("--content-root")?),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("start tokio runtime")?;
    let _ctx = rt.enter();
    // Handlers go in before the socket exists: once a client can connect, a signal must mean
    // a clean stop.
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
    let int = signal(SignalKind::interrupt()).context("install SIGINT handler")?;
    // A busy address is refused before the root is touched (no new root left behind); the
    // root is locked before the socket exists, so a client that can connect talks to the
    // process that owns the root.
    let address = || format!("--address {}", args.address.display());
    refuse_busy(&args.address).with_context(address)?;
    let snapshotter = Arc::new(Snapshotter::open(&root).context("--root")?);
    let listener = bind(&args.address).with_context(address)?;
    rt.block_on(async {
        let listener = tokio::net::UnixListener::from_std(listener).context("listen")?;
        log::info!(
            "serving snapshots of {} on {}",
            root.display(),
            args.address.display()
        );
        let served = service::serve(
            snapshotter,
            content_root,
            listener,
            shutdown_signal(term, int),
        )
        .await;
        let _ = std::fs::remove_file(&args.address);
        served.context("serve")?;
        log::info!("stopped");
        Ok(())
    })
}

/// The absolute path of content root `dir`, which must exist (dm-content or containerd makes
/// it; a typo would otherwise make every Apply fall back to containerd's differ unnoticed).
fn check_content_root(dir: &Path) -> anyhow::Result<PathBuf> {
    let dir = std::path::absolute(dir)?;
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    Ok(dir)
}

fn refuse_busy(path: &Path) -> anyhow::Result<()> {
    if path.exists() && std::os::unix::net::UnixStream::connect(path).is_ok() {
        bail!("another process is serving on this socket");
    }
    Ok(())
}

fn bind(path: &Path) -> anyhow::Result<std::os::unix::net::UnixListener> {
    // Again: a server may have started while the root was opened, and its live socket must not
    // be removed as stale.
    refuse_busy(path)?;
    if path.exists() {
        std::fs::remove_file(path).context("remove stale socket")?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).context("create socket directory")?;
    }
    let l = std::os::unix::net::UnixListener::bind(path)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

async fn shutdown_signal(
    mut term: tokio::signal::unix::Signal,
    mut int: tokio::signal::unix::Signal,
) {
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    log::info!("{name}: shutting down");
}
