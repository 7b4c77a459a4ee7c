//! A private dockerd for tests that need docker itself as the other side (pushing to our
//! registry, saving archives our image store loads).

use dm_testkit::output;
use std::path::Path;
use std::process::Command;

/// Debian 12's docker CLI (docker.io 20.10); another docker may sit earlier on PATH.
pub const DOCKER: &str = "/usr/bin/docker";

/// A private dockerd (data root, exec root, socket, trust key under `dir`; no bridge, no
/// iptables), stopped on drop; `/run/docker/plugins`, which dockerd always makes, is removed
/// again if it was not there before.
pub struct Dockerd {
    child: std::process::Child,
    sock: String,
    run_docker_existed: bool,
    /// The cgroup parent of docker's containers (unique, removed on drop).
    cgroup_parent: String,
}

impl Dockerd {
    /// Starts dockerd with everything under `dir`; waits until it answers.
    pub fn start(dir: &Path) -> Dockerd {
        let run_docker_existed = Path::new("/run/docker").exists();
        // Containers go under a parent of the test's own, not dockerd's shared `docker`.
        let cgroup_parent = dm_testkit::unique_id("dockerd");
        std::fs::write(
            dir.join("daemon.json"),
            format!(
                "{{\"deprecated-key-path\": \"{}\", \"cgroup-parent\": \"/{cgroup_parent}\"}}",
                dir.join("key.json").display()
            ),
        )
        .unwrap();
        let sock = dir.join("docker.sock");
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("--host")
            .arg(format!("unix://{}", sock.display()))
            .args(["--bridge=none", "--iptables=false", "--ip6tables=false"])
            // dockerd turns on the host's ip_forward unless told not to.
            .args(["--ip-masq=false", "--ip-forward=false"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("dockerd.log")).unwrap())
            .spawn()
            .expect("spawn dockerd");
        let d = Dockerd {
            child,
            sock: format!("unix://{}", sock.display()),
            run_docker_existed,
            cgroup_parent,
        };
        crate::poll(
            "dockerd to answer",
            std::time::Duration::from_secs(60),
            || (d.docker(&["version"]).code == 0).then_some(()),
        );
        d
    }

    /// Runs Debian's docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> dm_testkit::Output {
        output({
            let mut c = Command::new(DOCKER);
            c.args(["-H", &self.sock]).args(args);
            c
        })
    }

    /// Runs the docker CLI with its own config dir (`DOCKER_CONFIG`: where `docker login`
    /// keeps credentials), so a test's logins touch no one else's.
    pub fn docker_with_config(&self, config: &Path, args: &[&str]) -> dm_testkit::Output {
        output({
            let mut c = Command::new(DOCKER);
            c.env("DOCKER_CONFIG", config)
                .args(["-H", &self.sock])
                .args(args);
            c
        })
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of our own unreaped child; SIGTERM lets dockerd stop the
        // containerd it manages.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        crate::cleanup::remove_top_cgroups(&self.cgroup_parent);
        if !self.run_docker_existed {
            let _ = std::fs::remove_dir("/run/docker/plugins");
            let _ = std::fs::remove_dir("/run/docker");
        }
    }
}
