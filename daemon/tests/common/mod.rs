//! A private dockermindd for a test (own root, exec root, socket, cgroup parent), driven by
//! Debian's docker CLI (docker.io 20.10, API 1.41); stopped and cleaned up on Drop.

#![allow(dead_code)]

use dm_integration::cleanup;
use dm_integration::poll;
use dm_integration::Registry;
use dm_testkit::{unique_id, workspace_bin, TempDir};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// Debian 12's docker CLI (another docker may sit earlier on PATH).
pub const DOCKER: &str = "/usr/bin/docker";

/// Whether the test can run: root, Debian's docker CLI, docker-registry and skopeo.
pub fn prerequisites(test: &str) -> bool {
    if !dm_testkit::require_root(test) {
        return false;
    }
    if !Path::new(DOCKER).is_file() {
        if dm_testkit::in_ci() {
            panic!("CI=true but {DOCKER} is missing (scripts/deps.sh installs docker.io)");
        }
        eprintln!("\n!!! SKIPPED: {test} needs {DOCKER} (docker.io) !!!\n");
        return false;
    }
    dm_testkit::require_cmd("docker-registry") && dm_testkit::require_cmd("skopeo")
}

/// A running dockermindd.
pub struct Dmd {
    child: Option<Child>,
    /// Scratch dir holding root, exec root, socket and logs.
    pub dir: TempDir,
    /// The cgroup parent (`/<unique>`), also the shim namespace leftovers are looked up by.
    pub cgroup_parent: String,
    /// The network namespace the daemon runs in; None: the test's own, and then the daemon
    /// makes no default bridge (`--bridge none`), so the host's networking is never touched.
    netns: Option<PathBuf>,
}

impl Dmd {
    /// Starts a daemon in a fresh scratch dir.
    pub fn start() -> Dmd {
        Dmd::start_in(None)
    }

    /// Starts a daemon inside the network namespace at `netns` (a file the test keeps alive
    /// while the daemon runs): it serves the default bridge network there.
    pub fn start_in(netns: Option<&Path>) -> Dmd {
        let dir = TempDir::new("dmd");
        let cgroup_parent = format!("/{}", unique_id("dmd"));
        let mut d = Dmd {
            child: None,
            dir,
            cgroup_parent,
            netns: netns.map(Path::to_path_buf),
        };
        d.spawn();
        d
    }

    /// The API socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("dockermind.sock")
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
            .unwrap();
        let mut cmd = Command::new(workspace_bin("dockermindd"));
        match &self.netns {
            None => {
                cmd.args(["--bridge", "none"]);
            }
            Some(p) => {
                use std::os::fd::AsRawFd;
                use std::os::unix::process::CommandExt;
                let ns = std::fs::File::open(p).expect("open the test's netns");
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
            .arg(format!("unix://{}", self.socket().display()))
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
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
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

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// A docker CLI command talking to this daemon (with a private client config dir).
    pub fn cmd(&self, args: &[&str]) -> Command {
        // DM_DOCKER_CLI tries another client by hand; CI uses Debian's.
        let cli = std::env::var("DM_DOCKER_CLI").unwrap_or_else(|_| DOCKER.to_owned());
        let mut c = Command::new(cli);
        c.env("DOCKER_HOST", format!("unix://{}", self.socket().display()))
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env_remove("DOCKER_API_VERSION")
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs docker with `args`.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run docker")
    }

    /// Runs docker with `args`, which must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(
            o.status.success(),
            "docker {args:?} failed ({}):\nstdout: {}\nstderr: {}\ndaemon log:\n{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
            self.log()
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Runs docker with `args`, which must fail; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(
            !o.status.success(),
            "docker {args:?} should have failed:\nstdout: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    /// One HTTP/1.0 request on the API socket (no chunking; the daemon closes at the end):
    /// the status code and the body.
    pub fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(self.socket()).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
        let code = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, body.to_owned())
    }

    /// Whether the client talks API 1.42 or newer (where `volume prune` spares named volumes
    /// unless asked for all).
    pub fn api_1_42(&self) -> bool {
        let v = self.ok(&["version", "--format", "{{.Client.APIVersion}}"]);
        let minor = v
            .trim()
            .strip_prefix("1.")
            .and_then(|m| m.parse::<u32>().ok());
        minor.is_some_and(|m| m >= 42)
    }

    /// `docker volume prune` of every unused volume, whatever the client's API version.
    pub fn prune_all_volumes(&self) -> String {
        if self.api_1_42() {
            let named_spared = self.ok(&["volume", "prune", "-f"]);
            assert!(
                !named_spared.contains("Deleted Volumes"),
                "API 1.42+ prune took named volumes: {named_spared}"
            );
            self.ok(&["volume", "prune", "-a", "-f"])
        } else {
            self.ok(&["volume", "prune", "-f"])
        }
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

impl Drop for Dmd {
    fn drop(&mut self) {
        self.stop();
        for pid in self.shims() {
            // SAFETY: kill(2) on a shim pid found by its command line.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        cleanup::remove_namespace_leftovers(self.cgroup_parent.trim_start_matches('/'));
        cleanup::unmount_below(self.dir.path());
    }
}

/// Asserts nothing of the daemon's containers is left: shims, mounts, cgroups, bundles.
pub fn assert_clean(d: &mut Dmd) {
    d.stop();
    assert_eq!(d.shims(), Vec::<i32>::new(), "shims left running");
    assert_eq!(d.mounts_left(), Vec::<String>::new(), "mounts left");
    assert_eq!(
        d.cgroups_left(),
        Vec::<std::path::PathBuf>::new(),
        "cgroups left"
    );
    let bundles = d.exec_root().join("containers");
    let left: Vec<_> = std::fs::read_dir(&bundles)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "bundles left: {left:?}");
    let runc: Vec<_> = std::fs::read_dir(d.exec_root().join("runc"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(runc.is_empty(), "runtime state left: {runc:?}");
    let recs = d.root().join("containers");
    let left: Vec<_> = std::fs::read_dir(&recs)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "container records left: {left:?}");
}

/// A docker-registry serving the busybox test image as `<addr>/busybox:latest`.
pub struct TestRegistry {
    _dir: TempDir,
    /// The registry (stopped on drop).
    pub registry: Registry,
    /// `127.0.0.1:PORT/busybox`.
    pub image: String,
}

impl TestRegistry {
    /// Starts a registry and pushes the busybox image to it.
    pub fn with_busybox() -> TestRegistry {
        TestRegistry::with_image(dm_integration::write_busybox_image_tar)
    }

    /// Starts a registry and pushes, as `busybox:latest`, the image tar `write(tar, work)`
    /// makes (`work` is a scratch dir).
    pub fn with_image(write: impl FnOnce(&Path, &Path)) -> TestRegistry {
        let dir = TempDir::new("dmd-reg");
        let tar = dir.path().join("busybox.tar");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        write(&tar, &work);
        let registry = Registry::start(dir.path());
        let image = registry.push_oci_archive(&tar, "busybox:latest");
        let image = image.trim_end_matches(":latest").to_owned();
        TestRegistry {
            _dir: dir,
            registry,
            image,
        }
    }
}
