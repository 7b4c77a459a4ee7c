//! The dm-snapshotter binary with a private root and socket, and gRPC channels to it.

use containerd_snapshots::api::snapshots::v1::snapshots_client::SnapshotsClient;
use containerd_snapshots::tonic::transport::{Channel, Endpoint};
use dm_testkit::TempDir;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_dm-snapshotter");

/// A running dm-snapshotter with a private root and socket, killed on drop.
pub struct Server {
    pub dir: TempDir,
    pub child: Child,
}

impl Server {
    /// `dm-snapshotter --root <dir>/root --address <dir>/s.sock`.
    pub fn start() -> Server {
        Server::start_with(Vec::new())
    }

    /// [`Server::start`] with more arguments.
    pub fn start_with(args: Vec<OsString>) -> Server {
        let dir = TempDir::new("snapsvc");
        let child = spawn_with(dir.path(), &args);
        wait_for_socket(&dir.path().join("s.sock"));
        Server { dir, child }
    }

    pub fn sock(&self) -> PathBuf {
        self.dir.path().join("s.sock")
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on `dir` without waiting for its socket.
pub fn spawn(dir: &Path) -> Child {
    spawn_with(dir, &[])
}

fn spawn_with(dir: &Path, args: &[OsString]) -> Child {
    Command::new(BIN)
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--address")
        .arg(dir.join("s.sock"))
        .args(["--log-level", "debug"])
        .args(args)
        .stderr(std::fs::File::create(dir.join("log")).unwrap())
        .spawn()
        .unwrap()
}

/// Polls until something accepts connections on `sock` (20 s at most).
pub fn wait_for_socket(sock: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(sock).is_err() {
        assert!(
            Instant::now() < deadline,
            "dm-snapshotter did not listen on {}",
            sock.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A current-thread tokio runtime for the clients.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A gRPC channel over the unix socket `sock`.
pub async fn channel(sock: &Path) -> Channel {
    let sock = sock.to_owned();
    Endpoint::try_from("http://localhost")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_| {
            tokio::net::UnixStream::connect(sock.clone())
        }))
        .await
        .unwrap()
}

/// A snapshots API client on `sock`.
pub async fn client(sock: &Path) -> SnapshotsClient<Channel> {
    SnapshotsClient::new(channel(sock).await)
}
