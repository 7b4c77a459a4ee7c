//! A private containerd (own root, state, sockets, config) for the families that drive one
//! through `ctr`, killed and its directory removed on drop.

use crate::error::{BenchError, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What goes into the private containerd's config beyond roots and sockets.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Put first on containerd's PATH (where it finds `containerd-shim-*-v2`).
    pub path_dir: Option<PathBuf>,
    /// Plugin ids disabled on top of CRI (which wants networking the benches do not need).
    pub disabled: Vec<String>,
    /// TOML tables appended to the config (proxy_plugins, ...).
    pub extra_toml: String,
    /// Keep containerd's CRI plugin (disabled otherwise: it wants a sandbox image).
    pub cri: bool,
    /// Directory of another containerd release's `containerd`, `ctr` and runc shim (Debian
    /// 13's 1.7); the system's (PATH) when unset.
    pub bin_dir: Option<PathBuf>,
}

/// A running private containerd.
pub struct Containerd {
    /// Its directory: config, root, state, sockets, log.
    pub(crate) dir: PathBuf,
    child: Child,
    /// The namespace every `ctr` call uses.
    pub(crate) namespace: String,
    /// The `ctr` of the same release.
    ctr: PathBuf,
}

impl Containerd {
    /// Starts containerd under `dir` with `cfg` and waits until it answers `ctr version`.
    pub fn start(dir: PathBuf, cfg: &Config, namespace: String) -> Result<Containerd> {
        let sock = dir.join("c.sock");
        let cri = (!cfg.cri).then_some("io.containerd.grpc.v1.cri");
        let disabled: Vec<String> = cri
            .into_iter()
            .chain(cfg.disabled.iter().map(String::as_str))
            .map(|p| format!("\"{p}\""))
            .collect();
        let config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\
             disabled_plugins = [{disabled}]\n\
             [grpc]\n  address = \"{s}\"\n[ttrpc]\n  address = \"{s}.ttrpc\"\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/opt\"\n{extra}\n",
            d = dir.display(),
            s = sock.display(),
            disabled = disabled.join(", "),
            extra = cfg.extra_toml,
        );
        let cfg_path = dir.join("config.toml");
        std::fs::write(&cfg_path, config).map_err(BenchError::io(&cfg_path))?;
        let mut path = std::env::var("PATH").unwrap_or_default();
        if let Some(d) = &cfg.bin_dir {
            path = format!("{}:{path}", d.display());
        }
        if let Some(d) = &cfg.path_dir {
            path = format!("{}:{path}", d.display());
        }
        let bin = |name: &str| match &cfg.bin_dir {
            Some(d) => d.join(name),
            None => PathBuf::from(name),
        };
        let log =
            std::fs::File::create(dir.join("containerd.log")).map_err(BenchError::io(&dir))?;
        let child = Command::new(bin("containerd"))
            .arg("--config")
            .arg(&cfg_path)
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|source| BenchError::Spawn {
                cmd: "containerd".into(),
                source,
            })?;
        let d = Containerd {
            namespace,
            dir,
            child,
            ctr: bin("ctr"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while d.ctr(&["version"]).is_err() {
            if Instant::now() > deadline {
                return Err(BenchError::Input {
                    what: "containerd".into(),
                    why: format!("not serving on {} within 20 s", sock.display()),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(d)
    }

    /// The containerd process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The gRPC socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("c.sock")
    }

    /// Runs `ctr` against this containerd in its namespace; stdout on success.
    pub fn ctr(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(&self.ctr)
            .arg("--address")
            .arg(self.socket())
            .args(["--namespace", &self.namespace])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| BenchError::Spawn {
                cmd: "ctr".into(),
                source,
            })?;
        if !out.status.success() {
            return Err(BenchError::Failed {
                cmd: format!("ctr {}", args.join(" ")),
                code: out.status.code().unwrap_or(-1),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
        // containerd puts containers under /<namespace>/<id> and never removes the parent.
        for m in crate::cleanup::cgroup_mounts() {
            let _ = std::fs::remove_dir(m.join(&self.namespace));
        }
        // Both shims keep their runtime's state root per namespace (empty once its containers
        // are gone) and never remove it.
        for root in ["/run/containerd/runc", "/run/containerd/dockermind"] {
            let _ = std::fs::remove_dir(Path::new(root).join(&self.namespace));
        }
        // containerd leaves its root's mounts (and the opt dir) behind; they are ours to drop.
        unmount_below(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Lazily unmounts whatever is still mounted below `dir` (deepest first).
pub fn unmount_below(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = format!("{}/", dir.display());
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
    }
}
