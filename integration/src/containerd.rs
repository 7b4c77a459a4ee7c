//! A private containerd (1.6 or 1.7): own root, state, sockets, opt dir and config.

use crate::cleanup;
use crate::ctr::Ctr;
use crate::version::ContainerdVersion;
use dm_testkit::{unique_id, TempDir};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long containerd may take to serve its socket.
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// What to put in the private containerd's config beyond roots and sockets.
#[derive(Clone, Debug)]
pub struct ContainerdOptions {
    /// Plugin ids for `disabled_plugins`; the CRI plugin is disabled by default because it
    /// wants networking and a sandbox image the tests do not need.
    pub disabled_plugins: Vec<String>,
    /// TOML tables appended to the config (proxy_plugins, runtime options, ...). Top-level keys
    /// are not allowed here: TOML puts them before the first table.
    pub extra_toml: String,
    /// Directories put first on containerd's PATH (where it finds `containerd-shim-*-v2`).
    pub path_dirs: Vec<PathBuf>,
    /// Extra environment for containerd, which its shims and their runtime inherit (e.g. a
    /// private `DBUS_SYSTEM_BUS_ADDRESS`).
    pub env: Vec<(String, String)>,
    /// Which containerd runs; `DM_CONTAINERD` (1.6 unless set) by default.
    pub version: ContainerdVersion,
    /// containerd's `root`, when a service must be pointed into it (e.g. at the built-in
    /// content store's blobs) before containerd starts; a private dir by default.
    pub root: Option<PathBuf>,
}

impl Default for ContainerdOptions {
    fn default() -> Self {
        ContainerdOptions {
            disabled_plugins: vec!["io.containerd.grpc.v1.cri".into()],
            extra_toml: String::new(),
            path_dirs: Vec::new(),
            env: Vec::new(),
            version: ContainerdVersion::from_env(),
            root: None,
        }
    }
}

impl ContainerdOptions {
    /// Options whose PATH has this workspace's built binaries (our shim, dm-runc) first.
    pub fn with_workspace_bins() -> Self {
        let shim = dm_testkit::workspace_bin(crate::DM_SHIM_BIN);
        let mut o = ContainerdOptions::default();
        o.path_dirs.push(shim.parent().unwrap().to_owned());
        o
    }

    /// The same options for containerd `version`.
    pub fn on(mut self, version: ContainerdVersion) -> Self {
        self.version = version;
        self
    }

    /// Appends a TOML fragment (tables only).
    pub fn extra(mut self, toml: &str) -> Self {
        self.extra_toml.push_str(toml);
        self.extra_toml.push('\n');
        self
    }
}

/// A running private containerd, killed and cleaned up (tasks, shims, mounts, dirs) on Drop.
pub struct Containerd {
    dir: TempDir,
    root: PathBuf,
    child: Option<Child>,
    config: PathBuf,
    path_env: String,
    env: Vec<(String, String)>,
    version: ContainerdVersion,
    namespaces: Mutex<Vec<String>>,
    shared_namespaces: Mutex<Vec<String>>,
    image_tar: OnceLock<PathBuf>,
}

