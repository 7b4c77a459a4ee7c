//! The daemon's flags.

use anyhow::{bail, Result};
use std::net::SocketAddr;
use std::path::PathBuf;

/// One API listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A unix socket (root and group only).
    Unix(PathBuf),
    /// TCP inside TLS that requires a client certificate signed by `ca`.
    Tls {
        /// The address to bind.
        addr: SocketAddr,
        /// CA of client certificates.
        ca: PathBuf,
        /// Server certificate chain.
        cert: PathBuf,
        /// Server key.
        key: PathBuf,
    },
}

/// dockermindd's command line.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "dockermindd",
    version,
    about = "dockermind's daemon: the Docker Engine API on a unix socket (or TCP with TLS client certificates)"
)]
pub struct Config {
    /// Where to listen, repeatable: `unix:///path`, or `tcp://ADDR:PORT` with --tlsverify.
    #[arg(
        short = 'H',
        long,
        default_value = "unix:///run/dockermind/dockermind.sock"
    )]
    pub host: Vec<String>,
    /// TCP listeners require client certificates signed by --tlscacert.
    #[arg(long)]
    pub tlsverify: bool,
    /// The CA that signs client certificates (PEM).
    #[arg(long)]
    pub tlscacert: Option<PathBuf>,
    /// The daemon's certificate chain (PEM).
    #[arg(long)]
    pub tlscert: Option<PathBuf>,
    /// The daemon's private key (PEM).
    #[arg(long)]
    pub tlskey: Option<PathBuf>,
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
    /// The listeners `--host` names; TCP only with TLS client verification (the API is root
    /// on this host).
    pub fn listeners(&self) -> Result<Vec<Listen>> {
        self.host.iter().map(|h| self.listener(h)).collect()
    }

    fn listener(&self, host: &str) -> Result<Listen> {
        if let Some(p) = host.strip_prefix("unix://") {
            if !p.starts_with('/') {
                bail!("--host {host:?}: a unix socket needs an absolute path (unix:///path)");
            }
            return Ok(Listen::Unix(PathBuf::from(p)));
        }
        let Some(addr) = host.strip_prefix("tcp://") else {
            bail!("--host {host:?}: only unix:///path and tcp://ADDR:PORT are supported");
        };
        let addr: SocketAddr = addr.trim_end_matches('/').parse().map_err(|e| {
            anyhow::anyhow!("--host {host:?}: {e} (give tcp://IP:PORT, e.g. tcp://127.0.0.1:2376)")
        })?;
        let need = |flag: &str, v: &Option<PathBuf>| -> Result<PathBuf> {
            v.clone().ok_or_else(|| {
                anyhow::anyhow!("--host {host:?}: TCP needs {flag} (with --tlsverify, --tlscacert, --tlscert and --tlskey)")
            })
        };
        if !self.tlsverify {
            bail!(
                "--host {host:?}: plain TCP is refused (anyone reaching it would be root here); \
                 add --tlsverify with --tlscacert, --tlscert and --tlskey so clients need a \
                 certificate signed by the CA"
            );
        }
        Ok(Listen::Tls {
            addr,
            ca: need("--tlscacert", &self.tlscacert)?,
            cert: need("--tlscert", &self.tlscert)?,
            key: need("--tlskey", &self.tlskey)?,
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn tcp_needs_tls_client_verification() {
        let parse = |args: &[&str]| {
            Config::try_parse_from(std::iter::once("dockermindd").chain(args.iter().copied()))
                .unwrap()
                .listeners()
        };
        let unix = parse(&[]).unwrap();
        assert_eq!(
            unix,
            [Listen::Unix("/run/dockermind/dockermind.sock".into())]
        );
        let plain = parse(&["-H", "tcp://127.0.0.1:2375"])
            .unwrap_err()
            .to_string();
        assert!(
            plain.contains("plain TCP is refused") && plain.contains("--tlsverify"),
            "{plain}"
        );
        let no_ca = parse(&[
            "-H",
            "tcp://127.0.0.1:2376",
            "--tlsverify",
            "--tlscert",
            "c",
            "--tlskey",
            "k",
        ])
        .unwrap_err()
        .to_string();
        assert!(no_ca.contains("needs --tlscacert"), "{no_ca}");
        let both = parse(&[
            "-H",
            "unix:///tmp/x.sock",
            "-H",
            "tcp://127.0.0.1:2376",
            "--tlsverify",
            "--tlscacert",
            "ca",
            "--tlscert",
            "c",
            "--tlskey",
            "k",
        ])
        .unwrap();
        assert_eq!(both.len(), 2);
        assert!(matches!(&both[1], Listen::Tls { addr, .. } if addr.port() == 2376));
        assert!(parse(&["-H", "unix://rel.sock"]).is_err());
        assert!(parse(&["-H", "fd://"]).is_err());
    }
}
