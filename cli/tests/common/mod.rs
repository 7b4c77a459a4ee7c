//! A private dockermindd and dm-registry (holding busybox) per test, and the `dockermind`
//! binary pointed at them.

#![allow(dead_code)]

use dm_integration::{DmRegistry, Dockermindd};
use dm_testkit::workspace_bin;
use std::process::{Command, Output, Stdio};

/// Whether the test can run: root and skopeo (to fill the registry).
pub fn prerequisites(test: &str) -> bool {
    dm_testkit::require_root(test) && dm_testkit::require_cmd("skopeo")
}

/// A daemon, a registry with busybox, and the CLI.
pub struct Env {
    /// The daemon (stopped and cleaned up on drop).
    pub dmd: Dockermindd,
    /// The registry.
    pub registry: DmRegistry,
    /// `127.0.0.1:PORT/busybox`.
    pub image: String,
}

impl Env {
    /// Starts both and pushes busybox.
    pub fn start() -> Env {
        let registry = DmRegistry::start(&[]);
        let image = registry.push_busybox();
        Env {
            dmd: Dockermindd::start(),
            registry,
            image,
        }
    }

    /// `dockermind -H <socket> args` with stdin from /dev/null.
    pub fn cmd(&self, args: &[&str]) -> Command {
        cli(&self.dmd.host(), args)
    }

    /// Runs the CLI.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run dockermind")
    }

    /// Runs the CLI, which must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "dockermind {args:?} failed ({}):\nstdout: {}\nstderr: {}\ndaemon log:\n{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
            self.dmd.log()
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Runs the CLI, which must exit with `code`; returns (stdout, stderr).
    pub fn exits(&self, code: i32, args: &[&str]) -> (String, String) {
        let o = self.run(args);
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        );
        assert_eq!(
            o.status.code(),
            Some(code),
            "dockermind {args:?}:\nstdout: {out}\nstderr: {err}"
        );
        (out, err)
    }

    /// The image pulled through the CLI.
    pub fn pulled(&self) -> &str {
        self.ok(&["pull", &self.image]);
        &self.image
    }

    /// Asserts the daemon holds no container and left no cgroup or container mount.
    pub fn assert_no_containers(&self) {
        let ids = self.ok(&["ps", "-aq"]);
        assert_eq!(ids.trim(), "", "containers left");
        assert_eq!(self.dmd.cgroups_left(), Vec::<std::path::PathBuf>::new());
        let mounts: Vec<String> = self
            .dmd
            .mounts_left()
            .into_iter()
            .filter(|m| m.contains("/run/"))
            .collect();
        assert_eq!(mounts, Vec::<String>::new(), "container mounts left");
    }
}

/// `dockermind -H host args` (no daemon needed for parse errors).
pub fn cli(host: &str, args: &[&str]) -> Command {
    let mut c = Command::new(workspace_bin("dockermind"));
    c.arg("-H")
        .arg(host)
        .args(args)
        .env_remove("DOCKERMIND_HOST")
        .stdin(Stdio::null());
    c
}
