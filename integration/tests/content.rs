//! containerd 1.6 with its built-in content store disabled and dm-content as its content proxy
//! plugin: images are imported, read, listed and removed through dm-content, and dm-content
//! survives a kill -9 in the middle of a write.

use dm_content::Digest;
use dm_testkit::{output, require_cmd, require_root, unique_id, workspace_bin, Output, TempDir};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn required(test: &str) -> bool {
    require_root(test)
        && ["containerd", "ctr", "umoci", "tar"]
            .iter()
            .all(|c| require_cmd(c))
}

/// Polls `f` until it returns `Some` or `within` passes.
fn poll<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `sig` to a process we started and waits (bounded) for it, killing it if it lingers.
fn stop(child: &mut Child, sig: i32) {
    // SAFETY: kill(2) on the pid of our own unreaped child.
    unsafe { libc::kill(child.id() as i32, sig) };
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A private containerd whose content store is a private dm-content.
struct Stack {
    dir: TempDir,
    ns: String,
    content: Option<Child>,
    containerd: Option<Child>,
}

impl Stack {
    fn start() -> Stack {
        let mut s = Stack {
            dir: TempDir::new("dm-ctd"),
            ns: unique_id("dmc"),
            content: None,
            containerd: None,
        };
        s.start_content();
        let d = s.dir.path().display().to_string();
        let config = format!(
            r#"version = 2
root = "{d}/containerd-root"
state = "{d}/containerd-state"
disabled_plugins = ["io.containerd.content.v1.content", "io.containerd.grpc.v1.cri"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
[proxy_plugins.dockermind-content]
  type = "content"
  address = "{d}/content.sock"
"#
        );
        std::fs::write(s.dir.path().join("config.toml"), config).unwrap();
        let log = std::fs::File::create(s.dir.path().join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(s.dir.path().join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        s.containerd = Some(child);
        poll("containerd to serve", Duration::from_secs(30), || {
            (s.ctr(&["version"]).code == 0).then_some(())
        });
        s
    }

    fn content_root(&self) -> PathBuf {
        self.dir.path().join("content-root")
    }

    fn start_content(&mut self) {
        let sock = self.dir.path().join("content.sock");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("dm-content.log"))
            .unwrap();
        let child = Command::new(workspace_bin("dm-content"))
            .arg("--root")
            .arg(self.content_root())
            .arg("--address")
            .arg(&sock)
            .args(["--log-level", "debug"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.content = Some(child);
        poll("dm-content to listen", Duration::from_secs(30), || {
            std::os::unix::net::UnixStream::connect(&sock).ok()
        });
    }

    fn ctr_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address")
            .arg(self.dir.path().join("containerd.sock"))
            .arg("--namespace")
            .arg(&self.ns)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    fn ctr(&self, args: &[&str]) -> Output {
        output(self.ctr_cmd(args))
    }

    /// Digests containerd lists in this namespace.
    fn content_ls(&self) -> BTreeSet<String> {
        let out = self.ctr(&["content", "ls", "--quiet"]).ok();
        out.stdout.lines().map(str::to_owned).collect()
    }

    /// Blob files in dm-content's layout, each checked against its name.
    fn stored_blobs(&self) -> BTreeSet<String> {
        let dir = self.content_root().join("blobs/sha256");
        let mut out = BTreeSet::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let name = format!("sha256:{}", path.file_name().unwrap().to_string_lossy());
            let actual = Digest::of(&std::fs::read(&path).unwrap()).to_string();
            assert_eq!(
                actual,
                name,
                "blob {} does not match its digest",
                path.display()
            );
            out.insert(name);
        }
        out
    }

    fn logs(&self) -> String {
        let read = |n: &str| std::fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        format!(
            "--- dm-content.log\n{}\n--- containerd.log (tail)\n{}",
            read("dm-content.log"),
            {
                let c = read("containerd.log");
                c.lines()
                    .rev()
                    .take(30)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        )
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(mut c) = self.containerd.take() {
            stop(&mut c, libc::SIGTERM);
        }
        if let Some(mut c) = self.content.take() {
            stop(&mut c, libc::SIGTERM);
        }
    }
}

/// A busybox image as an OCI archive; returns the archive and its layout's blobs by digest.
fn busybox_archive(dir: &Path) -> (PathBuf, BTreeSet<String>) {
    let rootfs = dir.join("rootfs");
    dm_testkit::build_busybox_rootfs(&rootfs);
    let layout = dir.join("layout");
    let image = format!("{}:latest", layout.display());
    let run = |args: &[&str]| {
        output({
            let mut c = Command::new("umoci");
            c.args(args);
            c
        })
        .ok()
    };
    run(&["init", "--layout", layout.to_str().unwrap()]);
    run(&["new", "--image", &image]);
    run(&["insert", "--image", &image, rootfs.to_str().unwrap(), "/"]);
    run(&["config", "--image", &image, "--config.cmd", "/bin/sh"]);
    run(&["gc", "--layout", layout.to_str().unwrap()]);
    let tar = dir.join("busybox.tar");
    output({
        let mut c = Command::new("tar");
        c.arg("-C").arg(&layout).arg("-cf").arg(&tar).arg(".");
        c
    })
    .ok();
    let blobs = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    (tar, blobs)
}

#[test]
fn ctr_import_get_and_rm_go_through_dm_content() {
    if !required("ctr_import_get_and_rm_go_through_dm_content") {
        return;
    }
    let mut stack = Stack::start();
    let work = TempDir::new("dm-img");
    let (tar, layout_blobs) = busybox_archive(work.path());
    let out = stack.ctr(&[
        "image",
        "import",
        "--base-name",
        "docker.io/library/busybox",
        tar.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "import failed: {out:?}\n{}", stack.logs());
    assert!(
        out.stdout
            .contains("unpacking docker.io/library/busybox:latest"),
        "{out:?}"
    );

    // containerd lists the image's blobs (and, until its GC runs, the archive's index), and
    // each is a verified file in dm-content's layout; containerd's own content directory
    // was never made.
    let listed = stack.content_ls();
    assert!(
        listed.is_superset(&layout_blobs),
        "{listed:?}\n{}",
        stack.logs()
    );
    assert!(stack.stored_blobs().is_superset(&listed));
    let listed = layout_blobs;
    assert!(!stack
        .dir
        .path()
        .join("containerd-root/io.containerd.content.v1.content")
        .exists());
    let oci_layout = std::fs::read_to_string(stack.content_root().join("oci-layout")).unwrap();
    assert!(oci_layout.contains("imageLayoutVersion"));

    for d in &listed {
        let out = stack.ctr_cmd(&["content", "get", d]).output().unwrap();
        assert!(
            out.status.success(),
            "content get {d}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want = std::fs::read(work.path().join("layout/blobs/sha256").join(&d[7..])).unwrap();
        assert!(
            out.stdout == want,
            "content get {d} returned different bytes"
        );
    }

    // Bytes changed on disk are caught when a read reaches the blob's end: ctr fails instead
    // of handing out the complete, wrong blob.
    for d in &listed {
        let path = stack.content_root().join("blobs/sha256").join(&d[7..]);
        let good = std::fs::read(&path).unwrap();
        let mut bad = good.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x55;
        std::fs::write(&path, &bad).unwrap();
        let out = stack.ctr_cmd(&["content", "get", d]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "corrupt {d} was served");
        assert!(
            stderr.contains("is corrupt") && stderr.contains("data loss"),
            "{stderr}"
        );
        assert!(
            out.stdout.len() < bad.len(),
            "all {} bytes of corrupt {d} reached the client",
            bad.len()
        );
        std::fs::write(&path, &good).unwrap();
        assert_eq!(stack.ctr(&["content", "get", d]).code, 0);
    }

    // Removing content from containerd removes the blob from dm-content (by containerd's GC).
    let victim = listed
        .iter()
        .max_by_key(|d| {
            std::fs::metadata(stack.content_root().join("blobs/sha256").join(&d[7..]))
                .unwrap()
                .len()
        })
        .unwrap()
        .clone();
    stack.ctr(&["content", "rm", &victim]).ok();
    assert!(!stack.content_ls().contains(&victim));
    poll(
        "containerd's GC to delete the blob in dm-content",
        Duration::from_secs(30),
        || (!stack.stored_blobs().contains(&victim)).then_some(()),
    );
    assert_ne!(stack.ctr(&["content", "get", &victim]).code, 0);

    stack
        .ctr(&["image", "rm", "--sync", "docker.io/library/busybox:latest"])
        .ok();
    poll(
        "every blob to be collected",
        Duration::from_secs(30),
        || stack.stored_blobs().is_empty().then_some(()),
    );

    // SIGTERM with containerd still connected: a clean, prompt exit.
    let mut content = stack.content.take().unwrap();
    stop(&mut content, libc::SIGTERM);
    assert!(content.wait().unwrap().success());
    let log = std::fs::read_to_string(stack.dir.path().join("dm-content.log")).unwrap();
    assert!(
        log.contains("SIGTERM, shutting down") && !log.contains("still open"),
        "{log}"
    );
    assert!(!stack.dir.path().join("content.sock").exists());
}

/// A docker-registry on 127.0.0.1 with its own storage; stopped on drop.
struct Registry {
    child: Child,
    addr: String,
}

impl Registry {
    fn start(dir: &Path) -> Registry {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                dir.join("registry-data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("registry.log")).unwrap())
            .spawn()
            .unwrap();
        poll("docker-registry to listen", Duration::from_secs(30), || {
            std::net::TcpStream::connect(&addr).ok()
        });
        Registry { child, addr }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        stop(&mut self.child, libc::SIGTERM);
    }
}

#[test]
fn ctr_pull_from_a_local_registry_stores_blobs_in_dm_content() {
    let test = "ctr_pull_from_a_local_registry_stores_blobs_in_dm_content";
    if !required(test) || !require_cmd("docker-registry") || !require_cmd("skopeo") {
        return;
    }
    let stack = Stack::start();
    let work = TempDir::new("dm-reg");
    let (tar, layout_blobs) = busybox_archive(work.path());
    let registry = Registry::start(work.path());
    let image = format!("{}/dm/busybox:latest", registry.addr);
    output({
        let mut c = Command::new("skopeo");
        c.args(["--insecure-policy", "copy", "--dest-tls-verify=false"])
            .arg(format!("oci-archive:{}", tar.display()))
            .arg(format!("docker://{image}"));
        c
    })
    .ok();

    let out = stack.ctr(&["image", "pull", "--plain-http", &image]);
    assert_eq!(out.code, 0, "pull failed: {out:?}\n{}", stack.logs());
    let listed = stack.content_ls();
    assert!(
        listed.is_superset(&layout_blobs),
        "{listed:?} vs {layout_blobs:?}\n{}",
        stack.logs()
    );
    assert!(stack.stored_blobs().is_superset(&listed));
    assert!(!stack
        .dir
        .path()
        .join("containerd-root/io.containerd.content.v1.content")
        .exists());
    let images = stack.ctr(&["image", "ls", "--quiet"]).ok();
    assert!(images.stdout.lines().any(|l| l == image), "{images:?}");
}

#[test]
fn kill_9_during_a_write_leaves_a_resumable_ingest_and_no_corrupt_blob() {
    if !required("kill_9_during_a_write_leaves_a_resumable_ingest_and_no_corrupt_blob") {
        return;
    }
    let mut stack = Stack::start();
    let data: Vec<u8> = (0..8_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let digest = Digest::of(&data).to_string();
    let size = data.len().to_string();
    let ingest_args = [
        "content",
        "ingest",
        "--expected-size",
        &size,
        "--expected-digest",
        &digest,
        "big-blob",
    ];

    let mut ctr = stack
        .ctr_cmd(&ingest_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = ctr.stdin.take().unwrap();
    stdin.write_all(&data[..3_000_000]).unwrap();
    let ingest_dir = stack.content_root().join("ingest");
    poll(
        "the write to reach dm-content",
        Duration::from_secs(30),
        || {
            std::fs::read_dir(&ingest_dir)
                .unwrap()
                .flatten()
                .find_map(|e| {
                    let len = std::fs::metadata(e.path().join("data")).ok()?.len();
                    (len > 0).then_some(())
                })
        },
    );

    let mut content = stack.content.take().unwrap();
    content.kill().unwrap();
    content.wait().unwrap();
    // The client fails; its remaining bytes go nowhere.
    let _ = stdin.write_all(&data[3_000_000..]);
    drop(stdin);
    let out = ctr.wait_with_output().unwrap();
    assert!(!out.status.success(), "ingest survived the kill?");
    assert!(
        !stack.stored_blobs().contains(&digest),
        "a blob was committed from a partial write"
    );

    // After a restart the partial ingest is listed with its offset and resumes.
    stack.start_content();
    let active = poll(
        "containerd to reach the restarted dm-content",
        Duration::from_secs(60),
        || {
            let out = stack.ctr(&["content", "active"]);
            (out.code == 0 && out.stdout.contains("big-blob")).then_some(out.stdout)
        },
    );
    assert!(active.contains("big-blob"), "{active}");
    // From a file this time: ctr seeks its input to the ingest's offset.
    let file = stack.dir.path().join("big-blob");
    std::fs::write(&file, &data).unwrap();
    let out = stack
        .ctr_cmd(&ingest_args)
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "resumed ingest failed: {out:?}\n{}",
        stack.logs()
    );
    let log = std::fs::read_to_string(stack.dir.path().join("dm-content.log")).unwrap();
    assert!(
        log.contains("resumed at offset"),
        "the ingest restarted from zero:\n{log}"
    );

    assert_eq!(stack.stored_blobs(), BTreeSet::from([digest.clone()]));
    assert!(
        std::fs::read_dir(&ingest_dir).unwrap().next().is_none(),
        "ingest left behind"
    );
    let got = stack
        .ctr_cmd(&["content", "get", &digest])
        .output()
        .unwrap();
    assert!(got.stdout == data, "content get returned different bytes");
}
