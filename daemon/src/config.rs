//! The daemon's flags.

use anyhow::{bail, Result};
use std::path::PathBuf;

/// dockermindd's command line.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "dockermindd",
    version,
    about = "dockermind's daemon: the Docker Engine API on a unix socket"
)]
pub struct Config {
    /// Where to listen (only unix:// sockets).
    #[arg(
        short = 'H',
        long,
        default_value = "unix:///run/dockermind/dockermind.sock"
    )]
    pub host: String,
    /// Persistent state: images, content, snapshots, container records and logs.
    #[arg(long, default_value = dm_image::DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Run state: bundles, fifos, the shim event socket, the runtime's state.
    #[arg(long, default_value = "/run/dockermind")]
    pub exec_root: PathBuf,
    /// A registry to talk to without TLS verification (loopback ones always are).
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
    /// Registry settings (mirrors, plain HTTP, CAs) as dm-image reads them.
    #[arg(long, default_value = "/etc/dockermind/registries.json")]
    pub registry_config: PathBuf,
    /// Cgroup parent of every container (absolute: from each hierarchy's root).
    #[arg(long, default_value = "/dockermind")]
    pub cgroup_parent: String,
    /// The default `bridge` network's Linux bridge, or `none` for no default network
    /// (containers without --network then get a namespace with loopback only).
    #[arg(long, default_value = "dm0")]
    pub bridge: String,
    /// A default json-file log option for containers, KEY=VALUE (`max-size=10m`, `max-file=3`).
    #[arg(long = "log-opt")]
    pub log_opts: Vec<String>,
    /// The shim binary (default: containerd-shim-dockermind-v2 next to this binary, else PATH).
    #[arg(long)]
    pub shim: Option<PathBuf>,
}

impl Config {
    /// The unix socket path from `--host`.
    pub fn socket_path(&self) -> Result<PathBuf> {
        match self.host.strip_prefix("unix://") {
            Some(p) if p.starts_with('/') => Ok(PathBuf::from(p)),
            _ => bail!(
                "--host {:?}: only unix:///absolute/path is supported (TCP needs TLS client certificates, not implemented yet)",
                self.host
            ),
        }
    }

    /// The shim binary to launch.
    pub fn shim_binary(&self) -> PathBuf {
        if let Some(p) = &self.shim {
            return p.clone();
        }
        beside_exe("containerd-shim-dockermind-v2")
    }
}

/// The binary `name` next to this one (how the stack is installed), else `name` on PATH.
pub fn beside_exe(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .map(|e| e.with_file_name(name))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}
