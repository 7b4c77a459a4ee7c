//! `dm-registry`: serves an OCI distribution registry from a root directory.

use anyhow::Context;
use clap::Parser;
use dm_registry::acl::Acl;
use dm_registry::auth::{load_htpasswd, Auth, Mode};
use dm_registry::{serve, tls_acceptor, Config, Registry};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
    /// Largest blob accepted, in bytes (default: no limit).
    #[arg(long)]
    max_blob_bytes: Option<u64>,
    /// Refuse DELETE of manifests, tags and blobs.
    #[arg(long)]
    no_delete: bool,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// htpasswd file of bcrypt users (`htpasswd -B`): turns authentication on.
    #[arg(long)]
    htpasswd: Option<PathBuf>,
    /// With --htpasswd: `basic` (credentials on every request) or `token` (bearer tokens
    /// from this registry's /token endpoint, scoped per repository and action).
    #[arg(long, value_enum, default_value_t = AuthMode::Token, requires = "htpasswd")]
    auth: AuthMode,
    /// Collect garbage this often (e.g. `1h`); `POST /gc` collects on demand.
    #[arg(long, value_parser = humantime::parse_duration)]
    gc_interval: Option<Duration>,
    /// Age under which an unreferenced blob or repository link is kept (in-flight pushes).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
    gc_grace: Duration,
    /// Idle time after which GC drops an unfinished upload.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "24h")]
    upload_ttl: Duration,
    /// With --htpasswd: per-user rules (`<user> <repo|prefix/*|*> <pull,push,delete|*>` a
    /// line); without it every user may do everything.
    #[arg(long, requires = "htpasswd")]
    acl: Option<PathBuf>,
    /// With --htpasswd: let clients without credentials pull.
    #[arg(long, requires = "htpasswd")]
    anonymous_pull: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum AuthMode {
    Basic,
    Token,
}

fn main() -> anyhow::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();
    let mut cfg = Config::new(&args.root);
    cfg.max_manifest_bytes = args.max_manifest_bytes;
    cfg.allow_delete = !args.no_delete;
    cfg.max_blob_bytes = args.max_blob_bytes;
    if let Some(h) = &args.htpasswd {
        let users = load_htpasswd(h).context("--htpasswd")?;
        let mode = match args.auth {
            AuthMode::Basic => Mode::Basic,
            AuthMode::Token => Mode::Token,
        };
        let mut auth = Auth::new(mode, users, args.anonymous_pull);
        if let Some(a) = &args.acl {
            auth = auth.with_acl(Acl::load(a).context("--acl")?);
        }
        cfg.auth = Some(Arc::new(auth));
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some(tls_acceptor(c, k)?),
        _ => None,
    };
    cfg.tls = tls.is_some();
    cfg.gc_grace = args.gc_grace;
    cfg.upload_ttl = args.upload_ttl;
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
        if let Some(every) = args.gc_interval {
            let reg = Arc::clone(&reg);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let reg = Arc::clone(&reg);
                    let (grace, ttl) = (args.gc_grace, args.upload_ttl);
                    match tokio::task::spawn_blocking(move || reg.gc(grace, ttl)).await {
                        Ok(Err(e)) => log::error!("gc: {e}"),
                        Err(e) => log::error!("gc task: {e}"),
                        Ok(Ok(_)) => {}
                    }
                }
            });
        }
        log::info!("serving {} on {addr}", args.root.display());
        tokio::select! {
            r = serve(listener, reg, tls) => r.context("accept"),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}