impl Containerd {
    /// Starts containerd with `opts` and waits until its gRPC socket answers.
    pub fn start(opts: ContainerdOptions) -> Containerd {
        let dir = TempDir::new("dm-ctd");
        let d = dir.path();
        let root = opts.root.clone().unwrap_or_else(|| d.join("root"));
        for sub in [root.clone(), d.join("state"), d.join("opt")] {
            std::fs::create_dir_all(sub).unwrap();
        }
        let config = d.join("config.toml");
        std::fs::write(&config, render_config(d, &root, &opts)).unwrap();
        // The version's own dir comes after the caller's (our shim first) and before the
        // system's, so 1.7 finds its own containerd-shim-runc-v2.
        let dirs = opts.path_dirs.iter().cloned().chain(opts.version.bin_dir());
        let mut path_env = std::env::join_paths(dirs).unwrap().into_string().unwrap();
        let sys = std::env::var("PATH").unwrap_or_else(|_| {
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()
        });
        if !path_env.is_empty() {
            path_env.push(':');
        }
        path_env.push_str(&sys);
        let mut c = Containerd {
            dir,
            root,
            child: None,
            config,
            path_env,
            env: opts.env.clone(),
            version: opts.version,
            namespaces: Mutex::new(Vec::new()),
            shared_namespaces: Mutex::new(Vec::new()),
            image_tar: OnceLock::new(),
        };
        c.spawn();
        c
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut cmd = Command::new(self.version.bin("containerd"));
        cmd.arg("--config")
            .arg(&self.config)
            .env("PATH", &self.path_env)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill containerd if the
        // test process dies before Drop runs.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn containerd {} (install it): {e}", self.version));
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if std::os::unix::net::UnixStream::connect(self.address()).is_ok() {
                return;
            }
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "containerd exited with {st} before serving; log:\n{}",
                    self.log()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "containerd not ready after {READY_DEADLINE:?}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops containerd (SIGTERM, then SIGKILL) and starts it again with the same config;
    /// running shims and containers are left alone, as on a real restart.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Kills containerd without cleanup of its tasks (what a crash looks like).
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            cleanup::terminate(child, Duration::from_secs(10));
        }
    }

    /// Which containerd this is.
    pub fn version(&self) -> ContainerdVersion {
        self.version
    }

    /// The gRPC socket path (`ctr --address`, the shims' `-address`).
    pub fn address(&self) -> PathBuf {
        self.dir.path().join("grpc.sock")
    }

    /// The ttrpc socket path (shims publish events here).
    pub fn ttrpc_address(&self) -> PathBuf {
        self.dir.path().join("ttrpc.sock")
    }

    /// containerd's `state` dir; task bundles live in `<state>/io.containerd.runtime.v2.task`.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// containerd's `root` dir.
    pub fn root_dir(&self) -> PathBuf {
        self.root.clone()
    }

    /// The bundle dir containerd gives a v2 shim for task `id` in `namespace`.
    pub fn bundle_dir(&self, namespace: &str, id: &str) -> PathBuf {
        self.state_dir()
            .join("io.containerd.runtime.v2.task")
            .join(namespace)
            .join(id)
    }

    /// The PATH containerd runs with.
    pub fn path_env(&self) -> &str {
        &self.path_env
    }

    /// A private scratch dir that lives as long as this containerd.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// Pids of the shims serving this containerd (any runtime).
    pub fn shim_pids(&self) -> Vec<i32> {
        cleanup::shims_of(&self.address())
    }

    /// Everything containerd printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("containerd.log")
    }

    /// A `ctr` bound to this containerd and a fresh namespace no other test uses.
    pub fn ctr(&self) -> Ctr {
        let ns = unique_id("dmt");
        self.namespaces.lock().unwrap().push(ns.clone());
        Ctr::with_bin(self.address(), ns, self.version.bin("ctr"))
    }

    /// A `ctr` in namespace `ns`, which other containerds may use too (CRI's `k8s.io`): on drop
    /// this containerd's tasks and containers there are removed, the namespace's cgroups and
    /// runtime state roots are left to their other users.
    pub fn ctr_in(&self, ns: &str) -> Ctr {
        let mut shared = self.shared_namespaces.lock().unwrap();
        if shared.is_empty() {
            *SHARED_USERS.lock().unwrap() += 1;
        }
        shared.push(ns.to_owned());
        Ctr::with_bin(self.address(), ns.to_owned(), self.version.bin("ctr"))
    }

    /// The busybox image as an OCI layout tar, built once per containerd.
    pub fn busybox_tar(&self) -> &Path {
        self.image_tar.get_or_init(|| {
            let tar = self.dir.path().join("busybox-oci.tar");
            crate::image::write_busybox_image_tar(&tar, &self.dir.path().join("image-build"));
            tar
        })
    }
}

/// Live containerds of this process that use a shared namespace (test binaries run one at a
/// time, so this process is the only one using it).
static SHARED_USERS: Mutex<usize> = Mutex::new(0);

impl Drop for Containerd {
    fn drop(&mut self) {
        let namespaces = std::mem::take(&mut *self.namespaces.lock().unwrap());
        let shared = std::mem::take(&mut *self.shared_namespaces.lock().unwrap());
        let running = self
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)));
        if running {
            for ns in namespaces.iter().chain(&shared) {
                Ctr::with_bin(self.address(), ns.clone(), self.version.bin("ctr"))
                    .remove_everything();
            }
        }
        self.stop();
        cleanup::kill_shims_of(&self.address());
        for ns in &namespaces {
            cleanup::remove_namespace_leftovers(ns);
        }
        if !shared.is_empty() {
            // The last containerd of this process in a shared namespace removes its parent
            // cgroups (the runtime removes only the directories it made for each container).
            let mut users = SHARED_USERS.lock().unwrap();
            *users -= 1;
            if *users == 0 {
                for ns in &shared {
                    cleanup::remove_empty_top_cgroups(ns);
                }
            }
        }
        cleanup::unmount_below(self.dir.path());
        if !self.root.starts_with(self.dir.path()) {
            // A caller-made root (ContainerdOptions::root) is outside the private dir.
            cleanup::unmount_below(&self.root);
        }
    }
}

/// containerd 1.6 and 1.7 both read config version 2 (version 3 is containerd 2.0's).
fn render_config(d: &Path, root: &Path, opts: &ContainerdOptions) -> String {
    let disabled: Vec<String> = opts
        .disabled_plugins
        .iter()
        .map(|p| format!("{p:?}"))
        .collect();
    format!(
        r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = [{disabled}]

[grpc]
  address = "{grpc}"

[ttrpc]
  address = "{ttrpc}"

[debug]
  address = ""
  level = "debug"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"

{extra}
"#,
        root = root.display(),
        state = d.join("state").display(),
        disabled = disabled.join(", "),
        grpc = d.join("grpc.sock").display(),
        ttrpc = d.join("ttrpc.sock").display(),
        opt = d.join("opt").display(),
        extra = opts.extra_toml,
    )
}
