//! A private dockerd 20.10 (own data root, exec root, pidfile, socket, config file and managed
//! containerd) with networking off, driven by Debian's docker CLI; stopped on drop, its mounts
//! and cgroups removed.

use crate::error::{BenchError, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's docker CLI (20.10); another docker may come first on PATH.
pub const DOCKER_CLI: &str = "/usr/bin/docker";

/// A running private dockerd.
pub struct Dockerd {
    dir: PathBuf,
    child: Option<Child>,
    cgroup_parent: String,
}

impl Dockerd {
    /// Starts dockerd under `dir` with its containers under the cgroup `/<cgroup_parent>`,
    /// and waits until it answers.
    pub fn start(dir: &Path, cgroup_parent: &str) -> Result<Dockerd> {
        std::fs::create_dir_all(dir).map_err(BenchError::io(dir))?;
        let cfg = dir.join("daemon.json");
        std::fs::write(&cfg, "{}").map_err(BenchError::io(&cfg))?;
        let log = std::fs::File::create(dir.join("dockerd.log")).map_err(BenchError::io(dir))?;
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(&cfg)
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("--host")
            .arg(format!("unix://{}", dir.join("docker.sock").display()))
            // The host's forwarding and firewall stay as they are; no bridge to set up.
            .args(["--ip-forward=false", "--iptables=false", "--bridge=none"])
            .args(["--exec-opt", "native.cgroupdriver=cgroupfs"])
            .arg(format!("--cgroup-parent=/{cgroup_parent}"))
            .args(["--storage-driver", "overlay2", "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|source| BenchError::Spawn {
                cmd: "dockerd".into(),
                source,
            })?;
        let mut d = Dockerd {
            dir: dir.to_owned(),
            child: Some(child),
            cgroup_parent: cgroup_parent.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = d
                .cli(&["version", "--format", "{{.Server.Version}}"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(d);
            }
            let exited = d.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default();
                return Err(BenchError::Input {
                    what: "dockerd".into(),
                    why: format!(
                        "did not answer: {}",
                        log.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `docker -H <socket> args` with a private client config.
    pub fn cli(&self, args: &[&str]) -> Command {
        let mut c = Command::new(DOCKER_CLI);
        c.env("DOCKER_CONFIG", self.dir.join("client"))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_API_VERSION")
            .arg("-H")
            .arg(format!("unix://{}", self.dir.join("docker.sock").display()))
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// dockerd's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The pid of the containerd dockerd started for itself.
    pub fn containerd_pid(&self) -> Option<u32> {
        let pid = self.pid()?;
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
        tasks
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
            .flat_map(|c| {
                c.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok())
                    .collect::<Vec<_>>()
            })
            .find(|c| {
                std::fs::read_to_string(format!("/proc/{c}/comm"))
                    .is_ok_and(|n| n.trim() == "containerd")
            })
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let containerd = self.containerd_pid();
        if let Some(c) = self.child.take() {
            // dockerd stops its containerd on SIGTERM.
            dm_integration::cleanup::terminate(c, Duration::from_secs(20));
        }
        if let Some(pid) = containerd {
            // Only if dockerd had to be killed before it could stop it (then it is ours still).
            if std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|n| n.trim() == "containerd")
            {
                // SAFETY: kill(2) on the containerd this dockerd started.
                unsafe {
                    libc::kill(pid as i32, libc::SIGKILL);
                }
            }
        }
        dm_integration::cleanup::unmount_below(&self.dir);
        dm_integration::cleanup::remove_top_cgroups(&self.cgroup_parent);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
