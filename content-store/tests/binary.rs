//! The `dm-content` binary as an operator and containerd start it.

mod common;

use common::{connect, wait_for_socket, WriteSession};
use dm_content::api::InfoRequest;
use dm_content::Digest;
use dm_testkit::TempDir;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn dm_content(root: &Path, sock: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dm-content"));
    c.arg("--root")
        .arg(root)
        .arg("--address")
        .arg(sock)
        .arg("--log-level")
        .arg("debug");
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Waits (bounded) for `child` to exit and collects its output.
fn wait_exit(mut child: Child, within: Duration) -> Output {
    let deadline = Instant::now() + within;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "dm-content did not exit within {within:?}: {:?}",
                child.wait_with_output()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A server we started; killed if the test fails before it stops the server itself.
struct Running(Option<Child>);

impl Running {
    fn spawn(mut cmd: Command) -> Running {
        Running(Some(cmd.spawn().unwrap()))
    }

    fn child(&self) -> &Child {
        self.0.as_ref().unwrap()
    }

    fn into_child(mut self) -> Child {
        self.0.take().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

#[tokio::test]
async fn serves_until_sigterm_or_sigint_then_exits_cleanly_keeping_blobs() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let dir = TempDir::new("dm-content-bin");
        let (root, sock) = (dir.path().join("root"), dir.path().join("run/content.sock"));
        let server = Running::spawn(dm_content(&root, &sock));
        wait_for_socket(&sock, Duration::from_secs(20));
        let mut client = connect(&sock).await;
        let data = b"{\"schemaVersion\":2}";
        let d = Digest::of(data).to_string();
        let (mut w, _) = WriteSession::open(&mut client, "manifest", data.len() as i64, &d)
            .await
            .unwrap();
        w.write(0, data).await.unwrap();
        w.commit(data.len() as i64, data.len() as i64, &d, &[])
            .await
            .unwrap();
        let info = client
            .info(InfoRequest { digest: d.clone() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(info.info.unwrap().size, data.len() as i64);
        drop((w, client));

        signal(server.child(), sig);
        // Waiting off the test's runtime lets it answer the server's GOAWAY.
        let child = server.into_child();
        let out = tokio::task::spawn_blocking(move || wait_exit(child, Duration::from_secs(20)))
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "signal {sig}: {:?} {stderr}",
            out.status
        );
        assert!(stderr.contains("shutting down"), "{stderr}");
        assert!(
            !stderr.contains("still open"),
            "shutdown was not graceful: {stderr}"
        );
        assert!(!sock.exists(), "socket left behind");
        let blob = root
            .join("blobs/sha256")
            .join(d.strip_prefix("sha256:").unwrap());
        assert_eq!(std::fs::read(blob).unwrap(), data);
    }
}

#[test]
fn bad_root_or_busy_root_is_refused_with_a_clear_error() {
    let dir = TempDir::new("dm-content-bin");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    let sock = dir.path().join("c.sock");
    let out = dm_content(&file, &sock).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "content root {}: exists and is not a directory",
            file.display()
        )),
        "{stderr}"
    );
    assert!(!sock.exists());

    // A second server on a root in use is refused; the first keeps serving.
    let root = dir.path().join("root");
    let first = Running::spawn(dm_content(&root, &sock));
    wait_for_socket(&sock, Duration::from_secs(20));
    let out = dm_content(&root, &dir.path().join("other.sock"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("in use by another content store process"),
        "{stderr}"
    );
    // So is a second server on a socket in use.
    let out = dm_content(&dir.path().join("root2"), &sock)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("another server is listening on it"),
        "{stderr}"
    );
    assert!(std::os::unix::net::UnixStream::connect(&sock).is_ok());
    signal(first.child(), libc::SIGTERM);
    assert!(wait_exit(first.into_child(), Duration::from_secs(20))
        .status
        .success());
}

#[test]
fn help_documents_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_dm-content"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--root <DIR>",
        "--address <SOCKET>",
        "--log-level <LEVEL>",
        "--version",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_dm-content"))
        .args(["--log-level", "loud"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--log-level"));
}
