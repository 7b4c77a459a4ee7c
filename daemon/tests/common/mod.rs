//! A private dockermindd for a test (dm-integration's `Dockermindd`: own root, exec root,
//! socket, cgroup parent), driven by Debian's docker CLI (docker.io 20.10, API 1.41); stopped
//! and cleaned up on Drop.

#![allow(dead_code)]

use dm_integration::{Dockermindd, Registry};
use dm_testkit::TempDir;
use std::path::Path;
use std::process::{Command, Output, Stdio};

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

/// A private dockermindd (dm-integration's harness) driven by the docker CLI.
pub struct Dmd(pub Dockermindd);

impl std::ops::Deref for Dmd {
    type Target = Dockermindd;
    fn deref(&self) -> &Dockermindd {
        &self.0
    }
}

impl std::ops::DerefMut for Dmd {
    fn deref_mut(&mut self) -> &mut Dockermindd {
        &mut self.0
    }
}

impl Dmd {
    /// Starts a daemon in a fresh scratch dir.
    pub fn start() -> Dmd {
        Dmd(Dockermindd::start())
    }

    /// Starts a daemon inside the network namespace at `netns` (a file the test keeps alive
    /// while the daemon runs): it serves the default bridge network there.
    pub fn start_in(netns: Option<&Path>) -> Dmd {
        Dmd(Dockermindd::start_in(netns))
    }

    /// A docker CLI command talking to this daemon (with a private client config dir).
    pub fn cmd(&self, args: &[&str]) -> Command {
        // DM_DOCKER_CLI tries another client by hand; CI uses Debian's.
        let cli = std::env::var("DM_DOCKER_CLI").unwrap_or_else(|_| DOCKER.to_owned());
        let mut c = Command::new(cli);
        c.env("DOCKER_HOST", self.host())
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
        let req = format!(
            "{method} {path} HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        // The daemon may answer (a 404 for an unknown container) and close before it read the
        // body: a broken pipe here still leaves its answer to read.
        if let Err(e) = s.write_all(req.as_bytes()) {
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe,
                "write request: {e}"
            );
        }
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
}

/// Seconds since the epoch `ahead` from now, as `docker events --since/--until` take them.
pub fn epoch_secs(ahead: std::time::Duration) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        + ahead;
    format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
}

/// Seconds since the epoch now, as `docker events --since/--until` take them.
pub fn now() -> String {
    epoch_secs(std::time::Duration::ZERO)
}

/// The lines of a file containers or probes append to (0 when missing).
pub fn lines_in(p: &Path) -> usize {
    std::fs::read_to_string(p).map_or(0, |s| s.lines().count())
}

/// `docker inspect --format fmt name`, trimmed.
pub fn inspect(d: &Dmd, name: &str, fmt: &str) -> String {
    d.ok(&["inspect", "--format", fmt, name]).trim().to_owned()
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
