//! podman (conmon path, as CRI-O uses it) with private storage, run dirs and events log.

use crate::cleanup;
use dm_testkit::{output, Output, TempDir};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// podman with its own --root, --runroot, --tmpdir, runtime and cgroup parent; removes its
/// containers, mounts, cgroups and dirs on Drop.
pub struct Podman {
    dir: TempDir,
    runtime: PathBuf,
    /// The cgroup parent of its containers and their conmons, instead of podman's shared
    /// `/libpod_parent`, which no test could tell it may remove.
    cgroup_parent: String,
}

impl Podman {
    /// podman driving the runc-compatible binary `runtime`.
    pub fn new(runtime: &Path) -> Podman {
        let dir = TempDir::new("dm-podman");
        // A private containers.conf so the host's config cannot pick a systemd manager or
        // journald events, which this machine does not have.
        std::fs::write(
            dir.path().join("containers.conf"),
            format!(
                "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
                 events_logfile_path = \"{}\"\n",
                dir.path().join("events.log").display()
            ),
        )
        .unwrap();
        Podman {
            dir,
            runtime: runtime.to_owned(),
            cgroup_parent: dm_testkit::unique_id("dm-podman"),
        }
    }

    /// `podman <global flags> <args>` with stdin closed; `run` and `create` get the private
    /// cgroup parent.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let parent = format!("--cgroup-parent=/{}", self.cgroup_parent);
        let args: Vec<&str> = match args.split_first() {
            Some((&sub, rest)) if sub == "run" || sub == "create" => {
                [&[sub, parent.as_str()][..], rest].concat()
            }
            _ => args.to_vec(),
        };
        let d = self.dir.path();
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", d.join("containers.conf"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .arg("--storage-driver")
            .arg("overlay")
            .arg("--cgroup-manager=cgroupfs")
            .arg("--events-backend=file")
            .arg("--runtime")
            .arg(&self.runtime)
            .args(&args)
            .stdin(Stdio::null());
        c
    }

    /// Runs `podman <args>` to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        output(self.cmd(args))
    }

    /// `podman run --rm` of `image` with the flags this machine needs (no network, rlimits
    /// within what root may set here), then `args` (options, then image command).
    pub fn run_rm(&self, image: &str, opts: &[&str], command: &[&str]) -> Output {
        let mut a = vec![
            "run",
            "--rm",
            "--network=none",
            "--ulimit",
            "nofile=20000:20000",
            "--ulimit",
            "nproc=32768:32768",
        ];
        a.extend_from_slice(opts);
        a.push(image);
        a.extend_from_slice(command);
        self.run(&a)
    }

    /// Loads the busybox OCI layout tar as `localhost/<name>:latest` and returns that name.
    pub fn load_image(&self, tar: &Path, name: &str) -> String {
        let reference = format!("localhost/{name}:latest");
        let src = format!("oci-archive:{}", tar.display());
        let out = self.run(&["pull", "-q", &src]);
        assert_eq!(out.code, 0, "podman pull {src}: {out:?}");
        let id = out.stdout.trim().to_owned();
        let out = self.run(&["tag", &id, &reference]);
        assert_eq!(out.code, 0, "podman tag: {out:?}");
        reference
    }

    /// The private scratch dir.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self
            .cmd(&["rm", "--all", "--force", "--time", "0"])
            .output();
        cleanup::unmount_below(self.dir.path());
        cleanup::remove_top_cgroups(&self.cgroup_parent);
    }
}
