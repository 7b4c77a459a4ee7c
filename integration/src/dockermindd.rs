//! A private dockermindd (own root, exec root, socket, cgroup parent) as tests and benches run
//! it; stopped, its shims killed and its cgroups and mounts removed on Drop.

use crate::{cleanup, poll};
use dm_testkit::{unique_id, workspace_bin, TempDir};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running dockermindd.
pub struct Dockermindd {
    child: Option<Child>,
    /// Scratch dir holding root, exec root, socket and logs.
    pub dir: TempDir,
    /// The cgroup parent (`/<unique>`), also the shim namespace leftovers are looked up by.
    pub cgroup_parent: String,
    /// The network namespace the daemon runs in; None: the caller's, and then the daemon
    /// makes no default bridge (`--bridge none`), so the host's networking is never touched.
    netns: Option<PathBuf>,
    /// More flags after the harness's own (e.g. a second `--host` with TLS).
    extra: Vec<String>,
}

impl Dockermindd {
    /// Starts a daemon in a fresh scratch dir and waits for its socket.
    pub fn start() -> Dockermindd {
        Dockermindd::start_in(None)
    }

    /// Starts a daemon inside the network namespace at `netns` (a file the caller keeps alive
    /// while the daemon runs): it serves the default bridge network there.
    pub fn start_in(netns: Option<&Path>) -> Dockermindd {
        Dockermindd::start_with(netns, &[])
    }

    /// [`Dockermindd::start_in`] with more flags (kept across [`Dockermindd::spawn`]).
    pub fn start_with(netns: Option<&Path>, extra: &[&str]) -> Dockermindd {
        let dir = TempDir::new("dmd");
        let cgroup_parent = format!("/{}", unique_id("dmd"));
        let mut d = Dockermindd {
            child: None,
            dir,
            cgroup_parent,
            netns: netns.map(Path::to_path_buf),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        };
        d.spawn();
        d
    }

    /// The API socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("dockermind.sock")
    }

    /// `unix://<socket>`, for DOCKER_HOST and `dockermind -H`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// The exec root (bundles, fifos, event socket).
    pub fn exec_root(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// The persistent root.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Starts (or restarts) the daemon process and waits for its socket to answer.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .expect("open the daemon log");
        let mut cmd = Command::new(workspace_bin("dockermindd"));
        match &self.netns {
            // No default bridge: the daemon must not touch the host's networking.
            None => {
                cmd.args(["--bridge", "none"]);
            }
            Some(p) => {
                use std::os::fd::AsRawFd;
                use std::os::unix::process::CommandExt;
                let ns = std::fs::File::open(p).expect("open the netns");
                // SAFETY: setns is async-signal-safe; ns stays open in the parent (captured by
                // the closure) until spawn returns.
                unsafe {
                    cmd.pre_exec(move || {
                        if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
            }
        }
        let child = cmd
            .arg("--host")
            .arg(self.host())
            .arg("--root")
            .arg(self.root())
            .arg("--exec-root")
            .arg(self.exec_root())
            .arg("--cgroup-parent")
            .arg(&self.cgroup_parent)
            .arg("--registry-config")
            .arg(self.dir.path().join("no-registries.json"))
            .arg("--shim")
            .arg(workspace_bin("containerd-shim-dockermind-v2"))
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup the daemon log"))
            .stderr(log)
            .spawn()
            .expect("spawn dockermindd");
        self.child = Some(child);
        let sock = self.socket();
        poll("dockermindd to listen", Duration::from_secs(30), || {
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("dockermindd exited ({st}):\n{}", self.log());
            }
            std::os::unix::net::UnixStream::connect(&sock).ok()
        });
    }

    /// SIGKILLs the daemon (containers and shims stay).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The daemon's pid (0 when stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// Pids of shims this daemon launched.
    pub fn shims(&self) -> Vec<i32> {
        cleanup::shims_of(&self.exec_root().join("shim.address"))
    }

    /// Stops the daemon with SIGTERM.
    pub fn stop(&mut self) {
        if let Some(c) = self.child.take() {
            cleanup::terminate(c, Duration::from_secs(15));
        }
    }

    /// Cgroup directories left under the cgroup parent in any hierarchy.
    pub fn cgroups_left(&self) -> Vec<PathBuf> {
        let mut out = vec![];
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let p = h.path().join(self.cgroup_parent.trim_start_matches('/'));
            if let Ok(rd) = std::fs::read_dir(&p) {
                out.extend(rd.flatten().filter(|e| e.path().is_dir()).map(|e| e.path()));
            }
        }
        out
    }

    /// Mount points at or below the scratch dir.
    pub fn mounts_left(&self) -> Vec<String> {
        let prefix = self.dir.path().to_string_lossy().into_owned();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&prefix))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Dockermindd {
    fn drop(&mut self) {
        self.stop();
        cleanup::kill_shims_of(&self.exec_root().join("shim.address"));
        cleanup::remove_namespace_leftovers(self.cgroup_parent.trim_start_matches('/'));
        cleanup::unmount_below(self.dir.path());
    }
}
