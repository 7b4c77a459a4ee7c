//! containerd 1.6 with its built-in content store disabled and dm-content as its content proxy
//! plugin: images are imported, read, listed and removed through dm-content, and dm-content
//! survives a kill -9 in the middle of a write.

use dm_integration::{
    poll, write_busybox_image_tar, Containerd, ContainerdOptions, Ctr, ProxyPlugin, Registry,
};
use dm_testkit::{output, require_cmd, require_root, Output, TempDir};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn required(test: &str) -> bool {
    require_root(test) && ["containerd", "ctr", "tar"].iter().all(|c| require_cmd(c))
}

/// sha256 digest of `data` as containerd prints it.
fn digest_of(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// dm-content plus a private containerd (the shared harness) using it as its content store.
/// Fields drop in order: containerd goes before the content store it is connected to.
struct Stack {
    ctr: Ctr,
    containerd: Containerd,
    content: ProxyPlugin,
}

impl Stack {
    fn start() -> Stack {
        let content = ProxyPlugin::start("dm-content");
        let mut opts = ContainerdOptions::default();
        // containerd's metadata store takes exactly one content store.
        opts.disabled_plugins
            .push("io.containerd.content.v1.content".into());
        let opts = opts.extra(&content.containerd_toml("dockermind-content", "content"));
        let containerd = Containerd::start(opts);
        let ctr = containerd.ctr();
        Stack {
            ctr,
            containerd,
            content,
        }
    }

    fn containerd(&self) -> &Containerd {
        &self.containerd
    }

    fn content_root(&self) -> PathBuf {
        self.content.root()
    }

    fn ctr(&self, args: &[&str]) -> Output {
        self.ctr.run(args)
    }

    /// Digests containerd lists in this namespace.
    fn content_ls(&self) -> BTreeSet<String> {
        let out = self.ctr.ok(&["content", "ls", "--quiet"]);
        out.stdout.lines().map(str::to_owned).collect()
    }

    /// Blob files in dm-content's layout, each checked against its name.
    fn stored_blobs(&self) -> BTreeSet<String> {
        let dir = self.content_root().join("blobs/sha256");
        let mut out = BTreeSet::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let name = format!("sha256:{}", path.file_name().unwrap().to_string_lossy());
            // containerd's GC may delete a blob between the listing and the read.
            let data = match std::fs::read(&path) {
                Ok(d) => d,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => panic!("read {}: {e}", path.display()),
            };
            let actual = digest_of(&data);
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
        let ctd = self.containerd().log();
        let tail: Vec<&str> = ctd.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "--- dm-content.log\n{}\n--- containerd.log (tail)\n{}",
            self.content.log(),
            tail.join("\n")
        )
    }
}

/// The harness's busybox image tar, unpacked beside it; returns the tar, the unpacked layout
/// dir and the layout's blob digests.
fn busybox_archive(dir: &Path) -> (PathBuf, PathBuf, BTreeSet<String>) {
    let tar = dir.join("busybox.tar");
    write_busybox_image_tar(&tar, &dir.join("build"));
    let layout = dir.join("layout");
    std::fs::create_dir_all(&layout).unwrap();
    output({
        let mut c = Command::new("tar");
        c.arg("-C").arg(&layout).arg("-xf").arg(&tar);
        c
    })
    .ok();
    let blobs = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    (tar, layout, blobs)
}

#[test]
fn ctr_import_get_and_rm_go_through_dm_content() {
    if !required("ctr_import_get_and_rm_go_through_dm_content") {
        return;
    }
    let mut stack = Stack::start();
    let work = TempDir::new("dm-img");
    let (tar, layout, layout_blobs) = busybox_archive(work.path());
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
    // Only the image's own blobs are checked on disk: the archive's index is unreferenced,
    // so containerd's GC may delete it between the listing and the read (a CI flake).
    let stored = stack.stored_blobs();
    assert!(
        stored.is_superset(&layout_blobs),
        "image blobs {layout_blobs:?} not all stored: {stored:?}"
    );
    let listed = layout_blobs;
    assert!(!stack
        .containerd()
        .root_dir()
        .join("io.containerd.content.v1.content")
        .exists());
    let oci_layout = std::fs::read_to_string(stack.content_root().join("oci-layout")).unwrap();
    assert!(oci_layout.contains("imageLayoutVersion"));

    for d in &listed {
        let out = stack.ctr.cmd(&["content", "get", d]).output().unwrap();
        assert!(
            out.status.success(),
            "content get {d}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want = std::fs::read(layout.join("blobs/sha256").join(&d[7..])).unwrap();
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
        let out = stack.ctr.cmd(&["content", "get", d]).output().unwrap();
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
    assert!(stack.content.terminate().success());
    let log = stack.content.log();
    assert!(
        log.contains("SIGTERM, shutting down") && !log.contains("still open"),
        "{log}"
    );
    assert!(!stack.content.socket().exists());
}

#[test]
fn ctr_pull_from_a_local_registry_stores_blobs_in_dm_content() {
    let test = "ctr_pull_from_a_local_registry_stores_blobs_in_dm_content";
    if !required(test) || !require_cmd("docker-registry") || !require_cmd("skopeo") {
        return;
    }
    let stack = Stack::start();
    let work = TempDir::new("dm-reg");
    let (tar, _, layout_blobs) = busybox_archive(work.path());
    let registry = Registry::start(work.path());
    let image = registry.push_oci_archive(&tar, "dm/busybox:latest");

    let out = stack.ctr(&["image", "pull", "--plain-http", &image]);
    assert_eq!(out.code, 0, "pull failed: {out:?}\n{}", stack.logs());
    // The registry recompresses the layer, so the manifest and layer digests are the
    // registry's; the config is the archive's.
    let images = stack.ctr(&["image", "ls"]).ok();
    let manifest = images
        .stdout
        .lines()
        .find_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.first() == Some(&image.as_str())).then(|| cols[2].to_owned())
        })
        .unwrap_or_else(|| panic!("{image} not listed: {images:?}"));
    let listed = stack.content_ls();
    assert!(listed.contains(&manifest), "{listed:?}\n{}", stack.logs());
    assert_eq!(
        listed.len(),
        layout_blobs.len(),
        "{listed:?} vs {layout_blobs:?}"
    );
    assert!(
        listed.intersection(&layout_blobs).count() >= 1,
        "config missing: {listed:?}"
    );
    assert!(stack.stored_blobs().is_superset(&listed));
    assert!(!stack
        .containerd()
        .root_dir()
        .join("io.containerd.content.v1.content")
        .exists());
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
    let digest = digest_of(&data);
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
        .ctr
        .cmd(&ingest_args)
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

    stack.content.kill9();
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
    stack.content.restart();
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
    let file = stack.content.scratch().join("big-blob");
    std::fs::write(&file, &data).unwrap();
    let out = stack
        .ctr
        .cmd(&ingest_args)
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "resumed ingest failed: {out:?}\n{}",
        stack.logs()
    );
    let log = stack.content.log();
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
        .ctr
        .cmd(&["content", "get", &digest])
        .output()
        .unwrap();
    assert!(got.stdout == data, "content get returned different bytes");
}
