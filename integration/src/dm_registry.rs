//! Our registry server as the real-client tests run it: the workspace's `dm-registry` on
//! 127.0.0.1 at a port it picks itself (it prints the address), with a private root and log;
//! killed and reaped on Drop.

use crate::cleanup;
use dm_testkit::{output, workspace_bin, Output, TempDir};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running dm-registry.
pub struct DmRegistry {
    dir: TempDir,
    child: Option<Child>,
    /// `127.0.0.1:<port>`, the host part of image references it serves.
    pub addr: String,
}

impl DmRegistry {
    /// Starts `dm-registry --root <private> --listen 127.0.0.1:0 <extra>`.
    pub fn start(extra: &[&str]) -> DmRegistry {
        let dir = TempDir::new("dm-registry");
        let mut child = Command::new(workspace_bin("dm-registry"))
            .arg("--root")
            .arg(dir.path().join("root"))
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn dm-registry: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let reg = DmRegistry {
            child: Some(child),
            addr: line
                .trim()
                .strip_prefix("dm-registry listening on ")
                .unwrap_or_default()
                .to_owned(),
            dir,
        };
        assert!(
            !reg.addr.is_empty(),
            "dm-registry did not start:\n{}",
            reg.log()
        );
        reg
    }

    /// Its log (access lines and errors).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Its root directory.
    pub fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("root")
    }

    /// A scratch dir removed with the registry.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// Pushes the busybox test image (Cmd `sh`) as `<addr>/busybox:latest`; returns
    /// `<addr>/busybox`.
    pub fn push_busybox(&self) -> String {
        let work = self.dir.path().join("busybox");
        std::fs::create_dir_all(&work).expect("busybox scratch dir");
        let tar = work.join("busybox.tar");
        crate::write_busybox_image_tar(&tar, &work);
        let image = format!("{}/busybox", self.addr);
        let o = self.skopeo_copy(
            &["--dest-tls-verify=false"],
            &format!("oci-archive:{}", tar.display()),
            &format!("docker://{image}:latest"),
        );
        assert_eq!(o.code, 0, "push busybox: {}\n{}", o.stderr, self.log());
        let _ = std::fs::remove_dir_all(&work);
        image
    }

    /// `skopeo --insecure-policy copy <args>` without TLS verification to run to its end.
    pub fn skopeo_copy(&self, args: &[&str], from: &str, to: &str) -> Output {
        let mut c = Command::new("skopeo");
        c.args(["--insecure-policy", "copy"])
            .args(args)
            .args([from, to])
            .stdin(Stdio::null());
        output(c)
    }
}

impl Drop for DmRegistry {
    fn drop(&mut self) {
        if let Some(c) = self.child.take() {
            cleanup::terminate(c, Duration::from_secs(15));
        }
    }
}
