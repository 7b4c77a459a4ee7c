//! Our proxy-plugin daemons (dm-content, dm-snapshotter) as containerd tests run them: the
//! workspace binary with a private root, socket and debug log; SIGTERM and reap on Drop.

use crate::cleanup;
use crate::wait::poll;
use dm_testkit::{workspace_bin, TempDir};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running `dm-content` or `dm-snapshotter --root R --address S`.
pub struct ProxyPlugin {
    dir: TempDir,
    bin: &'static str,
    args: Vec<OsString>,
    child: Option<Child>,
}

impl ProxyPlugin {
    /// Starts workspace binary `bin` and waits until its socket accepts connections.
    pub fn start(bin: &'static str) -> ProxyPlugin {
        ProxyPlugin::start_with(bin, Vec::new())
    }

    /// [`start`](Self::start) with more arguments (e.g. dm-snapshotter's `--content-root`).
    pub fn start_with(bin: &'static str, args: Vec<OsString>) -> ProxyPlugin {
        let mut p = ProxyPlugin {
            dir: TempDir::new(bin),
            bin,
            args,
            child: None,
        };
        p.spawn();
        p
    }

    /// Starts it again on the same root and socket (after [`kill9`](Self::kill9) or
    /// [`terminate`](Self::terminate)).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "{} is still running", self.bin);
        self.spawn();
    }

    /// SIGKILL and reap: a crash.
    pub fn kill9(&mut self) {
        let mut c = self.child.take().expect("running");
        c.kill().unwrap();
        c.wait().unwrap();
    }

    /// SIGTERM and its exit status; panics if it has not exited within 15 s.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("running");
        // SAFETY: kill(2) on the pid of our own unreaped child.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!("{} ignored SIGTERM for 15 s", self.bin);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new(workspace_bin(self.bin))
            .arg("--root")
            .arg(self.root())
            .arg("--address")
            .arg(self.socket())
            .args(["--log-level", "debug"])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {} (cargo build -p ...): {e}", self.bin));
        self.child = Some(child);
        let sock = self.socket();
        poll(
            &format!("{} to listen", self.bin),
            Duration::from_secs(30),
            || std::os::unix::net::UnixStream::connect(&sock).ok(),
        );
    }

    /// A private scratch dir that lives as long as this value.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// Its store root.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Its gRPC socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("grpc.sock")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join(format!("{}.log", self.bin))
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The `[proxy_plugins.<name>]` table pointing containerd at it as plugin type `kind`
    /// (`content`, `snapshot`, or `diff` on containerd >= 1.7).
    pub fn containerd_toml(&self, name: &str, kind: &str) -> String {
        format!(
            "[proxy_plugins.{name}]\n  type = \"{kind}\"\n  address = \"{}\"\n",
            self.socket().display()
        )
    }

    /// containerd >= 1.7 config making this dm-snapshotter the differ `name` for its
    /// snapshotter `snapshotter`: a `diff` proxy plugin listed before `walking` in the diff
    /// service's order (ctr --local, CRI pulls), and the differ of the transfer service's
    /// unpacks into `snapshotter` (ctr 1.7's default path; unconfigured, the transfer service
    /// picks one of the matching differs at random). Built-in overlayfs keeps `walking`.
    pub fn containerd_diff_toml(&self, name: &str, snapshotter: &str) -> String {
        let unpack = |sn: &str, differ: &str| {
            format!(
                "[[plugins.\"io.containerd.transfer.v1.local\".unpack_config]]\n  \
                 platform = \"linux/amd64\"\n  snapshotter = \"{sn}\"\n  differ = \"{differ}\"\n"
            )
        };
        format!(
            "{}[plugins.\"io.containerd.service.v1.diff-service\"]\n  default = [\"{name}\", \"walking\"]\n{}{}",
            self.containerd_toml(name, "diff"),
            unpack(snapshotter, name),
            unpack("overlayfs", "walking"),
        )
    }
}

impl Drop for ProxyPlugin {
    fn drop(&mut self) {
        if let Some(c) = self.child.take() {
            cleanup::terminate(c, Duration::from_secs(15));
        }
    }
}
