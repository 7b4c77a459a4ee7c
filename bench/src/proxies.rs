//! dm-content and dm-snapshotter started as containerd proxy plugins for the import family,
//! from this workspace's release build (debug when no release build exists).

use crate::error::{BenchError, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The two proxy services, stopped with SIGTERM on drop.
pub struct Proxies {
    dir: PathBuf,
    children: Vec<Child>,
    /// Which build the binaries came from ("release" or "debug").
    pub profile: &'static str,
}

/// Snapshotter name containerd knows our proxy by.
pub const SNAPSHOTTER: &str = "dockermind";
/// Diff plugin name of dm-snapshotter's diff API (containerd >= 1.7).
pub const DIFFER: &str = "dockermind-diff";

impl Proxies {
    /// Starts both services with roots and sockets under `dir`.
    pub fn start(dir: PathBuf) -> Result<Proxies> {
        let content = dir.join("dm-content-root");
        Self::start_services(dir, &["dm-content", "dm-snapshotter"], &content)
    }

    /// dm-snapshotter alone (snapshots and diff API), applying layers from `content_root`:
    /// containerd's own content store, which has dm-content's on-disk layout.
    pub fn start_snapshotter(dir: PathBuf, content_root: &Path) -> Result<Proxies> {
        Self::start_services(dir, &["dm-snapshotter"], content_root)
    }

    fn start_services(dir: PathBuf, names: &[&str], content_root: &Path) -> Result<Proxies> {
        let target = crate::workspace_root().join("target/x86_64-unknown-linux-gnu");
        let profile = ["release", "debug"]
            .into_iter()
            .find(|p| {
                let d = target.join(p);
                d.join("dm-content").exists() && d.join("dm-snapshotter").exists()
            })
            .ok_or_else(|| BenchError::Input {
                what: "dm-content/dm-snapshotter".into(),
                why: "not built: cargo build --release -p dm-content -p dm-snapshotter".into(),
            })?;
        let mut p = Proxies {
            dir,
            children: Vec::new(),
            profile,
        };
        for &name in names {
            let bin = target.join(profile).join(name);
            let log = p.dir.join(format!("{name}.log"));
            let log = std::fs::File::create(&log).map_err(BenchError::io(&log))?;
            let mut cmd = Command::new(&bin);
            cmd.arg("--root")
                .arg(p.dir.join(format!("{name}-root")))
                .arg("--address")
                .arg(p.socket(name));
            if name == "dm-snapshotter" {
                // The diff API applies layers from the blob files there (containerd >= 1.7).
                cmd.arg("--content-root").arg(content_root);
            }
            let child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|source| BenchError::Spawn {
                    cmd: bin.display().to_string(),
                    source,
                })?;
            p.children.push(child);
            wait_for_socket(&p.socket(name))?;
        }
        Ok(p)
    }

    /// Process ids of dm-content and dm-snapshotter.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    fn socket(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.sock"))
    }

    /// containerd config: the tables registering both proxies.
    pub fn toml(&self) -> String {
        format!(
            "[proxy_plugins.dockermind-content]\n  type = \"content\"\n  address = \"{}\"\n{}",
            self.socket("dm-content").display(),
            self.snapshot_toml()
        )
    }

    fn snapshot_toml(&self) -> String {
        format!(
            "[proxy_plugins.{SNAPSHOTTER}]\n  type = \"snapshot\"\n  address = \"{}\"\n",
            self.socket("dm-snapshotter").display()
        )
    }

    /// containerd >= 1.7 config: [`toml`](Self::toml) plus dm-snapshotter as diff plugin
    /// [`DIFFER`], first in the diff service's order and the transfer service's differ for
    /// unpacks into [`SNAPSHOTTER`] (README, containerd storage plugins).
    pub fn toml_with_diff(&self) -> String {
        format!("{}{}", self.toml(), self.diff_toml())
    }

    /// containerd >= 1.7 config for [`start_snapshotter`](Self::start_snapshotter): snapshotter
    /// and diff plugin, containerd keeping its own content store.
    pub fn snapshot_diff_toml(&self) -> String {
        format!("{}{}", self.snapshot_toml(), self.diff_toml())
    }

    fn diff_toml(&self) -> String {
        let unpack = |sn: &str, differ: &str| {
            format!(
                "[[plugins.\"io.containerd.transfer.v1.local\".unpack_config]]\n  \
                 platform = \"linux/amd64\"\n  snapshotter = \"{sn}\"\n  differ = \"{differ}\"\n"
            )
        };
        format!(
            "[proxy_plugins.{DIFFER}]\n  type = \"diff\"\n  address = \"{}\"\n\
             [plugins.\"io.containerd.service.v1.diff-service\"]\n  default = [\"{DIFFER}\", \"walking\"]\n{}{}",
            self.socket("dm-snapshotter").display(),
            unpack(SNAPSHOTTER, DIFFER),
            unpack("overlayfs", "walking"),
        )
    }
}

/// Polls until something accepts connections on `sock` (bounded).
fn wait_for_socket(sock: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect(sock).is_err() {
        if Instant::now() > deadline {
            return Err(BenchError::Input {
                what: sock.display().to_string(),
                why: "no proxy serving on it within 10 s".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

impl Drop for Proxies {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = c.wait();
        }
        crate::containerd::unmount_below(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
